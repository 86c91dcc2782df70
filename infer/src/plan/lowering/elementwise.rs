//! Activations, comparisons, casts and BatchNormalization, lowered onto the elementwise steps
//! the executor already has (so that fusion and SIMD apply to them):
//!
//! | ONNX | steps |
//! |---|---|
//! | `Clip(x, lo, hi)` | `Max(x, lo)`, `Min(·, hi)` |
//! | `LeakyRelu(x)` | `Mul(x, α)`, then `Max(x, ·)` (`Min` when α > 1) |
//! | `Elu(x)` | `Relu(x) + α·(Exp(Min(x, 0)) − 1)` |
//! | `Softplus(x)` | `Relu(x) − Log(Sigmoid(Abs(x)))`, which never overflows |
//! | `Pow(x, p)` | `Mul` chains for integer `p`, `Sqrt` for ½, else `Exp(p·Log(x))` |
//! | `BatchNormalization` | per-channel `Mul` and `Add` (folded statistics) |
//! | `Equal(a, b)` | `Less(Abs(a − b), f32::MIN_POSITIVE)` (false for NaN, as in ONNX) |
//! | `Not(x)` | `1 − x` |
//! | `Where(c, a, b)` | a select step |
//!
//! Comparisons produce 0.0 or 1.0 floats; on constants every operator is folded.

use super::{
    Builder, Val, attr, attr_float, attr_int, expand_const, fold_binary, per_event_shape, scalar,
};
use crate::kernels::{BinOp, UnaryOp};
use crate::onnx::pb;
use crate::plan::ir::{PartSrc, Step};
use crate::plan::shape::{broadcast_map, broadcast_shapes, numel};
use crate::plan::tensor::{Const, ConstData};
use crate::plan::{CompileError, err};
use pb::tensor_proto::DataType;

/// Largest integer exponent computed by repeated multiplication.
const MAX_INT_POW: i64 = 32;

impl Builder {
    pub(super) fn lower_cast(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let to = attr_int(node, "to", 0);
        let to_type = i32::try_from(to)
            .ok()
            .and_then(|t| DataType::try_from(t).ok());
        let x = self.input(node, 0)?;
        use DataType as D;
        let to_int = matches!(
            to_type,
            Some(
                D::Int8
                    | D::Int16
                    | D::Int32
                    | D::Int64
                    | D::Uint8
                    | D::Uint16
                    | D::Uint32
                    | D::Uint64,
            )
        );
        match (x, to_type) {
            (Val::Const(c), Some(D::Float | D::Double)) => Ok(Val::Const(Const {
                data: match c.data {
                    f @ ConstData::F(_) => f,
                    ConstData::I(v) => ConstData::F(v.iter().map(|x| *x as f32).collect()),
                },
                shape: c.shape,
            })),
            (Val::Const(c), Some(D::Float16)) => Ok(Val::Const(Const {
                data: ConstData::F(
                    c.floats()
                        .iter()
                        .map(|v| half::f16::from_f32(*v).to_f32())
                        .collect(),
                ),
                shape: c.shape,
            })),
            (Val::Const(c), Some(D::Bool)) => Ok(Val::Const(Const {
                data: ConstData::I(c.floats().iter().map(|v| i64::from(*v != 0.0)).collect()),
                shape: c.shape,
            })),
            (Val::Const(c), _) if to_int => Ok(Val::Const(Const {
                data: ConstData::I(match c.data {
                    ConstData::I(v) => v,
                    ConstData::F(v) => v.iter().map(|x| *x as i64).collect(),
                }),
                shape: c.shape,
            })),
            // Per-event values stay float32 (a double computation differs by round-off only).
            (v @ Val::Dyn { .. }, Some(D::Float | D::Double)) => Ok(v),
            (Val::Dyn { buf, dims }, Some(D::Bool)) if !self.bools.contains(&buf.off) => {
                // x ≠ 0, true for NaN as in ONNX.
                let z = self.lower_equal_vals(Val::Dyn { buf, dims }, scalar(0.0))?;
                self.lower_not_val(z)
            }
            (v @ Val::Dyn { buf, .. }, _)
                if (to_int || to_type == Some(D::Bool)) && self.bools.contains(&buf.off) =>
            {
                Ok(v)
            }
            (Val::Dyn { .. }, _) => err(format!(
                "Cast of per-event values to data type {to} (only to float, double, or of booleans)"
            )),
            (Val::Const(_), _) => err(format!("Cast to data type {to} is not supported")),
        }
    }

    pub(super) fn lower_clip(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        // Opset 6 has the bounds as attributes, opset 11 and later as optional inputs.
        let bound = |name: &str, i: usize| -> Result<Option<Val>, CompileError> {
            match attr(node, name) {
                Some(a) => Ok(Some(scalar(a.f))),
                None => self.opt_input(node, i),
            }
        };
        let (lo, hi) = (bound("min", 1)?, bound("max", 2)?);
        let mut x = self.input(node, 0)?;
        if let Some(lo) = lo {
            x = self.lower_binary(BinOp::Max, x, lo)?;
        }
        if let Some(hi) = hi {
            x = self.lower_binary(BinOp::Min, x, hi)?;
        }
        Ok(x)
    }

    pub(super) fn lower_pow(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let x = self.input(node, 0)?;
        let p = match self.input(node, 1)? {
            Val::Const(p) => p,
            Val::Dyn { .. } => return err("Pow with a per-event exponent is not supported"),
        };
        let x = match x {
            Val::Const(b) => return fold_pow(&b, &p).map(Val::Const),
            x => x,
        };
        let pf = p.floats();
        let uniform = pf.first().copied().filter(|f| pf.iter().all(|v| v == f));
        match uniform {
            Some(1.0) => Ok(x),
            Some(0.5) => Ok(self.unary(UnaryOp::Sqrt, x)),
            Some(e) if e.fract() == 0.0 && (e as i64).abs() <= MAX_INT_POW => {
                let n = e as i64;
                let mut r = if n == 0 {
                    // x⁰ = 1 for every x.
                    let z = self.lower_binary(BinOp::Mul, x.clone(), scalar(0.0))?;
                    self.lower_binary(BinOp::Add, z, scalar(1.0))?
                } else {
                    self.int_pow(x, n.unsigned_abs())?
                };
                if n < 0 {
                    r = self.lower_binary(BinOp::Div, scalar(1.0), r)?;
                }
                Ok(r)
            }
            _ => {
                let l = self.unary(UnaryOp::Log, x);
                let m = self.lower_binary(BinOp::Mul, l, Val::Const(p))?;
                Ok(self.unary(UnaryOp::Exp, m))
            }
        }
    }

    /// `x^n` for `n ≥ 1` by squaring (`x·x` is one step with both inputs equal, which fusion
    /// turns into a sum of squares under a ReduceSum).
    fn int_pow(&mut self, x: Val, n: u64) -> Result<Val, CompileError> {
        let mut acc: Option<Val> = None;
        let mut base = x;
        let mut n = n;
        loop {
            if n & 1 == 1 {
                acc = Some(match acc {
                    None => base.clone(),
                    Some(a) => self.lower_binary(BinOp::Mul, a, base.clone())?,
                });
            }
            n >>= 1;
            if n == 0 {
                break;
            }
            base = self.lower_binary(BinOp::Mul, base.clone(), base)?;
        }
        acc.map_or_else(|| err("Pow exponent 0"), Ok)
    }

    pub(super) fn lower_leaky_relu(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let alpha = attr_float(node, "alpha", 0.01);
        let x = self.input(node, 0)?;
        let ax = self.lower_binary(BinOp::Mul, x.clone(), scalar(alpha))?;
        // x for x ≥ 0, αx below: the larger of the two when α ≤ 1, the smaller when α > 1.
        let op = if alpha <= 1.0 { BinOp::Max } else { BinOp::Min };
        self.lower_binary(op, x, ax)
    }

    pub(super) fn lower_elu(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let alpha = attr_float(node, "alpha", 1.0);
        let x = self.input(node, 0)?;
        let pos = self.unary(UnaryOp::Relu, x.clone());
        let m = self.lower_binary(BinOp::Min, x, scalar(0.0))?;
        let e = self.unary(UnaryOp::Exp, m);
        let e1 = self.lower_binary(BinOp::Sub, e, scalar(1.0))?;
        let neg = self.lower_binary(BinOp::Mul, e1, scalar(alpha))?;
        self.lower_binary(BinOp::Add, pos, neg)
    }

    pub(super) fn lower_softplus(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        // log(1 + eˣ) = max(x, 0) + log(1 + e^−|x|) = max(x, 0) − log(sigmoid(|x|)).
        let x = self.input(node, 0)?;
        let pos = self.unary(UnaryOp::Relu, x.clone());
        let a = self.unary(UnaryOp::Abs, x);
        let s = self.unary(UnaryOp::Sigmoid, a);
        let l = self.unary(UnaryOp::Log, s);
        self.lower_binary(BinOp::Sub, pos, l)
    }

    pub(super) fn lower_batch_norm(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        if attr_int(node, "training_mode", 0) != 0 {
            return err("BatchNormalization in training mode");
        }
        let eps = f64::from(attr_float(node, "epsilon", 1e-5));
        let [scale, bias, mean, var] = [1, 2, 3, 4].map(|i| {
            self.const_input(node, i)
                .map(|c| (c.shape.clone(), c.into_floats()))
        });
        let (shape, scale) = scale?;
        let (bias, mean, var) = (bias?.1, mean?.1, var?.1);
        let n = scale.len();
        if bias.len() != n || mean.len() != n || var.len() != n {
            return err("BatchNormalization parameters of different lengths");
        }
        let mut a = Vec::with_capacity(n);
        let mut b = Vec::with_capacity(n);
        for i in 0..n {
            let at = |v: &[f32]| f64::from(v.get(i).copied().unwrap_or(0.0));
            let ai = at(&scale) / (at(&var) + eps).sqrt();
            a.push(ai as f32);
            b.push((at(&bias) - at(&mean) * ai) as f32);
        }
        let x = self.input(node, 0)?;
        let rank = match &x {
            Val::Const(c) => c.shape.len(),
            Val::Dyn { dims, .. } => dims.len() + 1,
        };
        // Channels are axis 1: per-channel parameters broadcast over the axes after it.
        let pshape: Vec<usize> = if shape.len() == 1 {
            std::iter::once(n)
                .chain(std::iter::repeat_n(1, rank.saturating_sub(2)))
                .collect()
        } else {
            shape
        };
        let c = |v: Vec<f32>| {
            Val::Const(Const {
                shape: pshape.clone(),
                data: ConstData::F(v.into()),
            })
        };
        let y = self.lower_binary(BinOp::Mul, x, c(a))?;
        self.lower_binary(BinOp::Add, y, c(b))
    }

    pub(super) fn lower_equal(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let (a, b) = (self.input(node, 0)?, self.input(node, 1)?);
        self.lower_equal_vals(a, b)
    }

    fn lower_equal_vals(&mut self, a: Val, b: Val) -> Result<Val, CompileError> {
        if let (Val::Const(x), Val::Const(y)) = (&a, &b) {
            // Equal is Sub folded to a boolean: exact for integers and floats alike.
            let d = fold_binary(BinOp::Sub, x, y)?;
            let data = match d.data {
                ConstData::I(v) => v.iter().map(|v| i64::from(*v == 0)).collect(),
                ConstData::F(v) => v.iter().map(|v| i64::from(*v == 0.0)).collect(),
            };
            return Ok(Val::Const(Const {
                shape: d.shape,
                data: ConstData::I(data),
            }));
        }
        // a − b is exactly 0 iff a = b (gradual underflow), and NaN compares false.
        let d = self.lower_binary(BinOp::Sub, a, b)?;
        let d = self.unary(UnaryOp::Abs, d);
        let e = self.lower_binary(BinOp::Less, d, scalar(f32::MIN_POSITIVE))?;
        self.mark_bool(&e);
        Ok(e)
    }

    pub(super) fn lower_not(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let x = self.input(node, 0)?;
        self.lower_not_val(x)
    }

    fn lower_not_val(&mut self, x: Val) -> Result<Val, CompileError> {
        if let Val::Const(c) = &x {
            return Ok(Val::Const(Const {
                shape: c.shape.clone(),
                data: ConstData::I(c.floats().iter().map(|v| i64::from(*v == 0.0)).collect()),
            }));
        }
        let v = self.lower_binary(BinOp::Sub, scalar(1.0), x)?;
        self.mark_bool(&v);
        Ok(v)
    }

    pub(super) fn lower_where(&mut self, node: &pb::NodeProto) -> Result<Val, CompileError> {
        let ops = [0, 1, 2].map(|i| self.input(node, i));
        let [c, a, b] = ops;
        let vals = [c?, a?, b?];
        let Some(rank) = vals.iter().find_map(|v| match v {
            Val::Dyn { dims, .. } => Some(dims.len() + 1),
            Val::Const(_) => None,
        }) else {
            let [c, a, b] = vals.map(|v| match v {
                Val::Const(c) => c,
                Val::Dyn { .. } => Const {
                    shape: vec![],
                    data: ConstData::F(vec![].into()),
                },
            });
            return fold_where(&c, &a, &b).map(Val::Const);
        };
        let shapes = vals
            .iter()
            .map(|v| match v {
                Val::Dyn { dims, .. } if dims.len() + 1 == rank => Ok(dims.clone()),
                Val::Dyn { dims, .. } => err(format!(
                    "Where of per-event tensors of ranks {} and {rank}",
                    dims.len() + 1
                )),
                Val::Const(c) => per_event_shape(c, rank),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut out: Vec<usize> = vec![];
        for s in &shapes {
            out = broadcast_shapes(&out, s).map_or_else(
                || {
                    err(format!(
                        "Where operands of shapes {shapes:?} do not broadcast"
                    ))
                },
                Ok,
            )?;
        }
        let mut srcs = Vec::with_capacity(3);
        for (v, s) in vals.into_iter().zip(&shapes) {
            srcs.push(match v {
                Val::Dyn { buf, .. } => PartSrc::Buf(self.expand(buf, s, &out)),
                Val::Const(c) => PartSrc::Const(expand_const(&c, s, &out)),
            });
        }
        let [cond, a, b]: [PartSrc; 3] = srcs
            .try_into()
            .map_or_else(|_| err("Where needs three inputs"), Ok)?;
        let dst = self.new_buf(numel(&out));
        self.push(Step::Where { cond, a, b, dst });
        Ok(Val::Dyn {
            buf: dst,
            dims: out,
        })
    }
}

/// `b^p` elementwise for constants, with broadcasting.
fn fold_pow(b: &Const, p: &Const) -> Result<Const, CompileError> {
    let shape = broadcast_shapes(&b.shape, &p.shape).map_or_else(
        || err(format!("cannot broadcast {:?} with {:?}", b.shape, p.shape)),
        Ok,
    )?;
    let (bf, pf) = (b.floats(), p.floats());
    let data = broadcast_map(&b.shape, &shape)
        .iter()
        .zip(broadcast_map(&p.shape, &shape))
        .map(|(i, j)| {
            let x = bf.get(*i as usize).copied().unwrap_or(0.0);
            x.powf(pf.get(j as usize).copied().unwrap_or(0.0))
        })
        .collect();
    Ok(Const {
        shape,
        data: ConstData::F(data),
    })
}

/// `Where` of three constants.
fn fold_where(c: &Const, a: &Const, b: &Const) -> Result<Const, CompileError> {
    let shape = broadcast_shapes(&c.shape, &a.shape)
        .and_then(|s| broadcast_shapes(&s, &b.shape))
        .map_or_else(|| err("Where operands do not broadcast"), Ok)?;
    let maps = [c, a, b].map(|t| broadcast_map(&t.shape, &shape));
    let [mc, ma, mb] = &maps;
    let cf = c.floats();
    let pick = |k: usize| {
        let i = mc.get(k).copied().unwrap_or(0) as usize;
        cf.get(i).is_some_and(|v| *v != 0.0)
    };
    let data = match (&a.data, &b.data) {
        (ConstData::I(x), ConstData::I(y)) => ConstData::I(
            (0..numel(&shape))
                .map(|k| {
                    let (src, m) = if pick(k) { (x, ma) } else { (y, mb) };
                    let i = m.get(k).copied().unwrap_or(0) as usize;
                    src.get(i).copied().unwrap_or(0)
                })
                .collect(),
        ),
        _ => {
            let (x, y) = (a.floats(), b.floats());
            ConstData::F(
                (0..numel(&shape))
                    .map(|k| {
                        let (src, m) = if pick(k) { (&x, ma) } else { (&y, mb) };
                        let i = m.get(k).copied().unwrap_or(0) as usize;
                        src.get(i).copied().unwrap_or(0.0)
                    })
                    .collect(),
            )
        }
    };
    Ok(Const { shape, data })
}
