//! The last pass of [`compile`](super::compile), after layout: each run of consecutive
//! [`Step::Gemv`]s in which every gemv reads the previous one's output, with a
//! `SumSquares` [`Step::Reduce`] of the last output right after it, becomes one
//! [`Step::Chain`] (the layers of an MLP and its Σμ² score).
//!
//! A chain keeps every view it was built from (each layer still writes its output where the
//! gemv did), so nothing about the layout or the other steps changes; only the dispatch between
//! the steps goes, and the kernels can keep a layer's output in registers for the next one.

use super::ir::{Buf, Step};
use crate::kernels::{Chain, Dense, ReduceOp, SumSq};

/// A chain being built: its layers and head.
type Run = (Vec<Dense>, Option<SumSq>);

/// Replaces runs of gemvs (and their sum-of-squares head) by chains.
pub(super) fn build_chains(steps: &mut Vec<Step>) {
    let mut out = Vec::with_capacity(steps.len());
    let mut cur: Option<Run> = None;
    for s in steps.drain(..) {
        let last = cur
            .as_ref()
            .filter(|c| c.1.is_none())
            .and_then(|c| c.0.last())
            .map(|l| (l.dst, l.b.len()));
        match s {
            Step::Gemv {
                src,
                w,
                b,
                relu,
                dst,
            } => {
                let layer = Dense {
                    src: src.off,
                    k: src.len,
                    w,
                    b,
                    relu,
                    dst: dst.off,
                };
                match (&mut cur, last) {
                    (Some(c), Some((off, np))) if off == src.off && src.len <= np => {
                        c.0.push(layer);
                    }
                    _ => {
                        flush(cur.take(), &mut out);
                        cur = Some((vec![layer], None));
                    }
                }
            }
            Step::Reduce {
                op: ReduceOp::SumSquares,
                src,
                inner,
                dst,
            } if last.is_some_and(|(off, np)| off == src.off && src.len <= np)
                && inner == src.len
                && dst.len == 1 =>
            {
                if let Some(c) = &mut cur {
                    c.1 = Some(SumSq {
                        src: src.off,
                        len: src.len,
                        dst: dst.off,
                    });
                }
            }
            other => {
                flush(cur.take(), &mut out);
                out.push(other);
            }
        }
    }
    flush(cur, &mut out);
    *steps = out;
}

/// Appends the chain: as a [`Step::Chain`], or a lone gemv as the [`Step::Gemv`] it was.
fn flush(c: Option<Run>, out: &mut Vec<Step>) {
    let Some((mut layers, head)) = c else { return };
    if layers.len() == 1 && head.is_none() {
        if let Some(l) = layers.pop() {
            let np = l.b.len();
            out.push(Step::Gemv {
                src: Buf {
                    off: l.src,
                    len: l.k,
                },
                w: l.w,
                b: l.b,
                relu: l.relu,
                dst: Buf {
                    off: l.dst,
                    len: np,
                },
            });
        }
    } else {
        out.push(Step::Chain(Box::new(Chain::new(layers, head))));
    }
}
