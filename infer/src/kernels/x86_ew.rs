//! AVX-512F and AVX2 fused elementwise chains ([`super::elementwise`]): 16 (or 8) elements of
//! the row are loaded once, go through every operation of the chain in registers, and are stored
//! once. The row's tail is handled with masked loads and stores, so rows of any length take
//! whole-vector passes.
//!
//! `Min`/`Max` follow [`super::BinOp::apply`]: `max(a, b) = b > a || b is NaN ? b : a`.
//! `maxps(b, a)` computes `b > a ? b : a`, which is NaN when `a` is NaN; a blend adds the case
//! of a NaN `b`, skipped when `b` is a constant known to hold no NaN.

use std::arch::x86_64::*;

use super::elementwise::MapOp;
use super::{BinOp, UnaryOp};

/// Vectors per block: every op of the chain is dispatched once per block and applied to up to
/// four independent vectors (64 floats with AVX-512: a whole trigger-model row).
const BLOCK: usize = 4;

/// With `CHECK`, also returns whether every float of `src` is finite, looked at as it is
/// loaded (`false` without `CHECK`).
///
/// Safety: the CPU supports avx512f; `src.len() == dst.len()` and every op [`MapOp::fits`]
/// that length.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn map_avx512<const CHECK: bool>(
    ops: &[MapOp],
    src: &[f32],
    dst: &mut [f32],
) -> bool {
    const V: usize = 16;
    // Lanes of `src` found NaN or infinite (`x - x` is NaN exactly for those).
    let mut bad: __mmask16 = 0;
    let n = src.len();
    let sp = src.as_ptr();
    let dp = dst.as_mut_ptr();
    let mut i = 0;
    while i < n {
        let masks: [__mmask16; BLOCK] = std::array::from_fn(|q| {
            let rem = n.saturating_sub(i + q * V);
            if rem >= V { 0xffff } else { (1u16 << rem) - 1 }
        });
        // SAFETY: lanes at or beyond `n` are masked off (masked loads and stores neither read
        // nor write them, whatever the address), the others lie in `src`, `dst` and every `c`
        // (all of length `n`); pointer offsets stay within `n + BLOCK·V` of the start, which
        // `wrapping_add` computes without assuming they are in bounds.
        unsafe {
            let mut v = [_mm512_setzero_ps(); BLOCK];
            for (q, (x, m)) in v.iter_mut().zip(masks).enumerate() {
                *x = _mm512_maskz_loadu_ps(m, sp.wrapping_add(i + q * V));
                if CHECK {
                    let d = _mm512_sub_ps(*x, *x);
                    bad |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(d, d);
                }
            }
            for op in ops {
                match op {
                    MapOp::Bin {
                        op,
                        c,
                        const_left,
                        c_nan,
                    } => {
                        let cp = c.as_ptr();
                        for (q, (x, m)) in v.iter_mut().zip(masks).enumerate() {
                            let cv = _mm512_maskz_loadu_ps(m, cp.wrapping_add(i + q * V));
                            *x = if *const_left {
                                bin512(*op, cv, *x, true)
                            } else {
                                bin512(*op, *x, cv, *c_nan)
                            };
                        }
                    }
                    MapOp::Unary(u) => {
                        for x in v.iter_mut() {
                            *x = unary512(*u, *x);
                        }
                    }
                }
            }
            for (q, (x, m)) in v.iter().zip(masks).enumerate() {
                _mm512_mask_storeu_ps(dp.wrapping_add(i + q * V), m, *x);
            }
        }
        i += BLOCK * V;
    }
    CHECK && bad == 0
}

/// [`map_avx512`] on `n` rows, `sstride` floats apart in `src` and `dstride` in `dst`: for
/// each block of 64 columns, each op runs over every row (its constants loaded once), the
/// first from `src`, the others in place in `dst`. Every element goes through the same
/// operations in the same order: the same bits.
///
/// Safety: the CPU supports avx512f; for every `e < n`, `src + e·sstride .. + len` is
/// readable and `dst + e·dstride .. + len` writable, no written float read from `src`; every
/// op [`MapOp::fits`] `len`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn map_rows_avx512(
    ops: &[MapOp],
    (src, sstride): (*const f32, usize),
    (dst, dstride): (*mut f32, usize),
    n: usize,
    len: usize,
) {
    const V: usize = 16;
    let mut i = 0;
    while i < len {
        let masks: [__mmask16; BLOCK] = std::array::from_fn(|q| {
            let rem = len.saturating_sub(i + q * V);
            if rem >= V { 0xffff } else { (1u16 << rem) - 1 }
        });
        // SAFETY: lanes at or beyond `len` are masked off (masked loads and stores neither read
        // nor write them, whatever the address); the others lie in the rows of this function's
        // contract and in every `c` (of length `len`). `wrapping_add` computes addresses without
        // assuming they are in bounds.
        unsafe {
            if ops.is_empty() {
                for e in 0..n {
                    let (s, d) = (
                        src.wrapping_add(e * sstride + i),
                        dst.wrapping_add(e * dstride + i),
                    );
                    for (q, m) in masks.iter().enumerate() {
                        let v = _mm512_maskz_loadu_ps(*m, s.wrapping_add(q * V));
                        _mm512_mask_storeu_ps(d.wrapping_add(q * V), *m, v);
                    }
                }
            }
            for (oi, op) in ops.iter().enumerate() {
                let (from, fstride) = if oi == 0 {
                    (src, sstride)
                } else {
                    (dst.cast_const(), dstride)
                };
                match op {
                    MapOp::Bin {
                        op,
                        c,
                        const_left,
                        c_nan,
                    } => {
                        let cp = c.as_ptr();
                        let mut cv = [_mm512_setzero_ps(); BLOCK];
                        for (q, (cq, m)) in cv.iter_mut().zip(masks).enumerate() {
                            *cq = _mm512_maskz_loadu_ps(m, cp.wrapping_add(i + q * V));
                        }
                        for e in 0..n {
                            let s = from.wrapping_add(e * fstride + i);
                            let d = dst.wrapping_add(e * dstride + i);
                            for (q, (cq, m)) in cv.iter().zip(masks).enumerate() {
                                let x = _mm512_maskz_loadu_ps(m, s.wrapping_add(q * V));
                                let y = if *const_left {
                                    bin512(*op, *cq, x, true)
                                } else {
                                    bin512(*op, x, *cq, *c_nan)
                                };
                                _mm512_mask_storeu_ps(d.wrapping_add(q * V), m, y);
                            }
                        }
                    }
                    MapOp::Unary(u) => {
                        for e in 0..n {
                            let s = from.wrapping_add(e * fstride + i);
                            let d = dst.wrapping_add(e * dstride + i);
                            for (q, m) in masks.iter().enumerate() {
                                let x = _mm512_maskz_loadu_ps(*m, s.wrapping_add(q * V));
                                _mm512_mask_storeu_ps(d.wrapping_add(q * V), *m, unary512(*u, x));
                            }
                        }
                    }
                }
            }
        }
        i += BLOCK * V;
    }
}

#[target_feature(enable = "avx512f")]
#[inline]
fn bin512(op: BinOp, a: __m512, b: __m512, b_may_nan: bool) -> __m512 {
    let fix_nan_b = |t: __m512| {
        if b_may_nan {
            _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(b, b), b)
        } else {
            t
        }
    };
    match op {
        BinOp::Add => _mm512_add_ps(a, b),
        BinOp::Sub => _mm512_sub_ps(a, b),
        BinOp::Mul => _mm512_mul_ps(a, b),
        BinOp::Div => _mm512_div_ps(a, b),
        BinOp::Max => fix_nan_b(_mm512_max_ps(b, a)),
        BinOp::Min => fix_nan_b(_mm512_min_ps(b, a)),
        // Never in a chain (`MapOp::fits`); kept total.
        BinOp::Greater | BinOp::Less => a,
    }
}

#[target_feature(enable = "avx512f")]
#[inline]
fn unary512(op: UnaryOp, v: __m512) -> __m512 {
    let sign = _mm512_set1_epi32(i32::MIN);
    match op {
        UnaryOp::Neg => _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sign)),
        UnaryOp::Abs => _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v))),
        // 0 > v ? 0 : v: NaN stays NaN.
        UnaryOp::Relu => _mm512_max_ps(_mm512_setzero_ps(), v),
        // Never in a chain (`MapOp::fits`); kept total.
        _ => v,
    }
}

/// Lane masks for the AVX2 tail: `TAIL[8 - r..]` starts with `r` set lanes.
const TAIL: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// With `CHECK`, also returns whether every float of `src` is finite (as [`map_avx512`]).
///
/// A row goes through in blocks of [`ROW_BLOCK`] vectors, every vector of a block handled
/// alike whether it is whole, partial or past the row's end: loads with `vmaskmovps` and the
/// vector's lane mask (no branch), stores plain when the vector is whole. With a fixed count
/// the block and its masks stay in registers. (Blocks with the count of vectors in use as a
/// loop bound spilled them to the stack, and the AVX2 map of a 57-feature event cost 40 ns.)
///
/// Safety: the CPU supports avx2 and fma; `src.len() == dst.len()` and every op
/// [`MapOp::fits`] that length.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn map_avx2<const CHECK: bool>(
    ops: &[MapOp],
    src: &[f32],
    dst: &mut [f32],
) -> bool {
    const V: usize = 8;
    let n = src.len();
    let sp = src.as_ptr();
    let dp = dst.as_mut_ptr();
    // Lanes of `src` found NaN or infinite (lanes not loaded count as 0).
    let mut bad = _mm256_setzero_ps();
    let mut i = 0;
    while i < n {
        let lanes = Lanes::at(i, n);
        // SAFETY: `lanes` enables exactly the lanes inside `n`, in `src`, `dst` and every `c`
        // (all of length `n`), and points the vectors with none at the row's start.
        unsafe {
            let mut v = [_mm256_setzero_ps(); ROW_BLOCK];
            for (q, x) in v.iter_mut().enumerate() {
                *x = lanes.load(q, sp);
                if CHECK {
                    let d = _mm256_sub_ps(*x, *x);
                    bad = _mm256_or_ps(bad, _mm256_cmp_ps::<_CMP_UNORD_Q>(d, d));
                }
            }
            for op in ops {
                let c = op
                    .constants()
                    .map_or([_mm256_setzero_ps(); ROW_BLOCK], |c| {
                        std::array::from_fn(|q| lanes.load(q, c.as_ptr()))
                    });
                apply256(op, &mut v, &c);
            }
            for (q, x) in v.iter().enumerate() {
                lanes.store(q, dp, *x);
            }
        }
        i += ROW_BLOCK * V;
    }
    CHECK && _mm256_movemask_ps(bad) == 0
}

/// Vectors per block of [`map_avx2`].
const ROW_BLOCK: usize = 4;

/// The lanes of each vector of a block of [`map_avx2`] that lie in the row, and where each
/// vector is in the row.
struct Lanes {
    /// `vmaskmovps` masks: all lanes, the first few, or none.
    masks: [__m256i; ROW_BLOCK],
    /// Offset of each vector from the row's start; 0 for a vector with no lane in the row, so
    /// that no address past the row is ever formed (whether a `vmaskmovps` with an all-zero
    /// mask may fault on an unmapped page is left to the implementation on AMD cores).
    offs: [usize; ROW_BLOCK],
    /// Whether vector `q` is whole (stored with a plain store: `vmaskmovps` stores are slow
    /// on AMD cores, and later loads cannot take their data from them in the store buffer).
    whole: [bool; ROW_BLOCK],
}

impl Lanes {
    /// The block at `i` of a row of `len` floats.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn at(i: usize, len: usize) -> Lanes {
        const V: usize = 8;
        let left = len.saturating_sub(i);
        let rem = |q: usize| left.saturating_sub(q * V).min(V);
        Lanes {
            // SAFETY: `8 - r + 8 <= 16` for `r <= 8`: the load stays inside `TAIL`.
            masks: std::array::from_fn(|q| unsafe {
                _mm256_loadu_si256(TAIL.as_ptr().add(V - rem(q)).cast())
            }),
            whole: std::array::from_fn(|q| rem(q) == V),
            offs: std::array::from_fn(|q| if rem(q) == 0 { 0 } else { i + q * V }),
        }
    }

    /// Vector `q` of the block of the row starting at `row`, zeros in the lanes past the row.
    ///
    /// Safety: avx2; the row at `row` is readable (its length the one given to [`Lanes::at`],
    /// not 0).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load(&self, q: usize, row: *const f32) -> __m256 {
        let m = self.masks.get(q).copied().unwrap_or(_mm256_setzero_si256());
        let off = self.offs.get(q).copied().unwrap_or(0);
        // SAFETY: the caller's contract; `off` and the enabled lanes lie in the row.
        unsafe { _mm256_maskload_ps(row.add(off), m) }
    }

    /// Stores vector `q` of the block of the row starting at `row`, its lanes in the row only.
    ///
    /// Safety: avx2; the row at `row` is writable (as in [`Lanes::load`]).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store(&self, q: usize, row: *mut f32, v: __m256) {
        let off = self.offs.get(q).copied().unwrap_or(0);
        // SAFETY: the caller's contract; `off` and the enabled lanes lie in the row.
        unsafe {
            let p = row.add(off);
            if self.whole.get(q).copied().unwrap_or(false) {
                _mm256_storeu_ps(p, v);
            } else if let Some(m) = self.masks.get(q) {
                _mm256_maskstore_ps(p, *m, v);
            }
        }
    }
}

/// [`map_avx2`] on `n` rows (strides as [`map_rows_avx512`]), each op over every row before
/// the next (its constants loaded once per block of rows), as [`map_rows_avx512`] does: the
/// same bits as row by row.
///
/// Safety: as [`map_rows_avx512`], with avx2 and fma instead of avx512f.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn map_rows_avx2(
    ops: &[MapOp],
    (src, sstride): (*const f32, usize),
    (dst, dstride): (*mut f32, usize),
    n: usize,
    len: usize,
) {
    const V: usize = 8;
    let mut i = 0;
    while i < len {
        let lanes = Lanes::at(i, len);
        // SAFETY: `lanes` enables exactly the lanes inside `len`, in the rows of this
        // function's contract and in every `c` (of length `len`), and points the vectors with
        // none at the row's start; `row`, `put` get rows' starts (`e < n`).
        unsafe {
            let row = |p: *const f32| -> [__m256; ROW_BLOCK] {
                std::array::from_fn(|q| lanes.load(q, p))
            };
            let put = |p: *mut f32, v: &[__m256; ROW_BLOCK]| {
                for (q, x) in v.iter().enumerate() {
                    lanes.store(q, p, *x);
                }
            };
            if ops.is_empty() {
                for e in 0..n {
                    let v = row(src.add(e * sstride));
                    put(dst.add(e * dstride), &v);
                }
            }
            for (oi, op) in ops.iter().enumerate() {
                let (from, fstride) = if oi == 0 {
                    (src, sstride)
                } else {
                    (dst.cast_const(), dstride)
                };
                let c = op
                    .constants()
                    .map_or([_mm256_setzero_ps(); ROW_BLOCK], |c| row(c.as_ptr()));
                for e in 0..n {
                    let mut v = row(from.add(e * fstride));
                    apply256(op, &mut v, &c);
                    put(dst.add(e * dstride), &v);
                }
            }
        }
        i += ROW_BLOCK * V;
    }
}

/// `v[q] = f(c[q], v[q])` (`cl`: the constant on the left) or `f(v[q], c[q])`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn each256(
    v: &mut [__m256; ROW_BLOCK],
    c: &[__m256; ROW_BLOCK],
    cl: bool,
    f: impl Fn(__m256, __m256) -> __m256,
) {
    for (x, cq) in v.iter_mut().zip(c) {
        *x = if cl { f(*cq, *x) } else { f(*x, *cq) };
    }
}

/// One op of a map on a block; `c`: the block's vectors of the op's constant (unused by a
/// unary op). The op is matched once, outside the loop over the vectors: matched per vector,
/// it compiled to an indirect jump per vector and op.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn apply256(op: &MapOp, v: &mut [__m256; ROW_BLOCK], c: &[__m256; ROW_BLOCK]) {
    match op {
        MapOp::Bin {
            op,
            const_left,
            c_nan,
            ..
        } => {
            // `bin256`'s operands: the constant first when it is on the left (and then
            // possibly NaN, as any input), else the value first.
            let (cl, nan) = (*const_left, *const_left || *c_nan);
            match (op, nan) {
                (BinOp::Add, _) => each256(v, c, cl, |a, b| _mm256_add_ps(a, b)),
                (BinOp::Sub, _) => each256(v, c, cl, |a, b| _mm256_sub_ps(a, b)),
                (BinOp::Mul, _) => each256(v, c, cl, |a, b| _mm256_mul_ps(a, b)),
                (BinOp::Div, _) => each256(v, c, cl, |a, b| _mm256_div_ps(a, b)),
                (BinOp::Max, false) => each256(v, c, cl, |a, b| bin256(BinOp::Max, a, b, false)),
                (BinOp::Max, true) => each256(v, c, cl, |a, b| bin256(BinOp::Max, a, b, true)),
                (BinOp::Min, false) => each256(v, c, cl, |a, b| bin256(BinOp::Min, a, b, false)),
                (BinOp::Min, true) => each256(v, c, cl, |a, b| bin256(BinOp::Min, a, b, true)),
                // Never in a map (`MapOp::fits`); as `bin256`, kept total.
                (BinOp::Greater | BinOp::Less, _) => {}
            }
        }
        MapOp::Unary(u) => match u {
            UnaryOp::Neg => v.iter_mut().for_each(|x| *x = unary256(UnaryOp::Neg, *x)),
            UnaryOp::Abs => v.iter_mut().for_each(|x| *x = unary256(UnaryOp::Abs, *x)),
            UnaryOp::Relu => v.iter_mut().for_each(|x| *x = unary256(UnaryOp::Relu, *x)),
            other => v.iter_mut().for_each(|x| *x = unary256(*other, *x)),
        },
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn bin256(op: BinOp, a: __m256, b: __m256, b_may_nan: bool) -> __m256 {
    let fix_nan_b = |t: __m256| {
        if b_may_nan {
            _mm256_blendv_ps(t, b, _mm256_cmp_ps::<_CMP_UNORD_Q>(b, b))
        } else {
            t
        }
    };
    match op {
        BinOp::Add => _mm256_add_ps(a, b),
        BinOp::Sub => _mm256_sub_ps(a, b),
        BinOp::Mul => _mm256_mul_ps(a, b),
        BinOp::Div => _mm256_div_ps(a, b),
        BinOp::Max => fix_nan_b(_mm256_max_ps(b, a)),
        BinOp::Min => fix_nan_b(_mm256_min_ps(b, a)),
        BinOp::Greater | BinOp::Less => a,
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn unary256(op: UnaryOp, v: __m256) -> __m256 {
    let sign = _mm256_set1_ps(-0.0);
    match op {
        UnaryOp::Neg => _mm256_xor_ps(v, sign),
        UnaryOp::Abs => _mm256_andnot_ps(sign, v),
        UnaryOp::Relu => _mm256_max_ps(_mm256_setzero_ps(), v),
        _ => v,
    }
}
