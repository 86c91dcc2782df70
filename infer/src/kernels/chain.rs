//! Dense chains: consecutive gemvs, each reading the previous one's output, optionally
//! followed by the sum of squares of the last output (the Σμ² score of a VAE encoder), run as
//! one step.
//!
//! A chain has exactly the memory effects of its layers run one after the other as separate
//! gemvs and a `SumSquares` reduction: every layer still writes its output to the arena, with
//! the same bits ([`Kernel::gemv`], `kernels::reduce`). What it saves is the dispatch between
//! steps, and on x86 part of the round trips through memory on the single-event critical
//! path: the AVX-512 variant computes the score from the last layer's output in registers
//! ([`super::x86_chain`]). The SIMD variants read every layer's parameters from one buffer
//! ([`Chain::params`]), so their layout does not depend on the host's allocator. The batch
//! form runs the whole chain on a tile of events before the next tile, so the tile's
//! intermediates stay in the L1 cache, and computes the scores of the tile with vector code.

use super::{Kernel, LANES, SLACK, align_weights, aligned, split_io, sum4};

/// One layer: `arena[dst..][..np] = arena[src..][..k] · W + b` (then ReLU), `np = b.len()`,
/// `W` prepacked `[k, np]` with [`SLACK`] floats of room (read through [`aligned`]). A valid
/// [`Chain`] moves `w` into its parameter buffer (read it through [`Chain::params`]).
/// Not `Clone`: a copy of `w` would not keep the 64-byte alignment its data was placed for.
#[derive(Debug)]
pub(crate) struct Dense {
    pub(crate) src: usize,
    pub(crate) k: usize,
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
    pub(crate) relu: bool,
    pub(crate) dst: usize,
}

impl Dense {
    /// The weights, `k · np` floats (the aligned part of `w`), before a chain takes them.
    fn weights(&self) -> &[f32] {
        aligned(&self.w, self.k * self.b.len())
    }
}

/// `arena[dst] = Σ arena[src..][..len]²`, summed as `kernels::reduce` does
/// (`ReduceOp::SumSquares`: four partial sums, element `i` into sum `i mod 4`, then
/// `(s0 + s1) + (s2 + s3)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SumSq {
    pub(crate) src: usize,
    pub(crate) len: usize,
    pub(crate) dst: usize,
}

/// The layers of a chain and its optional score head. Immutable once built: the SIMD
/// variants rely on the [`extent`](Self::extent) computed here.
#[derive(Debug)]
pub(crate) struct Chain {
    layers: Vec<Dense>,
    /// Every layer's weights then bias, each on its own cache lines with a line between
    /// them (see [`Chain::params`]); `(weights, bias)` offsets per layer in `params`.
    params: Vec<f32>,
    offsets: Vec<(usize, usize)>,
    head: Option<SumSq>,
    extent: Option<usize>,
}

impl Chain {
    pub(crate) fn new(mut layers: Vec<Dense>, head: Option<SumSq>) -> Chain {
        let extent = extent(&layers, head);
        let (params, mut offsets) = pack_params(&layers);
        // Where the aligned part starts, once: moving the `Vec` into the chain keeps its heap
        // buffer where it is.
        let base = params.as_ptr().align_offset(64).min(SLACK);
        for (w, b) in &mut offsets {
            *w += base;
            *b += base;
        }
        if extent.is_some() {
            // The weights live in `params` only (a chain never runs without its extent).
            for l in &mut layers {
                l.w = Vec::new();
            }
        }
        Chain {
            layers,
            params,
            offsets,
            head,
            extent,
        }
    }

    pub(crate) fn layers(&self) -> &[Dense] {
        &self.layers
    }

    /// Layer `i`'s weights (`k · np` floats) and bias (`np`) from the chain's one parameter
    /// buffer, where they lie in layer order on 64-byte boundaries, one free cache line
    /// between neighbours. Every chain kernel reads them here; a valid chain keeps no other
    /// copy of the weights. Read from the layers' own buffers, wherever the host's allocator
    /// had put them, the AXOL1TL-v1 single event took 64 ns under glibc's malloc and 78 under
    /// mimalloc (same code); in one buffer the layout no longer depends on the allocator.
    #[inline]
    pub(crate) fn params(&self, i: usize) -> Option<(&[f32], &[f32])> {
        let l = self.layers.get(i)?;
        let &(wo, bo) = self.offsets.get(i)?;
        let np = l.b.len();
        let w = self.params.get(wo..wo + l.k * np)?;
        let b = self.params.get(bo..bo + np)?;
        Some((w, b))
    }

    pub(crate) fn head(&self) -> Option<SumSq> {
        self.head
    }

    /// The layers, their weights back in place, and the head (to rebuild or change them).
    #[cfg(test)]
    pub(crate) fn into_parts(self) -> (Vec<Dense>, Option<SumSq>) {
        let weights: Vec<Vec<f32>> = (0..self.layers.len())
            .map(|i| self.params(i).map(|(w, _)| super::align_weights(w)))
            .collect::<Option<_>>()
            .unwrap_or_default();
        let mut layers = self.layers;
        if self.extent.is_some() {
            for (l, w) in layers.iter_mut().zip(weights) {
                l.w = w;
            }
        }
        (layers, self.head)
    }

    /// One past the last arena float the chain reads or writes, when every layer has a valid
    /// shape and reads a view disjoint from the one it writes (and the head likewise); `None`
    /// otherwise.
    #[inline]
    pub(crate) fn extent(&self) -> Option<usize> {
        self.extent
    }
}

/// The buffer of [`Chain::params`] ([`SLACK`] floats of room to start on a cache line) and
/// each layer's offsets in it.
fn pack_params(layers: &[Dense]) -> (Vec<f32>, Vec<(usize, usize)>) {
    let mut flat = Vec::new();
    let mut offsets = Vec::with_capacity(layers.len());
    let mut put = |v: &[f32]| {
        let at = flat.len();
        flat.extend_from_slice(v);
        // Next segment: a cache line boundary, one line further.
        flat.resize(flat.len().next_multiple_of(LANES) + LANES, 0.0);
        at
    };
    for l in layers {
        let w = put(l.weights());
        let b = put(&l.b);
        offsets.push((w, b));
    }
    (align_weights(&flat), offsets)
}

fn extent(layers: &[Dense], head: Option<SumSq>) -> Option<usize> {
    let mut end = 0usize;
    for l in layers {
        let np = l.b.len();
        let need = l.k.checked_mul(np)?;
        let fits = l.w.len() == need || l.w.len() == need.checked_add(SLACK)?;
        if np == 0 || !np.is_multiple_of(LANES) || l.k == 0 || !fits {
            return None;
        }
        let (se, de) = (l.src.checked_add(l.k)?, l.dst.checked_add(np)?);
        if !(se <= l.dst || de <= l.src) {
            return None;
        }
        end = end.max(se).max(de);
    }
    if let Some(h) = head {
        let se = h.src.checked_add(h.len)?;
        if (h.src..se).contains(&h.dst) {
            return None;
        }
        end = end.max(se).max(h.dst.checked_add(1)?);
    }
    Some(end)
}

/// What [`Kernel::chain_from`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChainRun {
    /// A view did not fit the arena, a layer's shape was invalid or `input` was shorter than
    /// the first layer's width: nothing was written.
    Refused,
    /// The chain ran. `input_finite` says that every float of `input` was proven finite on
    /// the way: the first layer read all of them, and its first pre-activation (before ReLU)
    /// was finite. A NaN or infinite input `x_i` makes every product `x_i · w` NaN or infinite,
    /// whatever the weight (`∞ · 0` is NaN), and a sum with one such term stays NaN or
    /// infinite, so every pre-activation would be. `false` proves nothing: an overflow gives
    /// it too, and the portable kernel (or a first layer without an inline form) never
    /// looks. It spares the single-event path a separate scan of the event (5 ns of 62 on
    /// the AXOL1TL-v1 size with AVX-512).
    Ran { input_finite: bool },
}

impl Kernel {
    /// Runs the chain on one event's arena (without its head unless `head`: what the matrix
    /// products alone cost, for `bead bench`). Returns `false` (and writes nothing) when the
    /// chain's views do not fit the arena or a layer's shape is invalid ([`Chain::extent`]).
    pub(crate) fn chain(self, arena: &mut [f32], c: &Chain, head: bool) -> bool {
        self.chain_from(arena, None, c, head) != ChainRun::Refused
    }

    /// [`chain`](Self::chain), the first layer reading `input` (its `k` floats) instead of the
    /// arena when given: the caller's event needs no copy, and the first loads do not wait for
    /// the copy's stores. Refused also when `input` is shorter than `k`; proves `input`
    /// finite only when it is exactly `k` floats long.
    #[allow(unsafe_code)]
    pub(crate) fn chain_from(
        self,
        arena: &mut [f32],
        input: Option<&[f32]>,
        c: &Chain,
        head: bool,
    ) -> ChainRun {
        let k0 = c.layers().first().map_or(0, |l| l.k);
        if c.extent().is_none_or(|e| e > arena.len()) || input.is_some_and(|x| x.len() < k0) {
            return ChainRun::Refused;
        }
        let first_finite = match self.0 {
            super::Isa::Scalar => {
                chain_portable_from(arena, c, input, head);
                false
            }
            // Safety: `extent` checked every view against the arena (and each layer's shape);
            // the pointer comes from the one `&mut` borrow, `input` (a shared borrow, so not
            // the arena) holds `k0` floats; avx2 and fma were detected.
            #[cfg(target_arch = "x86_64")]
            super::Isa::Avx2Fma => unsafe {
                let x = input.map(<[f32]>::as_ptr);
                super::x86_chain::chain_avx2(arena.as_mut_ptr(), x, c, head)
            },
            // Safety: as above, with avx512f detected.
            #[cfg(target_arch = "x86_64")]
            super::Isa::Avx512 => unsafe {
                let x = input.map(<[f32]>::as_ptr);
                super::x86_chain::chain_avx512(arena.as_mut_ptr(), x, c, head)
            },
        };
        ChainRun::Ran {
            input_finite: first_finite && input.is_some_and(|x| x.len() == k0),
        }
    }

    /// The elementwise `ops` of `event` into `arena[dst ..][.. event.len()]`, then the chain
    /// ([`map`](Self::map) and [`chain`](Self::chain), the same bits), in one call on x86.
    /// `None` (and nothing written) when an op does not fit `event`, the map's output leaves
    /// the arena or the chain does not fit it; otherwise whether every float of `event` is
    /// finite.
    #[allow(unsafe_code)]
    pub(crate) fn map_chain(
        self,
        ops: &[super::MapOp],
        event: &[f32],
        arena: &mut [f32],
        dst: usize,
        c: &Chain,
    ) -> Option<bool> {
        let n = event.len();
        let fits = ops.iter().all(|o| o.fits(n))
            && dst.checked_add(n).is_some_and(|end| end <= arena.len())
            && c.extent().is_some_and(|e| e <= arena.len());
        if !fits {
            return None;
        }
        Some(match self.0 {
            super::Isa::Scalar => {
                let finite = arena
                    .get_mut(dst..dst + n)
                    .and_then(|y| self.map_checked(ops, event, y));
                chain_portable_from(arena, c, None, true);
                finite == Some(true)
            }
            // Safety: `fits` checked the ops, the map's output and the chain's views against
            // the arena; the pointer comes from the one `&mut` borrow, `event` (a shared
            // borrow) is not in it; avx2 and fma were detected.
            #[cfg(target_arch = "x86_64")]
            super::Isa::Avx2Fma => unsafe {
                super::x86_chain::map_chain_avx2(ops, event, arena.as_mut_ptr(), dst, c)
            },
            // Safety: as above, with avx512f detected.
            #[cfg(target_arch = "x86_64")]
            super::Isa::Avx512 => unsafe {
                super::x86_chain::map_chain_avx512(ops, event, arena.as_mut_ptr(), dst, c)
            },
        })
    }

    /// [`chain`](Self::chain) on `n` events of one arena, event `e`'s arena starting at
    /// `e·stride`; every event gets the same bits as [`chain`](Self::chain) on it alone.
    /// With `input`, the first layer reads event `e`'s input from `input[e·k..][..k]` (`k` its
    /// input width) instead of from the arena, which is then not written there (the caller's
    /// rows need no copy). Returns `false` (and writes nothing) when a view leaves a row or
    /// the arena, or `input` is shorter than `n·k`.
    #[allow(unsafe_code)]
    pub(crate) fn chain_rows(
        self,
        arena: &mut [f32],
        stride: usize,
        n: usize,
        c: &Chain,
        input: Option<&[f32]>,
    ) -> bool {
        let Some(end) = c.extent() else {
            return false;
        };
        let k0 = c.layers().first().map_or(0, |l| l.k);
        let input_ok = input.is_none_or(|x| n.checked_mul(k0).is_some_and(|len| len <= x.len()));
        if !super::rows_fit(arena.len(), stride, n, end) || !input_ok {
            return n == 0;
        }
        match self.0 {
            super::Isa::Scalar => {
                let rows = arena.chunks_mut(stride).take(n);
                match input {
                    Some(x) => {
                        for (row, x) in rows.zip(x.chunks_exact(k0.max(1))) {
                            chain_portable_from(row, c, Some(x), true);
                        }
                    }
                    None => rows.for_each(|row| chain_portable_from(row, c, None, true)),
                }
            }
            // Safety: every event's views lie in its own `stride` floats (`end <= stride`),
            // inside the arena (`needed`); the pointer comes from the one `&mut` borrow, and
            // `input` (a shared borrow, so not the arena) holds `n·k0` floats; avx2 and fma
            // were detected.
            #[cfg(target_arch = "x86_64")]
            super::Isa::Avx2Fma => unsafe {
                let x = input.map(<[f32]>::as_ptr);
                super::x86_chain::chain_rows_avx2(arena.as_mut_ptr(), stride, n, c, x);
            },
            // Safety: as above, with avx512f detected.
            #[cfg(target_arch = "x86_64")]
            super::Isa::Avx512 => unsafe {
                let x = input.map(<[f32]>::as_ptr);
                super::x86_chain::chain_rows_avx512(arena.as_mut_ptr(), stride, n, c, x);
            },
        }
        true
    }
}

/// The portable chain: each layer with the portable gemv (the first reading `input` instead
/// of the arena when given), then the head (if `head`).
fn chain_portable_from(arena: &mut [f32], c: &Chain, input: Option<&[f32]>, head: bool) {
    for (i, l) in c.layers().iter().enumerate() {
        let np = l.b.len();
        let Some((w, b)) = c.params(i) else {
            return;
        };
        match input {
            Some(x) if i == 0 => {
                if let (Some(x), Some(y)) = (x.get(..l.k), arena.get_mut(l.dst..l.dst + np)) {
                    super::gemv_portable(x, w, b, y, l.relu);
                }
            }
            _ => {
                if let Some((x, y)) = split_io(arena, l.src, l.k, l.dst, np) {
                    super::gemv_portable(x, w, b, y, l.relu);
                }
            }
        }
    }
    if let Some(h) = c.head().filter(|_| head) {
        let s = arena
            .get(h.src..h.src + h.len)
            .map_or(f32::NAN, |r| sum4(r, |v| v * v));
        if let Some(d) = arena.get_mut(h.dst) {
            *d = s;
        }
    }
}

#[cfg(test)]
#[path = "tests_chain.rs"]
mod tests;
