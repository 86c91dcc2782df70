//! Rewrites of the lowered steps that make the per-event path short.
//!
//! Constant folding happens earlier, during lowering: a node whose inputs are all constants
//! becomes a constant, never a step. Here:
//!
//! - **affine folding into the next gemv**: `(x ∘ c) · W + b` with per-column constants `c`
//!   (`Add`/`Sub`/`Mul`/`Div`, as the exported `(u − mean) / std`, a BatchNormalization or a
//!   foreign model's `(x − offset) · scale`) is folded into `W` and `b`, in f64, through any
//!   number of such steps in a row. This is exact algebra (it only changes rounding); nothing
//!   is folded through a `Min`, `Max` or `Relu` (a `Clip`), which would not be;
//! - **bias, scale and ReLU fusion**: `x · W + b → Add(c) / Mul(c) / Div(c) → Relu` becomes
//!   one gemv (the column scale folded into `W` and `b`);
//! - **sum of squares**: `Mul(x, x) → ReduceSum` becomes one reduction;
//! - **elementwise chains**: what remains of `Add`/`Sub`/`Mul`/`Div`/`Min`/`Max` against
//!   constants and `Neg`/`Abs`/`Relu` becomes [`Step::Map`], and consecutive maps merge into
//!   one pass that executes every operation as written (same bits as the separate steps);
//! - **dead-step elimination**: steps whose result reaches no output are dropped.
//!
//! A rewrite only applies when the intermediate it removes has exactly one reader and is not
//! a graph output. Who reads and writes each buffer is indexed once ([`Uses`]) and updated by
//! each rewrite, so that fusion is linear in the number of steps.

use std::collections::{HashMap, HashSet};

use super::ir::{Buf, Step};
use crate::kernels::{self, BinOp, MapOp, ReduceOp, UnaryOp};

/// Runs every fusion on `steps` (buffer ids, before layout); `caps` grows when a gemv's padded
/// output takes over the buffer of the step it absorbs.
pub(super) fn fuse(steps: &mut [Step], caps: &mut [usize], outputs: &[usize]) {
    let mut uses = Uses::new(steps, outputs);
    let gemvs: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Gemv { .. }))
        .map(|(i, _)| i)
        .collect();
    for &g in &gemvs {
        fold_input_constants(steps, &mut uses, g);
        fuse_bias_relu(steps, caps, &mut uses, g);
    }
    fuse_sum_of_squares(steps, &mut uses);
    to_maps(steps);
    merge_maps(steps, &mut uses);
    // Last: the folds above read and write `w` as a plain `[k, np]` matrix.
    for s in steps.iter_mut() {
        if let Step::Gemv { w, .. } = s {
            *w = kernels::align_weights(w);
        }
    }
}

/// Every remaining elementwise step against constants (or cheap unary step) becomes a one-op
/// [`Step::Map`] (same inputs and output, so the [`Uses`] index stays valid).
fn to_maps(steps: &mut [Step]) {
    for s in steps.iter_mut() {
        let map = match s {
            Step::BinConst {
                op,
                src,
                c,
                const_left,
                dst,
            } if MapOp::fusable_bin(*op) && src.len == dst.len && c.len() == dst.len => Step::Map {
                ops: vec![MapOp::bin(*op, std::mem::take(c), *const_left)],
                src: *src,
                dst: *dst,
            },
            Step::Unary { op, src, dst } if MapOp::fusable_unary(*op) && src.len == dst.len => {
                Step::Map {
                    ops: vec![MapOp::Unary(*op)],
                    src: *src,
                    dst: *dst,
                }
            }
            _ => continue,
        };
        *s = map;
    }
}

/// `Map(a) → Map(b)` through an intermediate read once: one map running `a` then `b`.
#[allow(clippy::while_let_loop)]
fn merge_maps(steps: &mut [Step], uses: &mut Uses) {
    for first in 0..steps.len() {
        loop {
            let Some(Step::Map { dst, .. }) = steps.get(first) else {
                break;
            };
            let mid = *dst;
            let Some(next) = uses.only_reader(mid.off) else {
                break;
            };
            let Some(Step::Map { src, dst, .. }) = steps.get(next) else {
                break;
            };
            if *src != mid || dst.len != mid.len {
                break;
            }
            uses.forget(first, steps);
            uses.forget(next, steps);
            let Some(Step::Map { ops, dst, .. }) = steps.get_mut(next) else {
                break;
            };
            let (more, out) = (std::mem::take(ops), *dst);
            if let Some(s) = steps.get_mut(next) {
                *s = Step::Nop;
            }
            if let Some(Step::Map { ops, dst, .. }) = steps.get_mut(first) {
                ops.extend(more);
                *dst = out;
            }
            uses.learn(first, steps);
        }
    }
}

// Each loop below looks at the current step, then rewrites `steps` mutably: a `while let`
// would keep the pattern's borrow of `steps` alive across the body.

/// (x ∘ c) · W + b with per-column constants: fold into W and b.
#[allow(clippy::while_let_loop)]
fn fold_input_constants(steps: &mut [Step], uses: &mut Uses, g: usize) {
    loop {
        let Some(Step::Gemv { src, .. }) = steps.get(g) else {
            break;
        };
        let src = *src;
        if uses.only_reader(src.off).is_none() {
            break;
        }
        let Some(p) = uses.producer(src.off) else {
            break;
        };
        let Some(Step::BinConst {
            op,
            src: x,
            c,
            const_left,
            dst,
        }) = steps.get(p)
        else {
            break;
        };
        let (op, x, const_left) = (*op, *x, *const_left);
        // Non-finite constants, or a division by zero, would turn the folded weights into
        // infinities and NaNs where the unfolded steps give finite results for most inputs.
        let foldable = c
            .iter()
            .all(|v| v.is_finite() && (op != BinOp::Div || *v != 0.0));
        if dst.len != src.len || x.len != src.len || c.len() != src.len || !foldable {
            break;
        }
        if !matches!(
            (op, const_left),
            (BinOp::Add | BinOp::Sub | BinOp::Mul, _) | (BinOp::Div, false)
        ) {
            break;
        }
        let c = c.clone();
        uses.forget(g, steps);
        uses.forget(p, steps);
        let Some(Step::Gemv { src, w, b, .. }) = steps.get_mut(g) else {
            break;
        };
        let np = b.len();
        let scale_rows = |w: &mut Vec<f32>, f: &dyn Fn(usize) -> f64| {
            for (i, row) in w.chunks_exact_mut(np).enumerate() {
                let s = f(i);
                row.iter_mut().for_each(|v| *v = (f64::from(*v) * s) as f32);
            }
        };
        let add_to_bias = |w: &[f32], b: &mut Vec<f32>, sign: f64| {
            let mut acc = vec![0.0f64; np];
            for (row, ci) in w.chunks_exact(np).zip(&c) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += f64::from(*ci) * f64::from(*v);
                }
            }
            for (bv, a) in b.iter_mut().zip(acc) {
                *bv = (f64::from(*bv) + sign * a) as f32;
            }
        };
        match (op, const_left) {
            (BinOp::Add, _) => add_to_bias(w, b, 1.0),
            (BinOp::Sub, false) => add_to_bias(w, b, -1.0),
            (BinOp::Sub, true) => {
                add_to_bias(w, b, 1.0);
                scale_rows(w, &|_| -1.0);
            }
            (BinOp::Mul, _) => {
                scale_rows(w, &|i| f64::from(c.get(i).copied().unwrap_or(0.0)));
            }
            (BinOp::Div, false) => {
                scale_rows(w, &|i| 1.0 / f64::from(c.get(i).copied().unwrap_or(0.0)));
            }
            // Refused above.
            _ => {}
        }
        *src = x;
        if let Some(s) = steps.get_mut(p) {
            *s = Step::Nop;
        }
        uses.learn(g, steps);
    }
}

/// x · W + b → Add(bias) → Relu.
#[allow(clippy::while_let_loop)]
fn fuse_bias_relu(steps: &mut [Step], caps: &mut [usize], uses: &mut Uses, g: usize) {
    loop {
        let Some(Step::Gemv { dst, relu, b, .. }) = steps.get(g) else {
            break;
        };
        let (dst, relu, np) = (*dst, *relu, b.len());
        let Some(r) = uses.only_reader(dst.off) else {
            break;
        };
        let new_dst = match steps.get(r) {
            Some(Step::BinConst {
                op: op @ (BinOp::Add | BinOp::Sub),
                c,
                const_left: false,
                src: s,
                dst: d,
            }) if !relu && s.len == d.len && c.len() == d.len && c.len() <= np => {
                let (sign, c, d) = (if *op == BinOp::Add { 1.0 } else { -1.0 }, c.clone(), *d);
                if let Some(Step::Gemv { b, .. }) = steps.get_mut(g) {
                    b.iter_mut().zip(&c).for_each(|(bv, cv)| *bv += sign * cv);
                }
                d
            }
            Some(Step::BinConst {
                op: BinOp::Add,
                c,
                const_left: true,
                src: s,
                dst: d,
            }) if !relu && s.len == d.len && c.len() == d.len && c.len() <= np => {
                let (c, d) = (c.clone(), *d);
                if let Some(Step::Gemv { b, .. }) = steps.get_mut(g) {
                    b.iter_mut().zip(&c).for_each(|(bv, cv)| *bv += cv);
                }
                d
            }
            Some(Step::BinConst {
                op: op @ (BinOp::Mul | BinOp::Div),
                c,
                const_left,
                src: s,
                dst: d,
            }) if !relu
                && (*op == BinOp::Mul || !*const_left)
                && s.len == d.len
                && c.len() == d.len
                && c.len() <= np
                && c.iter()
                    .all(|v| v.is_finite() && (*op == BinOp::Mul || *v != 0.0)) =>
            {
                // Scale output column j (its weights and bias) by c[j] (or 1 / c[j]), in f64.
                let div = *op == BinOp::Div;
                let scale: Vec<f64> = c
                    .iter()
                    .map(|v| {
                        let v = f64::from(*v);
                        if div { 1.0 / v } else { v }
                    })
                    .collect();
                let d = *d;
                if let Some(Step::Gemv { w, b, .. }) = steps.get_mut(g) {
                    for row in w
                        .chunks_exact_mut(np)
                        .chain(std::iter::once(b.as_mut_slice()))
                    {
                        for (v, s) in row.iter_mut().zip(&scale) {
                            *v = (f64::from(*v) * s) as f32;
                        }
                    }
                }
                d
            }
            Some(Step::Unary {
                op: UnaryOp::Relu,
                dst: d,
                ..
            }) if !relu => {
                let d = *d;
                if let Some(Step::Gemv { relu, .. }) = steps.get_mut(g) {
                    *relu = true;
                }
                d
            }
            _ => break,
        };
        if let Some(cap) = caps.get_mut(new_dst.off) {
            *cap = (*cap).max(np);
        }
        uses.forget(g, steps);
        uses.forget(r, steps);
        if let Some(Step::Gemv { dst, .. }) = steps.get_mut(g) {
            *dst = Buf {
                off: new_dst.off,
                len: np,
            };
        }
        if let Some(s) = steps.get_mut(r) {
            *s = Step::Nop;
        }
        uses.learn(g, steps);
    }
}

/// Mul(x, x) → ReduceSum  ⇒  ReduceSumSquares(x).
fn fuse_sum_of_squares(steps: &mut [Step], uses: &mut Uses) {
    for r in 0..steps.len() {
        let Some(Step::Reduce {
            op: ReduceOp::Sum,
            src,
            ..
        }) = steps.get(r)
        else {
            continue;
        };
        let src = *src;
        if uses.only_reader(src.off).is_none() {
            continue;
        }
        let Some(p) = uses.producer(src.off) else {
            continue;
        };
        let Some(Step::BinDyn {
            op: BinOp::Mul,
            a,
            b,
            ..
        }) = steps.get(p)
        else {
            continue;
        };
        if a != b {
            continue;
        }
        let a = *a;
        uses.forget(r, steps);
        uses.forget(p, steps);
        if let Some(Step::Reduce { op, src, .. }) = steps.get_mut(r) {
            *op = ReduceOp::SumSquares;
            *src = a;
        }
        if let Some(s) = steps.get_mut(p) {
            *s = Step::Nop;
        }
        uses.learn(r, steps);
    }
}

/// Replaces every step whose output reaches no graph output by a `Nop`, then drops the `Nop`s.
pub(super) fn eliminate_dead(steps: &mut Vec<Step>, outputs: &[usize]) {
    let mut live: HashSet<usize> = outputs.iter().copied().collect();
    for s in steps.iter_mut().rev() {
        match s.output() {
            Some(o) if live.contains(&o.off) => live.extend(s.inputs().iter().map(|b| b.off)),
            _ => *s = Step::Nop,
        }
    }
    steps.retain(|s| !matches!(s, Step::Nop));
}

/// Which steps read and which step writes each buffer id. Built once by [`fuse`]; each
/// rewrite [`forget`](Uses::forget)s the steps it changes and [`learn`](Uses::learn)s them
/// again afterwards.
struct Uses {
    /// Steps reading each buffer, once per input slot (`Mul(x, x)` reads `x` twice).
    readers: HashMap<usize, Vec<usize>>,
    /// The first step writing each buffer.
    producer: HashMap<usize, usize>,
    /// Graph outputs, which count as readers.
    outputs: Vec<usize>,
}

impl Uses {
    fn new(steps: &[Step], outputs: &[usize]) -> Self {
        let mut uses = Uses {
            readers: HashMap::new(),
            producer: HashMap::new(),
            outputs: outputs.to_vec(),
        };
        for i in 0..steps.len() {
            uses.learn(i, steps);
        }
        uses
    }

    /// Records what step `i` reads and writes.
    fn learn(&mut self, i: usize, steps: &[Step]) {
        let Some(s) = steps.get(i) else { return };
        for b in s.inputs() {
            self.readers.entry(b.off).or_default().push(i);
        }
        if let Some(o) = s.output() {
            let p = self.producer.entry(o.off).or_insert(i);
            *p = (*p).min(i);
        }
    }

    /// Removes what step `i` reads and writes (before the step is changed).
    fn forget(&mut self, i: usize, steps: &[Step]) {
        let Some(s) = steps.get(i) else { return };
        for b in s.inputs() {
            if let Some(r) = self.readers.get_mut(&b.off)
                && let Some(k) = r.iter().position(|x| *x == i)
            {
                r.swap_remove(k);
            }
        }
        if let Some(o) = s.output()
            && self.producer.get(&o.off) == Some(&i)
        {
            self.producer.remove(&o.off);
        }
    }

    /// The step writing buffer `id`.
    fn producer(&self, id: usize) -> Option<usize> {
        self.producer.get(&id).copied()
    }

    /// The step reading buffer `id` when it is its only reader (and `id` no graph output).
    fn only_reader(&self, id: usize) -> Option<usize> {
        match self.readers.get(&id).map(Vec::as_slice) {
            Some([r]) if !self.outputs.contains(&id) => Some(*r),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Plan, compile};
    use super::*;
    use crate::kernels::Kernel;
    use crate::onnx;

    fn plan(bytes: &[u8]) -> Plan {
        let proto = onnx::decode_model(bytes).unwrap();
        let order = onnx::validate(&proto).unwrap();
        compile(proto.graph.as_ref().unwrap(), &order, Kernel::detect()).unwrap()
    }

    /// The steps, a chain as its layers and head in brackets.
    fn kinds(p: &Plan) -> Vec<String> {
        let gemv = |relu: bool| if relu { "gemv+relu" } else { "gemv" };
        p.steps
            .iter()
            .map(|s| match s {
                Step::Map { .. } => "map".to_owned(),
                Step::Gemv { relu, .. } => gemv(*relu).to_owned(),
                Step::Reduce { .. } => "reduce".to_owned(),
                Step::Chain(c) => {
                    let mut v: Vec<&str> = c.layers().iter().map(|l| gemv(l.relu)).collect();
                    if c.head().is_some() {
                        v.push("sumsq");
                    }
                    format!("[{}]", v.join(", "))
                }
                _ => "other".to_owned(),
            })
            .collect()
    }

    #[test]
    fn imported_graph_is_one_map_three_gemvs_and_a_reduction() {
        let p = plan(&bead_testkit::models::axol1tl_imported(1));
        // The three gemvs and the Σμ² run as one chain (built after layout).
        assert_eq!(kinds(&p), ["map", "[gemv+relu, gemv+relu, gemv, sumsq]"]);
        // A single event goes through the map from where the caller holds it (no copy).
        assert!(p.direct_map && !p.direct_input);
        let bare = plan(&bead_testkit::models::axol1tl_bare(1));
        assert!(bare.direct_input && !bare.direct_map);
        let Some(Step::Map { ops, .. }) = p.steps.first() else {
            panic!("no map")
        };
        let names: Vec<_> = ops
            .iter()
            .map(|o| match o {
                MapOp::Bin { op, .. } => format!("{op:?}"),
                MapOp::Unary(u) => format!("{u:?}"),
            })
            .collect();
        assert_eq!(names, ["Sub", "Mul", "Max", "Min"]);
        // A division by zero before a Gemm is not folded (it stays an elementwise step).
        let mut g = crate::onnx::GraphBuilder::new("div0", 3);
        let c = g.constant("c", &[3], &[2.0, 0.0, 4.0]);
        let w = g.constant("w", &[3, 2], &[1.0; 6]);
        let d = g.op("Div", &[crate::onnx::EVENTS, &c], vec![]);
        let y = g.op("MatMul", &[&d, &w], vec![]);
        let score = g.reduce_sum(&y, 1, false);
        g.output(crate::onnx::SCORE, &score, &[]);
        let meta = crate::ModelMetadata::new(vec!["a".into(), "b".into(), "c".into()]);
        let bytes = crate::onnx::encode_model(&g.into_model(&meta));
        assert_eq!(kinds(&plan(&bytes)), ["map", "gemv", "reduce"]);
        // bead's export selects its columns with a Gather and joins the groups with a Concat;
        // with every column linear both are the identity and cost no step.
        let mut g = crate::onnx::GraphBuilder::new("identity", 3);
        let x = g.gather_columns(crate::onnx::EVENTS, &[0, 1, 2]);
        let x = g.op("Concat", &[&x], vec![crate::onnx::attr_int("axis", 1)]);
        let mean = g.constant("mean", &[3], &[0.5, -1.0, 2.0]);
        let x = g.op("Sub", &[&x, &mean], vec![]);
        let w = g.constant("w", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let y = g.op("MatMul", &[&x, &w], vec![]);
        let score = g.reduce_sum(&y, 1, false);
        g.output(crate::onnx::SCORE, &score, &[]);
        let meta = crate::ModelMetadata::new(vec!["a".into(), "b".into(), "c".into()]);
        let bytes = crate::onnx::encode_model(&g.into_model(&meta));
        assert_eq!(kinds(&plan(&bytes)), ["gemv", "reduce"]);
        // x = (1, 1, 1): x − mean = (0.5, 2, −1); · W = (0.5 + 6 − 5, 1 + 8 − 6) = (1.5, 3).
        let model = crate::Model::from_bytes(&bytes, "identity.onnx").unwrap();
        assert_eq!(model.session().score(&[1.0, 1.0, 1.0]).unwrap(), 4.5);
        // The bare MLP and bead's own export (standardisation folded into the first layer).
        for bytes in [
            bead_testkit::models::axol1tl_bare(1),
            bead_testkit::models::axol1tl(1),
        ] {
            assert_eq!(
                kinds(&plan(&bytes)),
                ["[gemv+relu, gemv+relu, gemv, sumsq]"]
            );
        }
    }
}
