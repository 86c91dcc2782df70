//! Numeric kernels: the prepacked gemv (portable, AVX2+FMA, AVX-512F), elementwise ops (with
//! vectorised transcendental functions from [`math`], compiled for each variant) and
//! reductions. All `unsafe` code of the crate lives here, in [`x86`].
//!
//! The gemv computes `y = x·W + b` (optionally followed by ReLU) with `W` prepacked row-major as
//! `[k, np]`, `np` being the output width rounded up to [`LANES`] with zero columns, so that the
//! SIMD variants store whole vectors and never need a tail.

pub(crate) mod math;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

/// Output widths of the gemv are padded to a multiple of this.
pub(crate) const LANES: usize = 16;

/// `n` rounded up to a multiple of [`LANES`].
pub(crate) fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// A gemv variant the running CPU supports. Only this module constructs one, and only after
/// runtime feature detection, which is what makes calling the SIMD variants sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kernel(Isa);

impl Kernel {
    /// The fastest variant this CPU supports.
    pub(crate) fn detect() -> Kernel {
        Kernel::available()
            .last()
            .copied()
            .unwrap_or(Kernel(Isa::Scalar))
    }

    /// The portable variant.
    #[cfg(test)]
    pub(crate) fn portable() -> Kernel {
        Kernel(Isa::Scalar)
    }

    /// Every variant this CPU supports, slowest first.
    pub(crate) fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel(Isa::Scalar)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                v.push(Kernel(Isa::Avx2Fma));
            }
            // The AVX-512 variant also uses the AVX2+FMA elementwise kernels.
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
            {
                v.push(Kernel(Isa::Avx512));
            }
        }
        v
    }

    /// Short name: `portable`, `avx2+fma` or `avx512f`.
    pub(crate) fn name(self) -> &'static str {
        match self.0 {
            Isa::Scalar => "portable",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => "avx2+fma",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512f",
        }
    }

    /// `y = x·W + b`, then ReLU if `relu`. Requires `b.len()` a multiple of [`LANES`],
    /// `w.len() == x.len() * b.len()` and `y.len() == b.len()`; returns `false` (and leaves `y`
    /// untouched) otherwise.
    #[allow(unsafe_code)]
    pub(crate) fn gemv(self, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) -> bool {
        let np = b.len();
        if np == 0
            || !np.is_multiple_of(LANES)
            || y.len() != np
            || Some(w.len()) != x.len().checked_mul(np)
        {
            return false;
        }
        match self.0 {
            Isa::Scalar => gemv_portable(x, w, b, y, relu),
            // Safety: the shapes were checked just above, and `Kernel(Isa::Avx2Fma)` is only
            // built by `available()` after detecting avx2 and fma on this CPU.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86::gemv_avx2(x, w, b, y, relu) },
            // Safety: as above, with avx512f detected.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::gemv_avx512(x, w, b, y, relu) },
        }
        true
    }

    /// `dst[i] = op(src[i])` over the common length, with this variant's instruction set.
    #[allow(unsafe_code)]
    pub(crate) fn unary(self, op: UnaryOp, src: &[f32], dst: &mut [f32]) {
        match self.0 {
            Isa::Scalar => unary(op, src, dst),
            // Safety: `Kernel(Isa::Avx2Fma)` is only built by `available()` after detecting
            // avx2 and fma on this CPU; the function has no other requirement.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86::unary_avx2(op, src, dst) },
            // Safety: as above, with avx512f, avx2 and fma detected.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::unary_avx512(op, src, dst) },
        }
    }
}

fn gemv_portable(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) {
    let np = b.len();
    y.copy_from_slice(b);
    for (xi, row) in x.iter().zip(w.chunks_exact(np)) {
        for (yj, wj) in y.iter_mut().zip(row) {
            *yj += xi * wj;
        }
    }
    if relu {
        relu_in_place(y);
    }
}

fn relu_in_place(y: &mut [f32]) {
    for v in y {
        *v = relu(*v);
    }
}

/// `max(0, v)` that keeps NaN (as ONNX Runtime does; `f32::max` would turn it into 0), with
/// the result of `maxps(0, v)` for every input, so all kernels agree bit for bit.
#[inline(always)]
fn relu(v: f32) -> f32 {
    if 0.0 > v { 0.0 } else { v }
}

/// Elementwise operators with one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnaryOp {
    Neg,
    Abs,
    Log,
    Exp,
    Sqrt,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
}

impl UnaryOp {
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            UnaryOp::Neg => -v,
            UnaryOp::Abs => v.abs(),
            UnaryOp::Log => math::ln(v),
            UnaryOp::Exp => math::exp(v),
            UnaryOp::Sqrt => v.sqrt(),
            UnaryOp::Sin => math::sin(v),
            UnaryOp::Cos => math::cos(v),
            UnaryOp::Tanh => math::tanh(v),
            UnaryOp::Sigmoid => math::sigmoid(v),
            UnaryOp::Relu => relu(v),
        }
    }
}

/// Elementwise operators with two inputs of the same length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Greater,
    Less,
}

impl BinOp {
    pub(crate) fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Min => min_nan(a, b),
            BinOp::Max => max_nan(a, b),
            BinOp::Greater => f32::from(u8::from(a > b)),
            BinOp::Less => f32::from(u8::from(a < b)),
        }
    }
}

/// `min(a, b)` that keeps NaN, as ONNX Runtime does (`f32::min` drops it).
#[inline(always)]
fn min_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || a < b { a } else { b }
}

/// `max(a, b)` that keeps NaN.
#[inline(always)]
fn max_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || a > b { a } else { b }
}

/// Reductions over the innermost `inner` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReduceOp {
    Sum,
    /// Σ x², from a fused `Mul(x, x)` + `ReduceSum`.
    SumSquares,
    Min,
    Max,
}

fn unary(op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    unary_blocks::<4>(op, src, dst);
}

/// The elementwise kernel, inlined into the portable [`unary`] and into the
/// `#[target_feature]` wrappers of [`x86`] with `W` = the number of `f32` lanes: one
/// monomorphic, branch-free loop per operator so that each vectorises.
#[inline(always)]
fn unary_blocks<const W: usize>(op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    let it = dst.iter_mut().zip(src);
    match op {
        UnaryOp::Neg => it.for_each(|(d, s)| *d = -s),
        UnaryOp::Abs => it.for_each(|(d, s)| *d = s.abs()),
        UnaryOp::Relu => it.for_each(|(d, s)| *d = relu(*s)),
        UnaryOp::Sqrt => it.for_each(|(d, s)| *d = s.sqrt()),
        UnaryOp::Log => math::map::<W>(src, dst, math::ln),
        UnaryOp::Exp => math::map::<W>(src, dst, math::exp),
        UnaryOp::Sin => math::sin_slice::<W>(src, dst),
        UnaryOp::Cos => math::cos_slice::<W>(src, dst),
        UnaryOp::Tanh => math::map::<W>(src, dst, math::tanh),
        UnaryOp::Sigmoid => math::map::<W>(src, dst, math::sigmoid),
    }
}

pub(crate) fn binary(op: BinOp, a: &[f32], b: &[f32], dst: &mut [f32]) {
    let it = dst.iter_mut().zip(a.iter().zip(b));
    match op {
        BinOp::Add => it.for_each(|(d, (x, y))| *d = x + y),
        BinOp::Sub => it.for_each(|(d, (x, y))| *d = x - y),
        BinOp::Mul => it.for_each(|(d, (x, y))| *d = x * y),
        BinOp::Div => it.for_each(|(d, (x, y))| *d = x / y),
        _ => it.for_each(|(d, (x, y))| *d = op.apply(*x, *y)),
    }
}

pub(crate) fn reduce(op: ReduceOp, src: &[f32], inner: usize, dst: &mut [f32]) {
    if inner == 0 {
        return;
    }
    for (d, row) in dst.iter_mut().zip(src.chunks_exact(inner)) {
        *d = match op {
            ReduceOp::Sum => row.iter().sum(),
            ReduceOp::SumSquares => row.iter().map(|v| v * v).sum(),
            ReduceOp::Min => row.iter().copied().fold(f32::INFINITY, min_nan),
            ReduceOp::Max => row.iter().copied().fold(f32::NEG_INFINITY, max_nan),
        };
    }
}

/// `dst[i] = src[idx[i]]` (gather, broadcast). Out-of-range indices, which the plan never
/// produces, leave the destination value unchanged.
pub(crate) fn gather(src: &[f32], idx: &[u32], dst: &mut [f32]) {
    for (d, &i) in dst.iter_mut().zip(idx) {
        if let Some(v) = src.get(i as usize) {
            *d = *v;
        }
    }
}

/// Index of the first NaN or infinite value.
pub(crate) fn first_non_finite(x: &[f32]) -> Option<usize> {
    // Branch-free scan first (vectorizes), then locate.
    let any = x.iter().fold(false, |acc, v| acc | !v.is_finite());
    if any {
        x.iter().position(|v| !v.is_finite())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test kit's SplitMix64, with the two draws these tests need.
    struct Rng(bead_testkit::Rng);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0.uniform()
        }
        fn usize(&mut self, n: usize) -> usize {
            (self.0.next_u64() % n as u64) as usize
        }
    }

    #[test]
    fn every_gemv_variant_matches_portable() {
        let mut rng = Rng(bead_testkit::Rng::new(42));
        let kernels = Kernel::available();
        eprintln!(
            "kernels: {:?}",
            kernels.iter().map(|k| k.name()).collect::<Vec<_>>()
        );
        let mut cases = vec![
            (1, 1),
            (57, 32),
            (32, 16),
            (16, 13),
            (3, 7),
            (8, 8),
            (9, 17),
        ];
        for _ in 0..60 {
            cases.push((1 + rng.usize(100), 1 + rng.usize(70)));
        }
        for (k, m) in cases {
            let np = padded(m);
            let x: Vec<f32> = (0..k).map(|_| rng.next()).collect();
            let mut w = vec![0.0; k * np];
            for i in 0..k {
                for j in 0..m {
                    w[i * np + j] = rng.next();
                }
            }
            let mut b = vec![0.0; np];
            for v in &mut b[..m] {
                *v = rng.next();
            }
            for relu in [false, true] {
                let mut want = vec![0.0; np];
                assert!(Kernel::portable().gemv(&x, &w, &b, &mut want, relu));
                // Exact reference in f64.
                for j in 0..m {
                    let mut s = f64::from(b[j]);
                    for i in 0..k {
                        s += f64::from(x[i]) * f64::from(w[i * np + j]);
                    }
                    let s = if relu { s.max(0.0) } else { s };
                    assert!(
                        (want[j] as f64 - s).abs() < 1e-5 * (1.0 + s.abs()),
                        "portable"
                    );
                }
                for kern in &kernels {
                    let mut got = vec![f32::NAN; np];
                    assert!(kern.gemv(&x, &w, &b, &mut got, relu));
                    for j in 0..np {
                        let tol = 1e-5 * (1.0 + want[j].abs());
                        assert!(
                            (got[j] - want[j]).abs() <= tol,
                            "{} k={k} m={m} j={j}: {} vs {}",
                            kern.name(),
                            got[j],
                            want[j]
                        );
                    }
                    for (j, v) in got.iter().enumerate().take(np).skip(m) {
                        assert_eq!(*v, 0.0, "padding lane {j}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_unary_variant_matches_portable_bitwise() {
        let mut rng = Rng(bead_testkit::Rng::new(43));
        let ops = [
            UnaryOp::Neg,
            UnaryOp::Abs,
            UnaryOp::Log,
            UnaryOp::Exp,
            UnaryOp::Sqrt,
            UnaryOp::Sin,
            UnaryOp::Cos,
            UnaryOp::Tanh,
            UnaryOp::Sigmoid,
            UnaryOp::Relu,
        ];
        let specials = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN,
            1.0e-45,
            f32::MIN_POSITIVE,
            1.0e9,
            -3.0e20,
            88.8,
            -100.0,
        ];
        let kernels = Kernel::available();
        for len in (0..70).chain([127, 128, 129, 1000]) {
            // Mixed scales and bit patterns, with specials sprinkled in.
            let src: Vec<f32> = (0..len)
                .map(|i| match i % 5 {
                    0 => rng.next() * 4.0,
                    1 => rng.next() * 120.0,
                    2 => f32::from_bits(((rng.next() + 1.0) * 2.0e9) as u32),
                    3 => specials[rng.usize(specials.len())],
                    _ => rng.next() * 1.0e5,
                })
                .collect();
            for op in ops {
                let mut want = vec![0.0; len];
                Kernel::portable().unary(op, &src, &mut want);
                for (x, w) in src.iter().zip(&want) {
                    let a = op.apply(*x);
                    assert!(
                        a.to_bits() == w.to_bits() || (a.is_nan() && w.is_nan()),
                        "{op:?}({x:e}): apply {a:e} vs slice {w:e}"
                    );
                }
                for kern in &kernels {
                    let mut got = vec![1.0; len];
                    kern.unary(op, &src, &mut got);
                    for ((x, g), w) in src.iter().zip(&got).zip(&want) {
                        assert!(
                            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                            "{} {op:?}({x:e}): {g:e} vs portable {w:e}",
                            kern.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn gemv_rejects_bad_shapes() {
        for kern in Kernel::available() {
            let mut y = vec![1.0; 16];
            assert!(!kern.gemv(&[1.0; 3], &[0.0; 47], &[0.0; 16], &mut y, false));
            assert!(!kern.gemv(&[1.0; 3], &[0.0; 24], &[0.0; 8], &mut y[..8], false));
            assert!(!kern.gemv(&[1.0; 3], &[0.0; 48], &[0.0; 16], &mut y[..15], false));
            assert!(y.iter().all(|v| *v == 1.0));
        }
    }

    #[test]
    fn elementwise_and_reductions() {
        let a = [1.0, -2.0, 3.0, 0.5];
        let b = [2.0, 2.0, -1.0, 0.5];
        let mut d = [0.0; 4];
        binary(BinOp::Sub, &a, &b, &mut d);
        assert_eq!(d, [-1.0, -4.0, 4.0, 0.0]);
        binary(BinOp::Greater, &a, &b, &mut d);
        assert_eq!(d, [0.0, 0.0, 1.0, 0.0]);
        binary(BinOp::Min, &a, &b, &mut d);
        assert_eq!(d, [1.0, -2.0, -1.0, 0.5]);
        unary(UnaryOp::Relu, &a, &mut d);
        assert_eq!(d, [1.0, 0.0, 3.0, 0.5]);
        let mut r = [0.0; 2];
        reduce(ReduceOp::SumSquares, &a, 2, &mut r);
        assert_eq!(r, [5.0, 9.25]);
        reduce(ReduceOp::Min, &a, 2, &mut r);
        assert_eq!(r, [-2.0, 0.5]);
        reduce(ReduceOp::Max, &a, 4, &mut r[..1]);
        assert_eq!(r[0], 3.0);
        gather(&a, &[3, 0, 0], &mut d[..3]);
        assert_eq!(&d[..3], &[0.5, 1.0, 1.0]);
        assert_eq!(first_non_finite(&a), None);
        assert_eq!(
            first_non_finite(&[0.0, 1.0, f32::INFINITY, f32::NAN]),
            Some(2)
        );
    }
}
