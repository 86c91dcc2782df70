//! MatMul and Gemm: a per-event row times constant weights becomes one gemv; products of
//! constants are folded.

use super::{Builder, Val, attr_float, attr_int};
use crate::kernels::{self, BinOp};
use crate::onnx::pb;
use crate::plan::ir::{Buf, Step};
use crate::plan::shape::{broadcast_map, broadcast_shapes};
use crate::plan::tensor::{Const, ConstData};
use crate::plan::{CompileError, err};

/// A 2-D constant's values as `rows × cols` row-major, transposed when `trans`.
fn matrix(c: &Const, trans: bool, what: &str) -> Result<(usize, usize, Vec<f64>), CompileError> {
    let [r, k] = c.shape.as_slice() else {
        return err(format!("{what} of shape {:?} is not a matrix", c.shape));
    };
    let (r, k) = (*r, *k);
    let v = c.floats();
    if !trans {
        return Ok((r, k, v.iter().map(|x| f64::from(*x)).collect()));
    }
    let mut t = vec![0.0; r * k];
    for i in 0..r {
        for j in 0..k {
            if let (Some(d), Some(s)) = (t.get_mut(j * r + i), v.get(i * k + j)) {
                *d = f64::from(*s);
            }
        }
    }
    Ok((k, r, t))
}

/// `alpha · a · b` for `a` `[m, k]` and `b` `[k, n]`, accumulated in f64.
fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize, alpha: f64) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for (i, row) in out.chunks_exact_mut(n.max(1)).enumerate().take(m) {
        for (p, bp) in b.chunks_exact(n.max(1)).enumerate().take(k) {
            let aip = a.get(i * k + p).copied().unwrap_or(0.0);
            for (o, bv) in row.iter_mut().zip(bp) {
                *o += aip * bv;
            }
        }
        row.iter_mut().for_each(|o| *o *= alpha);
    }
    out
}

fn to_const(shape: Vec<usize>, v: &[f64]) -> Const {
    Const {
        shape,
        data: ConstData::F(v.iter().map(|x| *x as f32).collect()),
    }
}

impl Builder {
    /// The per-event row input `[N, k]` of a MatMul/Gemm.
    fn row_input(&self, node: &pb::NodeProto) -> Result<(Buf, usize), CompileError> {
        match self.input(node, 0)? {
            Val::Dyn { buf, dims } if dims.len() == 1 => Ok((buf, buf.len)),
            Val::Dyn { dims, .. } => err(format!(
                "{} input of shape [N, {dims:?}]: only [N, k] rows are supported",
                node.op_type
            )),
            Val::Const(_) => err(format!("{} with a constant first input", node.op_type)),
        }
    }

    pub(super) fn lower_matmul(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let b = match self.input(node, 1)? {
            Val::Const(c) => c,
            Val::Dyn { .. } => {
                return err(
                    "MatMul of two per-event tensors is not supported (weights must be constant)",
                );
            }
        };
        if let Val::Const(a) = self.input(node, 0)? {
            // numpy semantics for 1-D operands: promoted to a row / a column, then dropped.
            let a2 = match a.shape.len() {
                1 => Const {
                    shape: [&[1], a.shape.as_slice()].concat(),
                    data: a.data.clone(),
                },
                _ => a.clone(),
            };
            let b2 = match b.shape.len() {
                1 => Const {
                    shape: [b.shape.as_slice(), &[1]].concat(),
                    data: b.data.clone(),
                },
                _ => b.clone(),
            };
            let (m, k, av) = matrix(&a2, false, "MatMul A")?;
            let (k2, n, bv) = matrix(&b2, false, "MatMul B")?;
            if k != k2 {
                return err(format!("MatMul of {:?} and {:?}", a.shape, b.shape));
            }
            let mut shape = Vec::new();
            if a.shape.len() == 2 {
                shape.push(m);
            }
            if b.shape.len() == 2 {
                shape.push(n);
            }
            return Ok(Val::Const(to_const(shape, &matmul(&av, &bv, m, k, n, 1.0))));
        }
        let (buf, k) = self.row_input(node)?;
        let (vector, w) = match b.shape.as_slice() {
            [bk] if *bk == k => (true, b.floats()),
            [bk, _] if *bk == k => (false, b.floats()),
            s => {
                return err(format!("MatMul weights of shape {s:?} for input width {k}"));
            }
        };
        let m = if vector {
            1
        } else {
            b.shape.get(1).copied().unwrap_or(0)
        };
        let v = self.gemv(buf, k, m, &w, vec![0.0; m])?;
        Ok(match v {
            // [N, k] x [k] is [N]: one float per event.
            Val::Dyn { buf, .. } if vector => Val::Dyn { buf, dims: vec![] },
            v => v,
        })
    }

    pub(super) fn lower_gemm(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let trans_a = attr_int(node, "transA", 0) != 0;
        let trans_b = attr_int(node, "transB", 0) != 0;
        let alpha = attr_float(node, "alpha", 1.0);
        let beta = attr_float(node, "beta", 1.0);
        let c = self.opt_input(node, 2)?;
        let b = match self.input(node, 1)? {
            Val::Const(b) => b,
            Val::Dyn { .. } => {
                return err("Gemm with a per-event B is not supported (weights must be constant)");
            }
        };
        let (wk, m, wv) = matrix(&b, trans_b, "Gemm B")?;
        let x = self.input(node, 0)?;
        if let Val::Const(a) = x {
            let (rows, k, av) = matrix(&a, trans_a, "Gemm A")?;
            if k != wk {
                return err(format!("Gemm of {:?} and {:?}", a.shape, b.shape));
            }
            let ab = Val::Const(to_const(
                vec![rows, m],
                &matmul(&av, &wv, rows, k, m, f64::from(alpha)),
            ));
            return match c {
                None => Ok(ab),
                Some(c) => {
                    let bc = self.lower_binary(BinOp::Mul, c, super::scalar(beta))?;
                    self.lower_binary(BinOp::Add, ab, bc)
                }
            };
        }
        if trans_a {
            return err(
                "Gemm with transA = 1 on the per-event input would mix events (the batch must be the first axis of A)",
            );
        }
        let (buf, k) = self.row_input(node)?;
        if wk != k {
            return err(format!("Gemm B of shape {:?} for input width {k}", b.shape));
        }
        let w: Vec<f32> = wv.iter().map(|v| (f64::from(alpha) * v) as f32).collect();
        match c {
            None => self.gemv(buf, k, m, &w, vec![0.0; m]),
            Some(Val::Const(c)) => {
                // C broadcasts to [N, m]; per event it must be a row (or a scalar).
                let row: Vec<usize> = match c.shape.as_slice() {
                    [1, rest @ ..] if c.shape.len() == 2 => rest.to_vec(),
                    [_, _] => {
                        return err(format!("Gemm C of shape {:?} is not a row", c.shape));
                    }
                    s => s.to_vec(),
                };
                if broadcast_shapes(&row, &[m]).as_deref() != Some(&[m]) {
                    return err(format!("Gemm C of shape {:?} for width {m}", c.shape));
                }
                let cf = c.floats();
                let bias = broadcast_map(&row, &[m])
                    .iter()
                    .map(|i| beta * cf.get(*i as usize).copied().unwrap_or(0.0))
                    .collect();
                self.gemv(buf, k, m, &w, bias)
            }
            Some(cd @ Val::Dyn { .. }) => {
                // A per-event C (a residual): gemv, then add beta · C.
                let y = self.gemv(buf, k, m, &w, vec![0.0; m])?;
                let bc = if beta == 1.0 {
                    cd
                } else {
                    self.lower_binary(BinOp::Mul, cd, super::scalar(beta))?
                };
                self.lower_binary(BinOp::Add, y, bc)
            }
        }
    }

    /// Adds a gemv with `w` given as `[k, m]` row-major; output dims `[m]`.
    pub(super) fn gemv(
        &mut self,
        src: Buf,
        k: usize,
        m: usize,
        w: &[f32],
        b: Vec<f32>,
    ) -> Result<Val, CompileError> {
        if k == 0 || m == 0 {
            return err(format!("empty weight matrix [{k}, {m}]"));
        }
        let np = kernels::padded(m);
        let mut wp = vec![0.0; k * np];
        for (dst_row, src_row) in wp.chunks_exact_mut(np).zip(w.chunks_exact(m)) {
            for (d, s) in dst_row.iter_mut().zip(src_row) {
                *d = *s;
            }
        }
        let mut bp = b;
        bp.resize(np, 0.0);
        let dst = self.new_buf(np);
        self.push(Step::Gemv {
            src,
            w: wp,
            b: bp,
            relu: false,
            dst,
        });
        Ok(Val::Dyn {
            buf: Buf {
                off: dst.off,
                len: m,
            },
            dims: vec![m],
        })
    }
}
