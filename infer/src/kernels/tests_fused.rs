//! Tests of the fused elementwise chains and the batch GEMM against the scalar references,
//! with random shapes and row lengths that are not multiples of the vector width, and of the
//! NaN semantics of `Relu`, `Max`, `Min` and `Clip` against explicit expectations.

use super::*;

use super::tests::Rng;

const SPECIALS: [f32; 9] = [
    0.0,
    -0.0,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    1.0,
    -1.0,
    f32::MIN_POSITIVE,
    3.0e38,
];

fn value(rng: &mut Rng) -> f32 {
    if rng.usize(6) == 0 {
        SPECIALS[rng.usize(SPECIALS.len())]
    } else {
        rng.next() * 10.0
    }
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// A random chain of `len`-long ops: every fusable operator, constants on either side, some
/// constants with NaN.
fn random_ops(rng: &mut Rng, len: usize) -> Vec<MapOp> {
    let bins = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Min,
        BinOp::Max,
    ];
    let unaries = [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Relu];
    (0..1 + rng.usize(6))
        .map(|_| {
            if rng.usize(4) == 0 {
                MapOp::Unary(unaries[rng.usize(unaries.len())])
            } else {
                let with_specials = rng.usize(3) == 0;
                let c = (0..len)
                    .map(|_| {
                        if with_specials {
                            value(rng)
                        } else {
                            rng.next() * 4.0
                        }
                    })
                    .collect();
                MapOp::bin(bins[rng.usize(bins.len())], c, rng.usize(3) == 0)
            }
        })
        .collect()
}

#[test]
fn every_map_variant_matches_the_op_by_op_reference_bitwise() {
    let mut rng = Rng(bead_testkit::Rng::new(44));
    for len in (0..70).chain([127, 128, 129, 257]) {
        for _ in 0..6 {
            let ops = random_ops(&mut rng, len);
            let src: Vec<f32> = (0..len).map(|_| value(&mut rng)).collect();
            // Reference: each operation as a separate pass, with the scalar operators.
            let mut want = src.clone();
            for op in &ops {
                for (i, v) in want.iter_mut().enumerate() {
                    *v = match op {
                        MapOp::Bin {
                            op, c, const_left, ..
                        } => {
                            if *const_left {
                                op.apply(c[i], *v)
                            } else {
                                op.apply(*v, c[i])
                            }
                        }
                        MapOp::Unary(u) => u.apply(*v),
                    };
                }
            }
            for kern in Kernel::available() {
                let mut got = vec![7.0; len];
                assert!(kern.map(&ops, &src, &mut got));
                // The checked form: the same output, and whether `src` is all finite.
                let mut checked = vec![7.0; len];
                let finite = src.iter().all(|v| v.is_finite());
                let said = kern.map_checked(&ops, &src, &mut checked);
                assert_eq!(said, Some(finite), "{} len {len}", kern.name());
                assert!(got.iter().zip(&checked).all(|(a, b)| same(*a, *b)));
                for i in 0..len {
                    assert!(
                        same(got[i], want[i]),
                        "{} len {len} i {i}: {} vs {} ({ops:?})",
                        kern.name(),
                        got[i],
                        want[i]
                    );
                }
            }
        }
    }
}

#[test]
fn map_refuses_mismatched_lengths() {
    let ops = [MapOp::bin(BinOp::Add, vec![1.0; 5], false)];
    for kern in Kernel::available() {
        let mut dst = [9.0; 6];
        assert!(!kern.map(&ops, &[0.0; 6], &mut dst));
        assert!(!kern.map(&ops, &[0.0; 5], &mut dst[..4]));
        let bad = [MapOp::Unary(UnaryOp::Exp)];
        assert!(!kern.map(&bad, &[0.0; 6], &mut dst));
        assert!(dst.iter().all(|v| *v == 9.0));
    }
}

#[test]
fn nan_goes_through_relu_max_min_and_clip() {
    let nan = f32::NAN;
    // Scalar operators: NaN on either side gives NaN.
    for op in [BinOp::Max, BinOp::Min] {
        assert!(op.apply(nan, 1.0).is_nan(), "{op:?}(NaN, 1)");
        assert!(op.apply(1.0, nan).is_nan(), "{op:?}(1, NaN)");
        assert!(op.apply(nan, nan).is_nan());
    }
    assert_eq!(BinOp::Max.apply(-2.0, 3.0), 3.0);
    assert_eq!(BinOp::Min.apply(-2.0, 3.0), -2.0);
    assert!(UnaryOp::Relu.apply(nan).is_nan());
    assert_eq!(UnaryOp::Relu.apply(-3.0), 0.0);
    assert_eq!(UnaryOp::Relu.apply(2.5), 2.5);
    let mut r = [0.0; 1];
    reduce(ReduceOp::Max, &[1.0, nan, 2.0], 3, &mut r);
    assert!(r[0].is_nan());
    reduce(ReduceOp::Min, &[1.0, nan, 2.0], 3, &mut r);
    assert!(r[0].is_nan());

    let n = 37;
    let x: Vec<f32> = (0..n)
        .map(|i| if i % 5 == 0 { nan } else { i as f32 - 18.0 })
        .collect();
    let with_nan_c: Vec<f32> = (0..n).map(|i| if i % 7 == 3 { nan } else { 0.5 }).collect();
    for kern in Kernel::available() {
        // Clip(x, -4, 6) as lowered: Max with the lower bound, then Min with the upper.
        let clip = [
            MapOp::bin(BinOp::Max, vec![-4.0; n], false),
            MapOp::bin(BinOp::Min, vec![6.0; n], false),
        ];
        for (name, ops) in [
            ("clip", clip.to_vec()),
            ("relu", vec![MapOp::Unary(UnaryOp::Relu)]),
            ("max c", vec![MapOp::bin(BinOp::Max, vec![1.0; n], true)]),
            ("min c", vec![MapOp::bin(BinOp::Min, vec![1.0; n], true)]),
        ] {
            let mut y = vec![0.0; n];
            assert!(kern.map(&ops, &x, &mut y));
            for i in 0..n {
                let xi = x[i];
                let want = match name {
                    "clip" => xi.clamp(-4.0, 6.0),
                    "relu" => xi.max(0.0),
                    "max c" => xi.max(1.0),
                    _ => xi.min(1.0),
                };
                if xi.is_nan() {
                    assert!(
                        y[i].is_nan(),
                        "{} {name}: NaN in, {} out",
                        kern.name(),
                        y[i]
                    );
                } else {
                    assert_eq!(y[i], want, "{} {name}({xi})", kern.name());
                }
            }
        }
        // A NaN constant gives NaN too, on either side.
        for op in [BinOp::Max, BinOp::Min] {
            for left in [false, true] {
                let ops = [MapOp::bin(op, with_nan_c.clone(), left)];
                let mut y = vec![0.0; n];
                assert!(kern.map(&ops, &x, &mut y));
                for i in 0..n {
                    assert_eq!(
                        y[i].is_nan(),
                        x[i].is_nan() || with_nan_c[i].is_nan(),
                        "{} {op:?} left={left} i={i}",
                        kern.name()
                    );
                }
            }
        }
        // The gemv's fused ReLU keeps a NaN (here from a NaN bias).
        let mut b = vec![0.0; 16];
        b[3] = nan;
        b[4] = -1.0;
        let mut y = vec![0.0; 16];
        assert!(kern.gemv(&[1.0, 2.0], &[0.0; 32], &b, &mut y, true));
        assert!(y[3].is_nan(), "{}", kern.name());
        assert_eq!(y[4], 0.0);
        // And the elementwise Relu.
        let mut y = [0.0; 3];
        kern.unary(UnaryOp::Relu, &[nan, -1.0, 2.0], &mut y);
        assert!(
            y[0].is_nan() && y[1] == 0.0 && y[2] == 2.0,
            "{}",
            kern.name()
        );
    }
}

#[test]
fn every_gemm_variant_matches_its_gemv_bitwise() {
    let mut rng = Rng(bead_testkit::Rng::new(45));
    let mut cases = vec![
        (57, 32, 64),
        (32, 16, 7),
        (16, 13, 13),
        (1, 1, 1),
        (3, 40, 5),
    ];
    for _ in 0..40 {
        cases.push((1 + rng.usize(90), 1 + rng.usize(70), 1 + rng.usize(20)));
    }
    for (k, m, n) in cases {
        let np = padded(m);
        let w: Vec<f32> = (0..k * np).map(|_| rng.next()).collect();
        let b: Vec<f32> = (0..np).map(|_| rng.next()).collect();
        // Input and output at either end of each event's row, with room around them.
        let (src, dst, stride) = if rng.usize(2) == 0 {
            (3, k + 5, k + np + 9)
        } else {
            (np + 2, 1, k + np + 4)
        };
        let arena: Vec<f32> = (0..n * stride).map(|_| rng.next() * 3.0).collect();
        for kern in Kernel::available() {
            for relu in [false, true] {
                let mut got = arena.clone();
                assert!(kern.gemm(&mut got, stride, n, src, dst, &w, &b, relu));
                for e in 0..n {
                    let row = &arena[e * stride..(e + 1) * stride];
                    let mut want = vec![0.0; np];
                    assert!(kern.gemv(&row[src..src + k], &w, &b, &mut want, relu));
                    let out = &got[e * stride + dst..e * stride + dst + np];
                    for j in 0..np {
                        assert!(
                            same(out[j], want[j]),
                            "{} k={k} m={m} n={n} e={e} j={j}: {} vs {}",
                            kern.name(),
                            out[j],
                            want[j]
                        );
                    }
                    // Everything outside the output row is untouched.
                    for (t, (g, a)) in got[e * stride..(e + 1) * stride]
                        .iter()
                        .zip(row)
                        .enumerate()
                    {
                        if !(dst..dst + np).contains(&t) {
                            assert_eq!(g.to_bits(), a.to_bits(), "{} wrote {t}", kern.name());
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn gemm_rejects_bad_shapes() {
    let w = vec![0.5; 3 * 16];
    let b = vec![0.0; 16];
    for kern in Kernel::available() {
        let mut arena = vec![1.0; 4 * 20];
        // Overlapping input and output.
        assert!(!kern.gemm(&mut arena, 20, 4, 0, 2, &w, &b, false));
        // Row longer than the stride.
        assert!(!kern.gemm(&mut arena, 18, 4, 0, 3, &w, &b, false));
        // Arena too short for the last event.
        assert!(!kern.gemm(&mut arena, 20, 5, 0, 3, &w, &b, false));
        // Width not a multiple of the lanes, or weights of the wrong size.
        assert!(!kern.gemm(&mut arena, 20, 4, 0, 3, &w[..40], &b[..8], false));
        assert!(!kern.gemm(&mut arena, 20, 4, 0, 3, &w[..47], &b, false));
        assert!(!kern.gemm(&mut arena, 20, 0, 0, 3, &w, &b, false));
        assert!(arena.iter().all(|v| *v == 1.0));
        assert!(kern.gemm(&mut arena, 20, 4, 0, 3, &w, &b, false));
    }
}

#[test]
fn sums_use_four_chains_in_a_fixed_order() {
    let row: Vec<f32> = (0..13).map(|i| 1.0 + i as f32 * 1e-3).collect();
    let mut s = [0.0f32; 4];
    for (i, v) in row.iter().enumerate() {
        s[i % 4] += v * v;
    }
    let want = (s[0] + s[1]) + (s[2] + s[3]);
    let mut r = [0.0; 1];
    reduce(ReduceOp::SumSquares, &row, 13, &mut r);
    assert_eq!(r[0].to_bits(), want.to_bits());
    let exact: f64 = row.iter().map(|v| f64::from(*v).powi(2)).sum();
    assert!((f64::from(r[0]) - exact).abs() < 1e-5 * exact);
}

#[test]
fn fma_peak_is_measured() {
    for kern in Kernel::available() {
        let peak = kern.fma_peak_flops(0.01);
        assert!(peak.is_finite() && peak > 1e6, "{}: {peak}", kern.name());
    }
}

#[test]
fn aligned_weights_keep_their_values() {
    for len in [0, 1, 15, 16, 17, 57 * 32] {
        let v: Vec<f32> = (0..len).map(|i| i as f32).collect();
        let a = align_weights(&v);
        assert_eq!(a.len(), len + SLACK);
        let view = aligned(&a, len);
        assert_eq!(view, &v[..]);
        assert_eq!(view.as_ptr().align_offset(64), 0);
        // Without slack the slice is returned as it is.
        assert_eq!(aligned(&v, len).as_ptr(), v.as_ptr());
    }
}

#[test]
fn map_rows_matches_map_on_every_row() {
    let mut rng = Rng(bead_testkit::Rng::new(46));
    for (len, n) in [(57, 64), (16, 5), (1, 1), (70, 9), (129, 3), (33, 40)] {
        let ops = random_ops(&mut rng, len);
        let stride = 2 * len + 7;
        let arena: Vec<f32> = (0..n * stride).map(|_| value(&mut rng)).collect();
        let (src, dst) = if rng.usize(2) == 0 {
            (1, len + 3)
        } else {
            (len + 5, 0)
        };
        for kern in Kernel::available() {
            let mut got = arena.clone();
            assert!(kern.map_rows(&ops, &mut got, stride, n, src, dst, len));
            for e in 0..n {
                let row = &arena[e * stride..(e + 1) * stride];
                let mut want = vec![0.0; len];
                assert!(kern.map(&ops, &row[src..src + len], &mut want));
                for (t, g) in got[e * stride..(e + 1) * stride].iter().enumerate() {
                    let w = if (dst..dst + len).contains(&t) {
                        want[t - dst]
                    } else {
                        row[t]
                    };
                    assert!(same(*g, w), "{} len {len} e {e} t {t}", kern.name());
                }
            }
        }
        // From the caller's rows instead of the arena: the same bits, nothing else written.
        let rows: Vec<f32> = (0..n * len).map(|_| value(&mut rng)).collect();
        for kern in Kernel::available() {
            let mut from_arena = arena.clone();
            for e in 0..n {
                from_arena[e * stride + src..][..len].copy_from_slice(&rows[e * len..][..len]);
            }
            let mut want = from_arena.clone();
            assert!(kern.map_rows(&ops, &mut want, stride, n, src, dst, len));
            let mut got = from_arena.clone();
            assert!(kern.map_rows_from(&ops, &rows, &mut got, stride, n, dst, len));
            assert!(
                got.iter().zip(&want).all(|(a, b)| same(*a, *b)),
                "{}",
                kern.name()
            );
            let mut a = arena.clone();
            assert!(!kern.map_rows_from(&ops, &rows[1..], &mut a, stride, n, dst, len));
            assert!(!kern.map_rows_from(&ops, &rows, &mut a, stride, n, stride - len + 1, len));
            // A width that does not match the rows (no constant to tell it), a zero stride.
            let abs = [MapOp::Unary(UnaryOp::Abs)];
            assert!(!kern.map_rows_from(&abs, &rows, &mut a, stride, n, dst, len + 1));
            assert!(!kern.map_rows_from(&abs, &rows, &mut a, 0, n, dst, len));
            assert!(
                a.iter()
                    .zip(&arena)
                    .all(|(x, y)| x.to_bits() == y.to_bits())
            );
        }
        // Overlapping rows or views are refused.
        let mut a = arena.clone();
        assert!(!Kernel::detect().map_rows(&ops, &mut a, stride, n, 0, 0, len));
        assert!(!Kernel::detect().map_rows(&ops, &mut a, len, n, 0, len, len));
    }
}
