//! The column plan: which column of each file is a feature (in model order), where the labels
//! come from, which column holds the weights and which columns pass through, checked against
//! every file before anything is decoded.

use std::collections::HashSet;

use super::DataError;
use super::inspect::{ColInfo, FileInfo, Format, Kind, csv_reader, is_number};
use super::table::DataSpec;

/// Column names that are never default features (besides the source, weight and passthrough
/// columns of the spec).
const ALWAYS_METADATA: [&str; 2] = ["event_id", "weight"];

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum PassKind {
    Str,
    I64,
    F64,
}

/// How each file's labels are obtained.
pub(super) enum LabelSource {
    None,
    File(String),
    Column,
}

pub(super) struct Plan {
    pub(super) feature_names: Vec<String>,
    /// per file: column info index for each feature
    pub(super) feature_cols: Vec<Vec<usize>>,
    pub(super) labels: Vec<LabelSource>,
    pub(super) source_column: String,
    pub(super) weight: Option<String>,
    pub(super) passthrough: Vec<(String, PassKind)>,
}

pub(super) fn plan(
    files: &[FileInfo],
    spec: &DataSpec,
    require_labels: bool,
) -> Result<Plan, DataError> {
    let source_column = spec.source_column().to_string();
    let mut meta: HashSet<&str> = ALWAYS_METADATA.iter().copied().collect();
    meta.insert(&source_column);
    if let Some(w) = &spec.weight_column {
        meta.insert(w);
    }
    for p in spec.passthrough.iter().chain(&spec.ignore) {
        meta.insert(p);
    }

    // features
    let feature_names: Vec<String> = match &spec.features {
        Some(list) => {
            if list.is_empty() {
                return Err(DataError::InvalidSpec("empty feature list".into()));
            }
            let mut seen = HashSet::new();
            for f in list {
                if !seen.insert(f.as_str()) {
                    return Err(DataError::InvalidSpec(format!("feature `{f}` named twice")));
                }
            }
            list.clone()
        }
        None => {
            let sets = files
                .iter()
                .map(|f| default_features(f, &meta))
                .collect::<Result<Vec<_>, _>>()?;
            let first = &sets[0];
            if first.is_empty() {
                return Err(DataError::NoFeatures {
                    path: files[0].path.clone(),
                    available: files[0].names(),
                });
            }
            let first_set: HashSet<&String> = first.iter().collect();
            for (f, set) in files.iter().zip(&sets).skip(1) {
                let this: HashSet<&String> = set.iter().collect();
                if this != first_set {
                    let extra = set
                        .iter()
                        .filter(|c| !first_set.contains(c))
                        .cloned()
                        .collect();
                    let missing = first
                        .iter()
                        .filter(|c| !this.contains(c))
                        .cloned()
                        .collect();
                    return Err(DataError::FeatureMismatch {
                        path: f.path.clone(),
                        reference: files[0].path.clone(),
                        extra,
                        missing,
                    });
                }
            }
            first.clone()
        }
    };
    let mut feature_cols = Vec::with_capacity(files.len());
    for f in files {
        let mut cols = Vec::with_capacity(feature_names.len());
        for name in &feature_names {
            let ci = f
                .columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| f.missing(name))?;
            check_numeric(f, &f.columns[ci])?;
            cols.push(ci);
        }
        feature_cols.push(cols);
    }

    // labels
    let mut labels = Vec::with_capacity(files.len());
    for f in files {
        let src = if let Some(l) = spec.file_label(&f.path)? {
            if l.is_empty() {
                return Err(DataError::InvalidSpec(format!(
                    "empty file label for `{}`",
                    f.path.display()
                )));
            }
            LabelSource::File(l.to_string())
        } else if let Some(c) = f.col(&source_column) {
            match c.kind {
                Kind::Str | Kind::Int => LabelSource::Column,
                _ => {
                    return Err(DataError::UnsupportedColumn {
                        path: f.path.clone(),
                        column: source_column.clone(),
                        detail: format!("{:?} source labels; expected string or integer", c.kind)
                            .to_lowercase(),
                    });
                }
            }
        } else {
            LabelSource::None
        };
        labels.push(src);
    }
    let with = labels
        .iter()
        .filter(|l| !matches!(l, LabelSource::None))
        .count();
    if with < files.len() && (require_labels || with > 0) {
        let i = labels
            .iter()
            .position(|l| matches!(l, LabelSource::None))
            .unwrap_or(0);
        return Err(DataError::NoSourceLabel {
            path: files[i].path.clone(),
            column: source_column,
        });
    }

    // weights
    if let Some(w) = &spec.weight_column {
        for f in files {
            let c = f.col(w).ok_or_else(|| f.missing(w))?;
            check_numeric(f, c)?;
        }
    }

    // passthrough
    let mut passthrough = Vec::new();
    let mut seen = HashSet::new();
    for name in &spec.passthrough {
        if !seen.insert(name.as_str()) {
            continue;
        }
        let present: Vec<Option<&ColInfo>> = files.iter().map(|f| f.col(name)).collect();
        let n_present = present.iter().filter(|p| p.is_some()).count();
        if n_present == 0 {
            continue;
        }
        if n_present < files.len() {
            let has = present.iter().position(|p| p.is_some()).unwrap_or(0);
            let lacks = present.iter().position(|p| p.is_none()).unwrap_or(0);
            return Err(DataError::InconsistentColumn {
                column: name.clone(),
                present_in: files[has].path.clone(),
                path: files[lacks].path.clone(),
            });
        }
        let mut kind = PassKind::I64;
        for (f, c) in files.iter().zip(&present) {
            let c = c.expect("present in every file");
            match &c.kind {
                Kind::Str => kind = PassKind::Str,
                Kind::Float if kind != PassKind::Str => kind = PassKind::F64,
                Kind::Other(t) => {
                    return Err(DataError::UnsupportedColumn {
                        path: f.path.clone(),
                        column: name.clone(),
                        detail: t.clone(),
                    });
                }
                _ => {}
            }
        }
        passthrough.push((name.clone(), kind));
    }

    Ok(Plan {
        feature_names,
        feature_cols,
        labels,
        source_column,
        weight: spec.weight_column.clone(),
        passthrough,
    })
}

/// The default features of `f`: every column that is not in `metadata`, in file order. Each
/// of them must be usable as a feature; dropping one silently would change the model's inputs.
fn default_features(f: &FileInfo, metadata: &HashSet<&str>) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for c in &f.columns {
        if metadata.contains(c.name.as_str()) {
            continue;
        }
        if let Some(detail) = not_numeric(f, c) {
            return Err(DataError::UnusableColumn {
                path: f.path.clone(),
                column: c.name.clone(),
                detail,
            });
        }
        names.push(c.name.clone());
    }
    Ok(names)
}

/// A column that must be numeric (a feature or the weights).
fn check_numeric(f: &FileInfo, c: &ColInfo) -> Result<(), DataError> {
    match not_numeric(f, c) {
        None => Ok(()),
        Some(detail) => Err(DataError::NonNumeric {
            path: f.path.clone(),
            column: c.name.clone(),
            detail,
        }),
    }
}

/// Why `c` cannot be read as numbers (its type, or for CSV its first bad cell); `None` when it
/// can.
fn not_numeric(f: &FileInfo, c: &ColInfo) -> Option<String> {
    match &c.kind {
        Kind::Float | Kind::Int => None,
        Kind::Str => Some(match f.format {
            Format::Parquet => "string column".to_string(),
            Format::Root => match &f.root {
                Some(r) => format!("string branch in tree `{}`", r.tree),
                None => "string branch".to_string(),
            },
            Format::Csv => {
                first_non_number(f, c).unwrap_or_else(|| "not all values are numbers".into())
            }
        }),
        // ROOT kinds already say "branch in tree ...".
        Kind::Other(t) if f.format == Format::Root => Some(t.clone()),
        Kind::Other(t) => Some(format!("{t} column")),
    }
}

/// For a CSV column that failed the numeric scan: describe its first non-number value.
fn first_non_number(f: &FileInfo, c: &ColInfo) -> Option<String> {
    let mut rdr = csv_reader(&f.path).ok()?;
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.ok()?;
        let v = rec.get(c.index)?;
        if !v.is_empty() && !is_number(v) {
            return Some(format!("row {row}: value `{v}` is not a number"));
        }
    }
    Some("the column has no values".into())
}

#[cfg(test)]
mod tests {
    use crate::data::testutil::*;
    use crate::data::{DataError, DataSpec, load_events};

    #[test]
    fn explicit_features_order_ints_and_vocabulary() {
        let d = tmpdir("explicit");
        let p = d.join("x.parquet");
        std_file(&p, "b-src", 4, 10, 100);
        let spec = DataSpec {
            features: Some(strs(&["c", "event_id", "a"])),
            ..DataSpec::default()
        };
        let vocab = strs(&["a-src", "b-src", "c-src"]);
        let t = load_events(std::slice::from_ref(&p), &spec, Some(&vocab), true).unwrap();
        assert_eq!(t.row(2), &[-2.0, 12.0, 2.0]);
        assert_eq!(t.sources, vocab);
        assert_eq!(t.labels, vec![1; 4]);
        // unknown label
        let vocab2 = strs(&["a-src"]);
        let e = load_events(&[p], &spec, Some(&vocab2), true).unwrap_err();
        assert!(
            matches!(&e, DataError::UnknownSource { label, row: 0, .. } if label == "b-src"),
            "{e}"
        );
        assert!(e.to_string().contains("a-src"), "{e}");
    }

    #[test]
    fn order_may_differ_between_files() {
        let d = tmpdir("order");
        let p1 = d.join("x.parquet");
        let p2 = d.join("y.parquet");
        write_parquet(
            &p1,
            &[
                Col::F32("a", vec![1.0]),
                Col::F32("b", vec![2.0]),
                Col::Str("source", vec!["s"]),
            ],
            10,
        );
        write_parquet(
            &p2,
            &[
                Col::F32("b", vec![20.0]),
                Col::Str("source", vec!["s"]),
                Col::F32("a", vec![10.0]),
            ],
            10,
        );
        let t = load_events(&[p1, p2], &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.feature_names, strs(&["a", "b"]));
        assert_eq!(t.features, vec![1.0, 2.0, 10.0, 20.0]);
    }

    #[test]
    fn feature_set_mismatch_names_columns() {
        let d = tmpdir("mismatch");
        let p1 = d.join("x.parquet");
        let p2 = d.join("y.parquet");
        write_parquet(
            &p1,
            &[Col::F32("a", vec![1.0]), Col::F32("b", vec![2.0])],
            10,
        );
        write_parquet(
            &p2,
            &[Col::F32("a", vec![1.0]), Col::F32("z", vec![2.0])],
            10,
        );
        let e = load_events(&[p1, p2], &DataSpec::default(), None, false).unwrap_err();
        match &e {
            DataError::FeatureMismatch { extra, missing, .. } => {
                assert_eq!(extra, &strs(&["z"]));
                assert_eq!(missing, &strs(&["b"]));
            }
            other => panic!("{other}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("y.parquet") && msg.contains("[z]") && msg.contains("[b]"),
            "{msg}"
        );
    }

    #[test]
    fn missing_column_lists_available() {
        let d = tmpdir("missing");
        let p = d.join("x.parquet");
        std_file(&p, "s", 3, 0, 10);
        let spec = DataSpec {
            features: Some(strs(&["a", "nope"])),
            ..DataSpec::default()
        };
        let e = load_events(&[p], &spec, None, true).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::MissingColumn { .. }));
        assert!(
            msg.contains("`nope`") && msg.contains("a, b, source, c, event_id, weight"),
            "{msg}"
        );
    }

    #[test]
    fn non_numeric_feature() {
        let d = tmpdir("nonnum");
        let p = d.join("x.parquet");
        std_file(&p, "s", 3, 0, 10);
        let spec = DataSpec {
            features: Some(strs(&["a", "source"])),
            ..DataSpec::default()
        };
        let e = load_events(&[p], &spec, None, true).unwrap_err();
        assert!(
            matches!(&e, DataError::NonNumeric { column, .. } if column == "source"),
            "{e}"
        );
    }

    #[test]
    fn labels_from_file_labels_and_missing_labels() {
        let d = tmpdir("labels");
        let p1 = d.join("nolabel-one.parquet");
        let p2 = d.join("nolabel-two.parquet");
        write_parquet(&p1, &[Col::F32("a", vec![1.0, 2.0])], 10);
        write_parquet(&p2, &[Col::F32("a", vec![3.0])], 10);
        // no labels anywhere: fine for scoring, error for training
        let t = load_events(&[p1.clone(), p2.clone()], &DataSpec::default(), None, false).unwrap();
        assert!(t.labels.is_empty() && t.sources.is_empty() && !t.has_labels());
        let e =
            load_events(&[p1.clone(), p2.clone()], &DataSpec::default(), None, true).unwrap_err();
        assert!(
            matches!(&e, DataError::NoSourceLabel { path, .. } if path == &p1),
            "{e}"
        );
        // one file labelled, the other not: error even when labels are optional
        let spec = DataSpec {
            file_labels: vec![("*-one.parquet".into(), "gen-one".into())],
            ..DataSpec::default()
        };
        let e = load_events(&[p1.clone(), p2.clone()], &spec, None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NoSourceLabel { path, .. } if path == &p2),
            "{e}"
        );
        // both labelled: by glob on file name and by exact path
        let spec = DataSpec {
            file_labels: vec![
                ("*-one.parquet".into(), "gen-one".into()),
                (p2.display().to_string(), "gen-two".into()),
            ],
            ..DataSpec::default()
        };
        let t = load_events(&[p1.clone(), p2.clone()], &spec, None, true).unwrap();
        assert_eq!(t.sources, strs(&["gen-one", "gen-two"]));
        assert_eq!(t.labels, vec![0, 0, 1]);
        // a file label overrides the source column
        let p3 = d.join("col.parquet");
        std_file(&p3, "from-column", 3, 0, 10);
        let spec = DataSpec {
            file_labels: vec![("col.parquet".into(), "override".into())],
            ..DataSpec::default()
        };
        let t = load_events(std::slice::from_ref(&p3), &spec, None, true).unwrap();
        assert_eq!(t.sources, strs(&["override"]));
        // passthrough `source` still holds the column's values
        assert_eq!(
            t.passthrough_column("source").unwrap().value_string(0),
            "from-column"
        );
        // empty label in the column
        let p4 = d.join("emptylabel.parquet");
        write_parquet(
            &p4,
            &[
                Col::F32("a", vec![1.0, 2.0]),
                Col::Str("source", vec!["s", ""]),
            ],
            10,
        );
        let e = load_events(&[p4], &DataSpec::default(), None, true).unwrap_err();
        assert!(
            matches!(e, DataError::MissingSourceLabel { row: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn passthrough_in_some_files_only_is_an_error() {
        let d = tmpdir("pass");
        let p1 = d.join("x.parquet");
        let p2 = d.join("y.parquet");
        write_parquet(
            &p1,
            &[Col::F32("a", vec![1.0]), Col::Str("process", vec!["qcd"])],
            10,
        );
        write_parquet(&p2, &[Col::F32("a", vec![1.0])], 10);
        let e = load_events(&[p1, p2], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::InconsistentColumn { column, .. } if column == "process"),
            "{e}"
        );
    }

    /// The layout of the shipped files (float features, then `source`, `process`, `event_id`,
    /// `weight`) plus integer columns, which are features too.
    #[test]
    fn default_features_are_every_column_but_the_metadata() {
        let d = tmpdir("default-all");
        let p = d.join("x.parquet");
        write_parquet(
            &p,
            &[
                Col::F32("a", vec![1.5, 2.5]),
                Col::I32("n_jets", vec![3, 4]),
                Col::I64("n_leptons", vec![0, 1]),
                Col::Str("source", vec!["s", "s"]),
                Col::Str("process", vec!["qcd", "ttbar"]),
                Col::I64("event_id", vec![7, 8]),
                Col::F32("weight", vec![1.0, 1.0]),
            ],
            10,
        );
        let t = load_events(std::slice::from_ref(&p), &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.feature_names, strs(&["a", "n_jets", "n_leptons"]));
        assert_eq!(t.features, vec![1.5, 3.0, 0.0, 2.5, 4.0, 1.0]);
    }

    #[test]
    fn default_features_refuse_columns_that_cannot_be_features() {
        let d = tmpdir("default-unusable");
        let p = d.join("x.parquet");
        let cases = [
            (Col::Str("label", vec!["u", "v"]), "string"),
            (Col::Bool("flag", vec![true, false]), "boolean"),
            (Col::F16("half", vec![0x3C00, 0x4000]), "float16"),
            (Col::Decimal("price", vec![12345, 100]), "decimal(9, 2)"),
        ];
        for (column, type_name) in cases {
            let name = match &column {
                Col::Str(n, _) | Col::Bool(n, _) | Col::F16(n, _) | Col::Decimal(n, _) => {
                    n.to_string()
                }
                _ => unreachable!(),
            };
            write_parquet(
                &p,
                &[
                    Col::F32("a", vec![1.0, 2.0]),
                    column,
                    Col::Str("source", vec!["s", "s"]),
                ],
                10,
            );
            let e = load_events(std::slice::from_ref(&p), &DataSpec::default(), None, true)
                .unwrap_err();
            assert!(
                matches!(&e, DataError::UnusableColumn { path, column, detail }
                    if path == &p && column == &name && detail.contains(type_name)),
                "{e}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains("x.parquet")
                    && msg.contains(&format!("`{name}`"))
                    && msg.contains("[data] features")
                    && msg.contains(&format!("[data] ignore = [\"{name}\"]")),
                "{msg}"
            );
            // Listed features: other columns are not read, as before.
            let listed = DataSpec {
                features: Some(strs(&["a"])),
                ..DataSpec::default()
            };
            let t = load_events(std::slice::from_ref(&p), &listed, None, true).unwrap();
            assert_eq!(t.features, vec![1.0, 2.0]);
            // Or the column is ignored by name.
            let ignored = DataSpec {
                ignore: vec![name.clone()],
                ..DataSpec::default()
            };
            let t = load_events(std::slice::from_ref(&p), &ignored, None, true).unwrap();
            assert_eq!(t.feature_names, strs(&["a"]));
        }
    }

    #[test]
    fn default_features_refuse_csv_columns_with_a_cell_that_is_not_a_number() {
        let d = tmpdir("default-csv");
        let p = d.join("x.csv");
        write_text(&p, "a,b,source\n1,2,s\n3,abc,s\n5,6,s\n");
        let e =
            load_events(std::slice::from_ref(&p), &DataSpec::default(), None, true).unwrap_err();
        assert!(
            matches!(&e, DataError::UnusableColumn { column, detail, .. }
                if column == "b" && detail.contains("row 1") && detail.contains("`abc`")),
            "{e}"
        );
        assert!(e.to_string().contains("x.csv"), "{e}");
        // A column with no values at all cannot be a feature either.
        write_text(&p, "a,b,source\n1,,s\n3,,s\n");
        let e =
            load_events(std::slice::from_ref(&p), &DataSpec::default(), None, true).unwrap_err();
        assert!(
            matches!(&e, DataError::UnusableColumn { column, detail, .. }
                if column == "b" && detail.contains("no values")),
            "{e}"
        );
        let listed = DataSpec {
            features: Some(strs(&["a"])),
            ..DataSpec::default()
        };
        let t = load_events(std::slice::from_ref(&p), &listed, None, true).unwrap();
        assert_eq!(t.features, vec![1.0, 3.0]);
    }
}
