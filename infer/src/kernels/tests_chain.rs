//! Every chain variant against the portable chain and against the separate steps it replaces.

use super::*;
use crate::kernels::tests::Rng;
use crate::kernels::{Kernel, ReduceOp, align_weights, padded, reduce};

/// A chain of layers of widths `dims` (`dims[0]` inputs) laid out one after the other in an
/// arena, with the Σx² of the first `head` outputs of the last layer; and each layer's
/// weights as built (the chain keeps them only in its parameter buffer).
fn build(rng: &mut Rng, dims: &[usize], head: Option<usize>) -> (Chain, usize, Vec<Vec<f32>>) {
    let mut layers = Vec::new();
    let mut weights = Vec::new();
    let mut off = 0;
    let mut src = 0;
    let mut k = dims[0];
    off += k.next_multiple_of(16);
    for (i, &m) in dims.iter().enumerate().skip(1) {
        let np = padded(m);
        let (w, b) = rng.layer(k, m);
        weights.push(w.clone());
        layers.push(Dense {
            src,
            k,
            w: align_weights(&w),
            b,
            relu: i + 1 < dims.len() || rng.usize(2) == 0,
            dst: off,
        });
        src = off;
        off += np;
        k = m;
    }
    let head = head.map(|len| {
        let h = SumSq { src, len, dst: off };
        off += 16;
        h
    });
    (Chain::new(layers, head), off, weights)
}

/// The chain as the separate steps it replaces: one gemv per layer (with the weights it was
/// built with), then the reduction.
fn separate(kern: Kernel, c: &Chain, weights: &[Vec<f32>], arena: &mut [f32]) {
    for (l, w) in c.layers().iter().zip(weights) {
        let np = l.b.len();
        let x = arena[l.src..l.src + l.k].to_vec();
        assert!(kern.gemv(&x, w, &l.b, &mut arena[l.dst..l.dst + np], l.relu));
    }
    if let Some(h) = c.head() {
        let x = arena[h.src..h.src + h.len].to_vec();
        let mut d = [0.0];
        reduce(ReduceOp::SumSquares, &x, h.len, &mut d);
        arena[h.dst] = d[0];
    }
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn every_chain_variant_matches_its_separate_steps_and_the_portable_chain() {
    let mut rng = Rng(bead_testkit::Rng::new(44));
    let mut shapes: Vec<(Vec<usize>, Option<usize>)> = vec![
        (vec![57, 32, 16, 13], Some(13)),
        (vec![57, 32, 16, 13], None),
        (vec![3, 1], Some(1)),
        (vec![1, 16], Some(16)),
        (vec![5, 33, 17, 4], Some(3)),
        (vec![70, 64, 48, 20], Some(20)),
        (vec![31, 29], Some(7)),
        (vec![16, 32, 32, 5], Some(5)),
        (vec![57, 32, 16, 16, 16], Some(16)),
        (vec![9, 32, 3], Some(2)),
        (vec![40, 17, 16], Some(16)),
        (vec![8, 96, 40], None),
    ];
    // Every head length on a last layer of 16 outputs (the register heads of the SIMD
    // chains take lanes by quarters).
    for len in 1..=16 {
        for _ in 0..3 {
            shapes.push((vec![9, 16], Some(len)));
        }
        shapes.push((vec![20, 32, 16], Some(len)));
    }
    for _ in 0..40 {
        let n = 2 + rng.usize(3);
        let dims: Vec<usize> = (0..n).map(|_| 1 + rng.usize(50)).collect();
        let last = *dims.last().unwrap();
        let head = (rng.usize(4) != 0).then(|| 1 + rng.usize(last));
        shapes.push((dims, head));
    }
    for (dims, head) in shapes {
        let (c, len, weights) = build(&mut rng, &dims, head);
        let end = if head.is_some() { len - 15 } else { len };
        assert_eq!(c.extent(), Some(end), "{dims:?}");
        let mut input: Vec<f32> = (0..dims[0]).map(|_| rng.next() * 3.0).collect();
        if rng.usize(5) == 0 {
            input[rng.usize(dims[0])] = f32::NAN;
        }
        let fresh = |input: &[f32]| {
            let mut a = vec![-7.0f32; len];
            a[..input.len()].copy_from_slice(input);
            a
        };
        let mut want = fresh(&input);
        Kernel::portable().chain(&mut want, &c, true);
        for kern in Kernel::available() {
            let name = kern.name();
            let mut steps = fresh(&input);
            separate(kern, &c, &weights, &mut steps);
            let mut got = fresh(&input);
            assert!(kern.chain(&mut got, &c, true));
            for (i, (g, s)) in got.iter().zip(&steps).enumerate() {
                assert!(
                    same(*g, *s),
                    "{name} {dims:?} {head:?} [{i}]: {g} vs steps {s}"
                );
            }
            // Against the portable chain: same values up to the FMA's rounding.
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let tol = 1e-4 * (1.0 + w.abs());
                assert!(
                    same(*g, *w) || (g - w).abs() <= tol,
                    "{name} {dims:?} [{i}]: {g} vs portable {w}"
                );
            }
            if input.iter().any(|v| v.is_nan()) {
                let h = c.head().map_or(c.layers().last().unwrap().dst, |h| h.dst);
                assert!(got[h].is_nan(), "{name}: NaN lost");
            }
            // The input read where it is: the same outputs, the arena's input left alone.
            let mut direct = fresh(&[]);
            let run = kern.chain_from(&mut direct, Some(&input), &c, true);
            let proven = run == ChainRun::Ran { input_finite: true };
            assert!(run != ChainRun::Refused);
            assert!(
                !proven || input.iter().all(|v| v.is_finite()),
                "{name}: NaN proven finite"
            );
            let short = kern.chain_from(&mut direct, Some(&input[1..]), &c, true);
            assert_eq!(short, ChainRun::Refused);
            assert!(direct[..dims[0]].iter().all(|v| *v == -7.0));
            for (i, (g, w)) in direct.iter().zip(&got).enumerate().skip(dims[0]) {
                assert!(same(*g, *w), "{name} {dims:?} [{i}]: direct {g} vs {w}");
            }
            // Without the head: the layers only.
            let mut nohead = fresh(&input);
            assert!(kern.chain(&mut nohead, &c, false));
            if let Some(h) = c.head() {
                assert_eq!(nohead[h.dst], -7.0);
                nohead[h.dst] = got[h.dst];
            }
            assert!(nohead.iter().zip(&got).all(|(a, b)| same(*a, *b)));
            // A batch of events, each in its own row: the same bits as each event alone.
            for n in [1, 5, 16, 17, 31, 32, 33, 40, 70] {
                let stride = len.next_multiple_of(16) + 16 * rng.usize(2);
                let mut arena = vec![-7.0f32; n * stride];
                let mut alone = Vec::new();
                for e in 0..n {
                    let ev: Vec<f32> = input.iter().map(|v| v + e as f32 * 0.25).collect();
                    arena[e * stride..e * stride + ev.len()].copy_from_slice(&ev);
                    let mut one = fresh(&ev);
                    assert!(kern.chain(&mut one, &c, true));
                    alone.push(one);
                }
                // The inputs read from the arena, or from rows of their own.
                let rows: Vec<f32> = (0..n)
                    .flat_map(|e| arena[e * stride..e * stride + dims[0]].to_vec())
                    .collect();
                let mut direct = arena.clone();
                for e in 0..n {
                    direct[e * stride..e * stride + dims[0]].fill(-9.0);
                }
                assert!(kern.chain_rows(&mut arena, stride, n, &c, None));
                assert!(kern.chain_rows(&mut direct, stride, n, &c, Some(&rows)));
                assert!(!kern.chain_rows(&mut direct, stride, n, &c, Some(&rows[1..])));
                for (e, one) in alone.iter().enumerate() {
                    let row = &arena[e * stride..e * stride + len];
                    let drow = &direct[e * stride + dims[0]..e * stride + len];
                    for (i, (g, w)) in row.iter().zip(one).enumerate() {
                        assert!(
                            same(*g, *w),
                            "{name} {dims:?} n={n} e={e} [{i}]: {g} vs {w}"
                        );
                    }
                    assert!(
                        drow.iter().zip(&one[dims[0]..]).all(|(g, w)| same(*g, *w)),
                        "{name} {dims:?} n={n} e={e}: direct input"
                    );
                }
            }
        }
    }
}

/// A NaN or an infinity anywhere in the input is never proven finite, not even where ReLU
/// turns every pre-activation into 0 (negative weights, `-∞` in) or the feature's weights are
/// all zero (`∞ · 0`); a finite input is proven finite by the SIMD chains whose first layer
/// runs inline (16 or 32 outputs), never when the input is longer than the first layer reads.
#[test]
fn only_finite_inputs_are_proven_finite() {
    let mut rng = Rng(bead_testkit::Rng::new(46));
    for dims in [[57, 32, 16], [20, 16, 16], [9, 48, 16]] {
        let (c, len, mut weights) = build(&mut rng, &dims, Some(5));
        let (mut layers, head) = c.into_parts();
        let k = dims[0];
        let zero_row = 3;
        let np = layers[0].b.len();
        // The weights as built (`layers[0].w` is them moved to a 64-byte boundary).
        for (i, w) in weights[0].iter_mut().enumerate() {
            *w = if i / np == zero_row {
                0.0
            } else {
                -0.5 - w.abs()
            };
        }
        assert_eq!(weights[0].len(), k * np);
        layers[0].w = align_weights(&weights[0]);
        layers[0].b.fill(-1.0);
        layers[0].relu = true;
        let c = Chain::new(layers, head);
        let inline = [16, 32].contains(&np);
        for kern in Kernel::available() {
            let name = kern.name();
            let simd = kern != Kernel::portable();
            let finite: Vec<f32> = (0..k).map(|i| i as f32 * 0.1).collect();
            let mut a = vec![0.0f32; len];
            let run = kern.chain_from(&mut a, Some(&finite), &c, true);
            assert_eq!(
                run,
                ChainRun::Ran {
                    input_finite: simd && inline
                },
                "{name} {dims:?}"
            );
            // Features past the first layer's width are not seen.
            let mut longer = finite.clone();
            longer.push(f32::NAN);
            let run = kern.chain_from(&mut a, Some(&longer), &c, true);
            assert_eq!(
                run,
                ChainRun::Ran {
                    input_finite: false
                },
                "{name} {dims:?}"
            );
            // Large weights overflow a finite input: not proven, and not wrongly refused.
            let huge: Vec<f32> = vec![3e38; k];
            let run = kern.chain_from(&mut a, Some(&huge), &c, true);
            assert_eq!(
                run,
                ChainRun::Ran {
                    input_finite: false
                },
                "{name} {dims:?}"
            );
            for j in [0, zero_row, k - 1] {
                for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut x = finite.clone();
                    x[j] = v;
                    let run = kern.chain_from(&mut a, Some(&x), &c, true);
                    assert_eq!(
                        run,
                        ChainRun::Ran {
                            input_finite: false
                        },
                        "{name} [{j}] = {v}"
                    );
                }
            }
        }
    }
}

#[test]
fn chains_that_do_not_fit_are_refused() {
    let mut rng = Rng(bead_testkit::Rng::new(45));
    let (c, _, _) = build(&mut rng, &[8, 16, 4], Some(4));
    let len = c.extent().unwrap();
    for kern in Kernel::available() {
        let mut a = vec![1.0f32; len - 1];
        assert!(!kern.chain(&mut a, &c, true));
        assert!(a.iter().all(|v| *v == 1.0));
        let mut a = vec![1.0f32; 3 * len];
        assert!(!kern.chain_rows(&mut a, len, 4, &c, None));
        assert!(!kern.chain_rows(&mut a, len - 1, 2, &c, None));
        assert!(a.iter().all(|v| *v == 1.0));
        assert!(kern.chain_rows(&mut a, len, 3, &c, None));
    }
    // A layer that reads its own output.
    let (mut layers, head) = c.into_parts();
    let dst = layers[1].dst;
    layers[1].src = dst;
    let bad = Chain::new(layers, head);
    assert_eq!(bad.extent(), None);
    let (mut layers, head) = bad.into_parts();
    layers[1].src = 0;
    layers[0].b.pop();
    let bad = Chain::new(layers, head);
    assert_eq!(bad.extent(), None);
    let (mut layers, head) = bad.into_parts();
    layers[0].b.push(0.0);
    assert!(Chain::new(layers, head).extent().is_some());
}

/// The map and the chain in one call: the bits of the map then the chain as separate calls,
/// the event left alone, and `Some(true)` exactly when the event is all finite.
#[test]
fn map_then_chain_in_one_call_matches_the_two_calls() {
    use crate::kernels::{BinOp, MapOp, UnaryOp};
    let mut rng = Rng(bead_testkit::Rng::new(47));
    for dims in [[57, 32, 16], [20, 16, 16], [9, 48, 16], [16, 16, 5]] {
        let (c, len, _) = build(&mut rng, &dims, Some(5));
        let k = dims[0];
        // The map writes where the chain's first layer reads (offset 0 in `build`).
        let mut consts = || (0..k).map(|_| rng.next() * 2.0).collect::<Vec<f32>>();
        let ops = vec![
            MapOp::bin(BinOp::Sub, consts(), false),
            MapOp::bin(BinOp::Mul, consts(), false),
            MapOp::bin(BinOp::Max, vec![-1.0; k], false),
            MapOp::bin(BinOp::Min, vec![1.0; k], false),
            MapOp::Unary(UnaryOp::Abs),
        ];
        for kern in Kernel::available() {
            let name = kern.name();
            for bad in [
                None,
                Some(f32::NAN),
                Some(f32::INFINITY),
                Some(f32::NEG_INFINITY),
            ] {
                let mut event: Vec<f32> = (0..k).map(|_| rng.next() * 3.0).collect();
                if let Some(v) = bad {
                    event[rng.usize(k)] = v;
                }
                let mut want = vec![-7.0f32; len];
                assert!(kern.map(&ops, &event, &mut want[..k]));
                assert!(kern.chain(&mut want, &c, true));
                let mut got = vec![-7.0f32; len];
                let finite = kern.map_chain(&ops, &event, &mut got, 0, &c);
                assert_eq!(finite, Some(bad.is_none()), "{name} {dims:?} {bad:?}");
                assert!(
                    got.iter().zip(&want).all(|(g, w)| same(*g, *w)),
                    "{name} {dims:?}"
                );
            }
            // Refused: an op that does not fit, an output past the arena.
            let event = vec![0.5f32; k];
            let mut a = vec![-7.0f32; len];
            assert_eq!(kern.map_chain(&ops, &event[1..], &mut a, 0, &c), None);
            assert_eq!(kern.map_chain(&ops, &event, &mut a, len - k + 1, &c), None);
            assert!(a.iter().all(|v| *v == -7.0));
        }
    }
}
