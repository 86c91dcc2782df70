//! The CSV reader: one file into its slices of the outputs, one record at a time.

use super::DataError;
use super::error::csv_err;
use super::inspect::csv_reader;
use super::load::{Ctx, LocalLabels, Out, PassSlice, Target, targets};

pub(super) fn run_csv(
    ctx: &Ctx<'_>,
    fi: usize,
    rows: usize,
    out: &mut Out<'_>,
    local: &mut LocalLabels,
) -> Result<(), DataError> {
    let f = &ctx.files[fi];
    let path = &f.path;
    let nf = ctx.plan.feature_names.len();
    let tg = targets(ctx, fi);
    let mut rdr = csv_reader(path)?;
    let mut rec = csv::StringRecord::new();
    let mut row = 0usize;
    while rdr.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        if row >= rows {
            return Err(DataError::Csv {
                path: path.clone(),
                message: format!("file changed while reading (more than {rows} rows)"),
            });
        }
        for &(ci, target) in &tg {
            let info = &f.columns[ci];
            let field = rec.get(info.index).unwrap_or("");
            let missing = || DataError::MissingValue {
                path: path.clone(),
                column: info.name.clone(),
                row,
            };
            let number = |s: &str| -> Result<f64, DataError> {
                s.parse::<f64>().map_err(|_| DataError::NonNumeric {
                    path: path.clone(),
                    column: info.name.clone(),
                    detail: format!("row {row}: value `{s}` is not a number"),
                })
            };
            match target {
                Target::Feature(_) | Target::Weight => {
                    if field.is_empty() {
                        return Err(missing());
                    }
                    // parse f32 directly (correct rounding); report the value as a double
                    let x: f32 = match field.parse::<f32>() {
                        Ok(x) => x,
                        Err(_) => number(field)? as f32,
                    };
                    if !x.is_finite() {
                        return Err(DataError::NonFinite {
                            path: path.clone(),
                            column: info.name.clone(),
                            row,
                            value: number(field)?,
                        });
                    }
                    match target {
                        Target::Feature(j) => out.features[row * nf + j] = x,
                        _ => out.weights.as_deref_mut().expect("weights")[row] = x,
                    }
                }
                Target::Label => {
                    if field.is_empty() {
                        return Err(DataError::MissingSourceLabel {
                            path: path.clone(),
                            row,
                            column: info.name.clone(),
                        });
                    }
                    out.labels.as_deref_mut().expect("labels")[row] = local.intern(field, row);
                }
                Target::Pass(k) => match &mut out.pass[k] {
                    PassSlice::Str(d) => d[row] = field.to_string(),
                    PassSlice::I64(d) => {
                        if field.is_empty() {
                            return Err(missing());
                        }
                        d[row] = field.parse::<i64>().map_err(|_| DataError::BadValue {
                            path: path.clone(),
                            column: info.name.clone(),
                            row,
                            message: format!("value `{field}` is not an integer"),
                        })?;
                    }
                    PassSlice::F64(d) => {
                        if field.is_empty() {
                            return Err(missing());
                        }
                        d[row] = number(field)?;
                    }
                },
            }
        }
        row += 1;
    }
    if row != rows {
        return Err(DataError::Csv {
            path: path.clone(),
            message: format!("file changed while reading ({row} rows, expected {rows})"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::data::testutil::*;
    use crate::data::{Column, DataError, DataSpec, load_events};

    #[test]
    fn csv_loading_and_errors() {
        let d = tmpdir("csv");
        let p = d.join("ev.csv");
        write_text(
            &p,
            "b,a,source,process,event_id\n1.5,2,s1,qcd,7\n-3e2, 4 ,s2,ttbar,8\n",
        );
        let t = load_events(std::slice::from_ref(&p), &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.feature_names, strs(&["b", "a"]));
        assert_eq!(t.features, vec![1.5, 2.0, -300.0, 4.0]);
        assert_eq!(t.sources, strs(&["s1", "s2"]));
        assert_eq!(t.labels, vec![0, 1]);
        assert_eq!(
            t.passthrough_column("process").unwrap(),
            &Column::Str(strs(&["qcd", "ttbar"]))
        );
        assert_eq!(
            t.passthrough_column("event_id").unwrap(),
            &Column::I64(vec![7, 8])
        );

        // csv and parquet mixed, features mapped by name
        let pq = d.join("ev.parquet");
        write_parquet(
            &pq,
            &[
                Col::F32("a", vec![10.0]),
                Col::F32("b", vec![20.0]),
                Col::Str("source", vec!["s1"]),
                Col::Str("process", vec!["wjet"]),
                Col::I64("event_id", vec![9]),
            ],
            10,
        );
        let t = load_events(&[p.clone(), pq], &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.row(2), &[20.0, 10.0]);
        assert_eq!(
            t.passthrough_column("event_id").unwrap(),
            &Column::I64(vec![7, 8, 9])
        );

        let nan = d.join("nan.csv");
        write_text(&nan, "a,b\n1,2\n3,NaN\n");
        let e = load_events(&[nan], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NonFinite { column, row: 1, .. } if column == "b"),
            "{e}"
        );

        let inf = d.join("inf.csv");
        write_text(&inf, "a,b\n1,2\n3,1e40\n");
        let e = load_events(&[inf], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NonFinite { column, row: 1, .. } if column == "b"),
            "{e}"
        );

        let empty_cell = d.join("cell.csv");
        write_text(&empty_cell, "a,b\n1,2\n3,\n");
        let e = load_events(&[empty_cell], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::MissingValue { column, row: 1, .. } if column == "b"),
            "{e}"
        );

        let text = d.join("text.csv");
        write_text(&text, "a,b\n1,2\n3,oops\n");
        let spec = DataSpec {
            features: Some(strs(&["a", "b"])),
            ..DataSpec::default()
        };
        let e = load_events(&[text], &spec, None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NonNumeric { column, detail, .. } if column == "b" && detail.contains("row 1")),
            "{e}"
        );

        let ragged = d.join("ragged.csv");
        write_text(&ragged, "a,b\n1,2\n3\n");
        let e = load_events(&[ragged], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::Csv { .. }), "{e}");
    }
}
