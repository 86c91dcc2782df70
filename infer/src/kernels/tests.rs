//! The gemv, unary, finiteness and reduction kernels against the portable code and exact
//! references.

use super::*;

/// The test kit's SplitMix64, with the two draws the kernel tests need (shared with
/// `tests_fused` and `chain`'s tests).
pub(super) struct Rng(pub(super) bead_testkit::Rng);
impl Rng {
    pub(super) fn next(&mut self) -> f32 {
        self.0.uniform()
    }
    pub(super) fn usize(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    /// A random `k × m` weight matrix padded to `np = padded(m)` columns (row-major) and its
    /// bias, zeros in the padding.
    pub(super) fn layer(&mut self, k: usize, m: usize) -> (Vec<f32>, Vec<f32>) {
        let np = padded(m);
        let mut w = vec![0.0; k * np];
        for i in 0..k {
            for j in 0..m {
                w[i * np + j] = self.next();
            }
        }
        let mut b = vec![0.0; np];
        for v in &mut b[..m] {
            *v = self.next();
        }
        (w, b)
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
        let (w, b) = rng.layer(k, m);
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
    // Every class of float, at every position of a row longer than a vector.
    let finite = [
        0.0,
        -0.0,
        1.0e-45,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        -3.5,
    ];
    let bad = [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    let bad = bad
        .iter()
        .copied()
        .chain([f32::from_bits(0x7f80_0001), f32::from_bits(0xffff_ffff)]);
    let mut row: Vec<f32> = (0..37).map(|i| finite[i % finite.len()]).collect();
    assert_eq!(first_non_finite(&row), None);
    for v in bad {
        for i in [0, 15, 16, 36] {
            let old = row[i];
            row[i] = v;
            assert_eq!(first_non_finite(&row), Some(i), "{v} at {i}");
            for kern in Kernel::available() {
                assert_eq!(kern.first_non_finite(&row), Some(i), "{}", kern.name());
                assert_eq!(kern.first_non_finite(&row[..i]), None, "{}", kern.name());
            }
            row[i] = old;
        }
    }
}
