//! ROOT input (`.root` files): one TTree per file, flat or NanoAOD-style.
//!
//! * **Reader**: our own, read-only and pure Rust (`file`: header, keys, ZLIB / LZMA / LZ4 /
//!   ZSTD blocks; `tree`: `TTree`, `TBranch`, `TLeaf` and baskets). Every length and offset in
//!   the file is checked before use, so a truncated or corrupt file is [`DataError::Root`],
//!   not a panic. The `oxyroot` crate was the candidate; it cannot be built into this
//!   workspace (its `xz2` → `lzma-sys` and burn's CUDA toolchain → `liblzma-sys` both link
//!   `lzma`, which Cargo refuses in one lock file), panics on ZSTD baskets, and compiles two C
//!   libraries.
//! * **Tree**: [`RootSpec::tree`], else the only `TTree` of the file, else `Events`; otherwise
//!   [`DataError::NoTree`] lists the trees.
//! * **Columns**: every top-level branch is a column named like the branch, with the same
//!   rules as Parquet columns (numbers become `f32` features, `source` may be a string or an
//!   integer, `weight` / `event_id` / `process` are metadata). Booleans, fixed-size arrays,
//!   leaf lists and object branches cannot be features; variable-length arrays only through
//!   the mapping below.
//! * **Mapping** ([`RootSpec`]): each requested feature that the mapping covers and whose
//!   branches exist becomes a column of its own: an object slot (sorted by `sort_by`,
//!   descending, ties in file order; zero-padded and truncated) or a renamed per-event branch;
//!   else a branch named like the feature; else 0 when it is in `zero`; else an error naming
//!   the file, the tree and the branch looked for.

mod file;
mod spec;
mod tree;

use std::collections::{HashMap, HashSet};
use std::path::Path;

pub use spec::RootSpec;

use super::DataError;
use super::inspect::{ColInfo, FileInfo, Format, Kind};
use super::load::{Ctx, LocalLabels, Out, PassSlice, Target, targets};
use super::table::DataSpec;
use file::{RootFile, RootOpenError};
use spec::Mapped;
use tree::{Prim, Shape, Tree, Values, read_branch, read_tree};

/// Where a column of a ROOT file comes from.
#[derive(Debug, Clone)]
enum Source {
    Branch(usize),
    Object {
        /// branch of the field
        field: usize,
        /// branch the collection is sorted by
        sort: usize,
        slot: usize,
    },
    Zero,
}

/// What inspection learnt about a ROOT file; `ColInfo::index` points into `sources`.
pub(super) struct RootInfo {
    pub(super) tree: String,
    parsed: Tree,
    sources: Vec<Source>,
}

fn root_err(path: &Path, message: String) -> DataError {
    DataError::Root {
        path: path.to_path_buf(),
        message,
    }
}

fn open(path: &Path) -> Result<RootFile, DataError> {
    RootFile::open(path).map_err(|e| match e {
        RootOpenError::Io(source) => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
        RootOpenError::Format(m) => root_err(path, m),
    })
}

fn kind_of(shape: &Shape, tree: &str) -> Kind {
    match shape {
        Shape::Scalar(Prim::Str) => Kind::Str,
        Shape::Scalar(p) if p.is_float() => Kind::Float,
        Shape::Scalar(Prim::Bool) => Kind::Other(format!("bool branch in tree `{tree}`")),
        Shape::Scalar(_) => Kind::Int,
        other => Kind::Other(format!("{} branch in tree `{tree}`", other.describe())),
    }
}

pub(super) fn inspect_root(path: &Path, spec: &DataSpec) -> Result<FileInfo, DataError> {
    let rs = &spec.root;
    rs.check().map_err(DataError::InvalidSpec)?;
    let mut file = open(path)?;
    // The highest cycle of each TTree key.
    let mut trees: Vec<(String, i16, u64)> = Vec::new();
    let mut others = Vec::new();
    for k in &file.keys {
        if k.class != "TTree" {
            others.push(format!("{} ({})", k.name, k.class));
            continue;
        }
        match trees.iter_mut().find(|t| t.0 == k.name) {
            Some(t) if t.1 < k.cycle => *t = (k.name.clone(), k.cycle, k.seek),
            Some(_) => {}
            None => trees.push((k.name.clone(), k.cycle, k.seek)),
        }
    }
    let names: Vec<String> = trees.iter().map(|t| t.0.clone()).collect();
    let no_tree = |wanted: Option<String>| DataError::NoTree {
        path: path.to_path_buf(),
        wanted,
        trees: names.clone(),
        others: others.clone(),
    };
    let chosen = match &rs.tree {
        Some(t) => trees
            .iter()
            .find(|x| &x.0 == t)
            .ok_or_else(|| no_tree(Some(t.clone())))?,
        None if trees.len() == 1 => &trees[0],
        None => trees
            .iter()
            .find(|x| x.0 == "Events")
            .ok_or_else(|| no_tree(None))?,
    };
    let (tree_name, seek) = (chosen.0.clone(), chosen.2);
    let parsed = read_tree(&mut file, seek)
        .map_err(|e| root_err(path, format!("tree `{tree_name}`: {e}")))?;
    if parsed.entries == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let branch_err = |branch: &str, message: String| DataError::RootBranch {
        path: path.to_path_buf(),
        tree: tree_name.clone(),
        branch: branch.to_string(),
        message,
    };
    let mut columns = Vec::new();
    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    for (bi, b) in parsed.branches.iter().enumerate() {
        if !seen.insert(b.name.clone()) {
            return Err(DataError::DuplicateColumn {
                path: path.to_path_buf(),
                column: b.name.clone(),
            });
        }
        columns.push(ColInfo {
            name: b.name.clone(),
            kind: kind_of(&b.shape, &tree_name),
            index: sources.len(),
            physical: None,
            max_def: 0,
        });
        sources.push(Source::Branch(bi));
    }
    let find = |name: &str| parsed.branches.iter().position(|b| b.name == name);
    let jagged_number = |name: &str, feature: &str| -> Result<Option<usize>, DataError> {
        let Some(bi) = find(name) else {
            return Ok(None);
        };
        match &parsed.branches[bi].shape {
            Shape::Jagged(p) if *p != Prim::Bool => Ok(Some(bi)),
            other => Err(branch_err(
                name,
                format!(
                    "feature `{feature}` needs a variable-length array of numbers; the branch \
                     holds {}",
                    other.describe()
                ),
            )),
        }
    };
    for feature in spec.features.iter().flatten() {
        let source = match rs.map(feature) {
            Mapped::Object {
                collection,
                field,
                slot,
            } => {
                let field_name = format!("{collection}_{field}");
                let sort_name = format!("{collection}_{}", rs.sort_by);
                match jagged_number(&field_name, feature)? {
                    Some(fb) => {
                        let sb = jagged_number(&sort_name, feature)?.ok_or_else(|| {
                            branch_err(
                                &sort_name,
                                format!(
                                    "no such branch (collection `{collection}` is sorted by it \
                                     for feature `{feature}`)"
                                ),
                            )
                        })?;
                        Some(Source::Object {
                            field: fb,
                            sort: sb,
                            slot,
                        })
                    }
                    None => None,
                }
            }
            Mapped::Single { branch } if &branch != feature => find(&branch).map(Source::Branch),
            _ => None,
        };
        let source = match source {
            Some(s) => s,
            None if find(feature).is_some() => continue,
            None if rs.zero.contains(feature) => Source::Zero,
            None => {
                let looked = match rs.map(feature) {
                    Mapped::Object {
                        collection, field, ..
                    } => format!(" (nor `{collection}_{field}` of collection `{collection}`)"),
                    Mapped::Single { branch } if &branch != feature => {
                        format!(" (nor `{branch}`)")
                    }
                    _ => String::new(),
                };
                return Err(branch_err(
                    feature,
                    format!(
                        "no such branch{looked}; branches are: {}",
                        branch_list(&parsed)
                    ),
                ));
            }
        };
        let kind = match &source {
            Source::Branch(bi) => kind_of(&parsed.branches[*bi].shape, &tree_name),
            _ => Kind::Float,
        };
        let col = ColInfo {
            name: feature.clone(),
            kind,
            index: sources.len(),
            physical: None,
            max_def: 0,
        };
        sources.push(source);
        // The mapping wins over a branch named like the feature.
        match columns.iter().position(|c| &c.name == feature) {
            Some(i) => columns[i] = col,
            None => columns.push(col),
        }
    }
    let rows = usize::try_from(parsed.entries).map_err(|_| {
        root_err(
            path,
            format!("tree `{tree_name}`: {} entries", parsed.entries),
        )
    })?;
    Ok(FileInfo {
        path: path.to_path_buf(),
        format: Format::Root,
        columns,
        rows,
        groups: vec![rows],
        root: Some(RootInfo {
            tree: tree_name,
            parsed,
            sources,
        }),
    })
}

fn branch_list(t: &Tree) -> String {
    let names: Vec<&str> = t.branches.iter().map(|b| b.name.as_str()).collect();
    if names.len() > 40 {
        format!("{}, ... ({} in all)", names[..40].join(", "), names.len())
    } else {
        names.join(", ")
    }
}

/// A branch read once per job, with its entry offsets when jagged.
type Read = (Values, Option<Vec<usize>>);

/// Fill one ROOT file's slices of the outputs.
pub(super) fn run_root(
    ctx: &Ctx<'_>,
    fi: usize,
    rows: usize,
    out: &mut Out<'_>,
    local: &mut LocalLabels,
) -> Result<(), DataError> {
    let f = &ctx.files[fi];
    let path = &f.path;
    let info = f.root.as_ref().ok_or_else(|| {
        root_err(
            path,
            "internal: ROOT file without its tree information".into(),
        )
    })?;
    let nf = ctx.plan.feature_names.len();
    let mut file = open(path)?;
    let mut cache: HashMap<usize, Read> = HashMap::new();
    let branch_err = |bi: usize, message: String| DataError::RootBranch {
        path: path.clone(),
        tree: info.tree.clone(),
        branch: info.parsed.branches[bi].name.clone(),
        message,
    };
    let mut load = |bi: usize, cache: &mut HashMap<usize, Read>| -> Result<(), DataError> {
        if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(bi) {
            let r = read_branch(&mut file, &info.parsed.branches[bi], rows as u64)
                .map_err(|m| branch_err(bi, m))?;
            e.insert(r);
        }
        Ok(())
    };
    // Per sort branch: the number of slots asked for, then the order of each event's objects.
    let mut slots: HashMap<usize, usize> = HashMap::new();
    let tg = targets(ctx, fi);
    for &(ci, _) in &tg {
        if let Source::Object { sort, slot, .. } = info.sources[f.columns[ci].index] {
            let k = slots.entry(sort).or_insert(0);
            *k = (*k).max(slot + 1);
        }
    }
    let mut orders: HashMap<usize, Vec<u32>> = HashMap::new();
    for (&sort, &k) in &slots {
        load(sort, &mut cache)?;
        let (vals, offsets) = &cache[&sort];
        let offsets = offsets.as_deref().unwrap_or(&[]);
        orders.insert(sort, order(vals, offsets, k));
    }
    for &(ci, target) in &tg {
        let col = &f.columns[ci];
        let bad = |row: usize, value: f64| DataError::NonFinite {
            path: path.clone(),
            column: col.name.clone(),
            row,
            value,
        };
        match (&info.sources[col.index], target) {
            (Source::Zero, Target::Feature(j)) => {
                for r in 0..rows {
                    out.features[r * nf + j] = 0.0;
                }
            }
            (&Source::Object { field, sort, slot }, Target::Feature(j)) => {
                load(field, &mut cache)?;
                let (vals, off) = &cache[&field];
                let off = off.as_deref().unwrap_or(&[]);
                let sort_off = cache[&sort].1.as_deref().unwrap_or(&[]);
                if let Some(r) =
                    (0..rows).find(|&r| off[r + 1] - off[r] != sort_off[r + 1] - sort_off[r])
                {
                    return Err(branch_err(
                        field,
                        format!(
                            "row {r}: {} values, but `{}` has {}",
                            off[r + 1] - off[r],
                            info.parsed.branches[sort].name,
                            sort_off[r + 1] - sort_off[r]
                        ),
                    ));
                }
                let k = slots[&sort];
                let ord = &orders[&sort];
                for r in 0..rows {
                    let o = ord[r * k + slot];
                    let x = if o == u32::MAX {
                        0.0
                    } else {
                        let v = vals.num(off[r] + o as usize);
                        let x = v as f32;
                        if !x.is_finite() {
                            return Err(bad(r, v));
                        }
                        x
                    };
                    out.features[r * nf + j] = x;
                }
            }
            (&Source::Branch(bi), target) => {
                load(bi, &mut cache)?;
                let (vals, _) = &cache[&bi];
                let no_label = |row: usize| DataError::MissingSourceLabel {
                    path: path.clone(),
                    row,
                    column: col.name.clone(),
                };
                write_scalar(vals, target, rows, out, local, &bad, &no_label)?;
            }
            (_, _) => {
                return Err(root_err(
                    path,
                    format!("internal: column `{}` is not a branch", col.name),
                ));
            }
        }
    }
    Ok(())
}

/// The indices (within each event) of the `k` objects with the largest `vals`, `u32::MAX`
/// for empty slots; row-major `rows × k`.
fn order(vals: &Values, offsets: &[usize], k: usize) -> Vec<u32> {
    let rows = offsets.len().saturating_sub(1);
    let mut out = vec![u32::MAX; rows * k];
    let mut idx: Vec<u32> = Vec::new();
    for r in 0..rows {
        let (a, b) = (offsets[r], offsets[r + 1]);
        idx.clear();
        idx.extend(0..(b - a) as u32);
        // Stable: equal values keep their order in the file.
        idx.sort_by(|&x, &y| {
            vals.num(a + y as usize)
                .total_cmp(&vals.num(a + x as usize))
        });
        for (s, &i) in idx.iter().take(k).enumerate() {
            out[r * k + s] = i;
        }
    }
    out
}

fn write_scalar(
    vals: &Values,
    target: Target,
    rows: usize,
    out: &mut Out<'_>,
    local: &mut LocalLabels,
    bad: &dyn Fn(usize, f64) -> DataError,
    no_label: &dyn Fn(usize) -> DataError,
) -> Result<(), DataError> {
    let nf = out.features.len() / rows.max(1);
    match target {
        Target::Feature(_) | Target::Weight => {
            for r in 0..rows {
                let v = vals.num(r);
                let x = v as f32;
                if !x.is_finite() {
                    return Err(bad(r, v));
                }
                match target {
                    Target::Feature(j) => out.features[r * nf + j] = x,
                    _ => {
                        if let Some(w) = out.weights.as_deref_mut() {
                            w[r] = x;
                        }
                    }
                }
            }
        }
        Target::Label => {
            let Some(lab) = out.labels.as_deref_mut() else {
                return Ok(());
            };
            for (r, l) in lab.iter_mut().enumerate().take(rows) {
                *l = match vals {
                    Values::Str(v) if v[r].is_empty() => return Err(no_label(r)),
                    Values::Str(v) => local.intern(&v[r], r),
                    Values::I(v) => local.intern(&v[r].to_string(), r),
                    Values::F(v) => local.intern(&v[r].to_string(), r),
                };
            }
        }
        Target::Pass(k) => match &mut out.pass[k] {
            PassSlice::Str(d) => {
                for (r, d) in d.iter_mut().enumerate().take(rows) {
                    *d = match vals {
                        Values::Str(v) => v[r].clone(),
                        Values::I(v) => v[r].to_string(),
                        Values::F(v) => v[r].to_string(),
                    };
                }
            }
            PassSlice::I64(d) => {
                for (r, d) in d.iter_mut().enumerate().take(rows) {
                    *d = match vals {
                        Values::I(v) => v[r],
                        _ => vals.num(r) as i64,
                    };
                }
            }
            PassSlice::F64(d) => {
                for (r, d) in d.iter_mut().enumerate().take(rows) {
                    *d = vals.num(r);
                }
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests;
