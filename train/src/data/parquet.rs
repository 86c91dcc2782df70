//! The Parquet reader: one row group into its slices of the outputs, decoded in blocks of
//! [`BLOCK_ROWS`] rows per column.

use std::fs::File;
use std::path::Path;

use parquet::column::reader::{ColumnReader, ColumnReaderImpl, get_column_reader};
use parquet::data_type::{
    ByteArray, ByteArrayType, DataType, DoubleType, FloatType, Int32Type, Int64Type,
};
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::DataError;
use super::error::parquet_err;
use super::load::{Ctx, LocalLabels, Out, PassSlice, Target, targets};
use super::page_check::CheckedPages;

/// Rows decoded per block (per column) while reading a Parquet row group.
const BLOCK_ROWS: usize = 4096;

enum Typed {
    F32(ColumnReaderImpl<FloatType>),
    F64(ColumnReaderImpl<DoubleType>),
    I32(ColumnReaderImpl<Int32Type>),
    I64(ColumnReaderImpl<Int64Type>),
    Bytes(ColumnReaderImpl<ByteArrayType>),
}

enum Buf {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bytes(Vec<ByteArray>),
}

enum ReadIssue {
    Parquet(parquet::errors::ParquetError),
    /// null at this offset within the block
    Null(usize),
    /// the column chunk ended early: rows read
    Short(usize),
}

fn read_block<T: DataType>(
    r: &mut ColumnReaderImpl<T>,
    n: usize,
    vals: &mut Vec<T::T>,
    defs: &mut Vec<i16>,
    max_def: i16,
) -> Result<(), ReadIssue> {
    vals.clear();
    defs.clear();
    let mut got = 0;
    while got < n {
        let (recs, nvals, _levels) = r
            .read_records(n - got, Some(defs), None, vals)
            .map_err(ReadIssue::Parquet)?;
        if recs == 0 {
            return Err(ReadIssue::Short(got));
        }
        got += recs;
        if max_def > 0 && vals.len() < got {
            let _ = nvals;
            let at = defs.iter().position(|&d| d < max_def).unwrap_or(vals.len());
            return Err(ReadIssue::Null(at));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run_parquet(
    ctx: &Ctx<'_>,
    reader: &SerializedFileReader<File>,
    fi: usize,
    group: usize,
    file_row: usize,
    rows: usize,
    out: &mut Out<'_>,
    local: &mut LocalLabels,
) -> Result<(), DataError> {
    let f = &ctx.files[fi];
    let path = &f.path;
    if group >= reader.metadata().num_row_groups() {
        return Err(parquet_err(
            path,
            "",
            format!("file changed while reading (no row group {group})"),
        ));
    }
    let rg = reader
        .get_row_group(group)
        .map_err(|e| parquet_err(path, &format!("row group {group}: "), e))?;
    let tg = targets(ctx, fi);
    let mut cols: Vec<(Typed, Buf, i16, Target, usize)> = Vec::with_capacity(tg.len());
    for &(ci, target) in &tg {
        let info = &f.columns[ci];
        let context = || format!("column `{}`, row group {group}: ", info.name);
        // Every page passes `CheckedPages` before the crate's decoders see it.
        let descr = rg.metadata().column(info.index).column_descr_ptr();
        let pages = rg
            .get_column_page_reader(info.index)
            .map_err(|e| parquet_err(path, &context(), e))?;
        let cr = get_column_reader(descr.clone(), Box::new(CheckedPages::new(pages, &descr)));
        let (typed, buf) = match cr {
            ColumnReader::FloatColumnReader(r) => (Typed::F32(r), Buf::F32(Vec::new())),
            ColumnReader::DoubleColumnReader(r) => (Typed::F64(r), Buf::F64(Vec::new())),
            ColumnReader::Int32ColumnReader(r) => (Typed::I32(r), Buf::I32(Vec::new())),
            ColumnReader::Int64ColumnReader(r) => (Typed::I64(r), Buf::I64(Vec::new())),
            ColumnReader::ByteArrayColumnReader(r) => (Typed::Bytes(r), Buf::Bytes(Vec::new())),
            _ => {
                return Err(DataError::UnsupportedColumn {
                    path: path.clone(),
                    column: info.name.clone(),
                    detail: format!("{:?}", info.physical).to_lowercase(),
                });
            }
        };
        cols.push((typed, buf, info.max_def, target, ci));
    }
    let nf = ctx.plan.feature_names.len();
    let mut defs: Vec<i16> = Vec::with_capacity(BLOCK_ROWS);
    let mut done = 0;
    while done < rows {
        let n = BLOCK_ROWS.min(rows - done);
        for (typed, buf, max_def, target, ci) in cols.iter_mut() {
            let name = &f.columns[*ci].name;
            let res = match (typed, &mut *buf) {
                (Typed::F32(r), Buf::F32(v)) => read_block(r, n, v, &mut defs, *max_def),
                (Typed::F64(r), Buf::F64(v)) => read_block(r, n, v, &mut defs, *max_def),
                (Typed::I32(r), Buf::I32(v)) => read_block(r, n, v, &mut defs, *max_def),
                (Typed::I64(r), Buf::I64(v)) => read_block(r, n, v, &mut defs, *max_def),
                (Typed::Bytes(r), Buf::Bytes(v)) => read_block(r, n, v, &mut defs, *max_def),
                _ => unreachable!("reader and buffer types match"),
            };
            let base = file_row + done; // file row of the block's first row
            match res {
                Ok(()) => {}
                Err(ReadIssue::Parquet(e)) => {
                    return Err(parquet_err(
                        path,
                        &format!("column `{name}`, row group {group}, near row {base}: "),
                        e,
                    ));
                }
                Err(ReadIssue::Short(got)) => {
                    return Err(parquet_err(
                        path,
                        "",
                        format!(
                            "column `{name}`, row group {group}: data ends at row {} of {}",
                            base + got,
                            file_row + rows
                        ),
                    ));
                }
                Err(ReadIssue::Null(at)) => {
                    if let Target::Label = target {
                        return Err(DataError::MissingSourceLabel {
                            path: path.clone(),
                            row: base + at,
                            column: name.clone(),
                        });
                    }
                    return Err(DataError::MissingValue {
                        path: path.clone(),
                        column: name.clone(),
                        row: base + at,
                    });
                }
            }
            let bad = |i: usize, v: f64| DataError::NonFinite {
                path: path.clone(),
                column: name.clone(),
                row: base + i,
                value: v,
            };
            match *target {
                Target::Feature(j) => {
                    let dst = &mut out.features[done * nf..(done + n) * nf];
                    match &*buf {
                        Buf::F32(v) => {
                            scatter(dst, nf, j, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::F64(v) => scatter(dst, nf, j, v.iter().copied(), |x| x as f32, bad)?,
                        Buf::I32(v) => {
                            scatter(dst, nf, j, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::I64(v) => {
                            scatter(dst, nf, j, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::Bytes(_) => unreachable!("checked numeric in plan"),
                    }
                }
                Target::Weight => {
                    let dst = &mut out.weights.as_deref_mut().expect("weights")[done..done + n];
                    match &*buf {
                        Buf::F32(v) => {
                            scatter(dst, 1, 0, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::F64(v) => scatter(dst, 1, 0, v.iter().copied(), |x| x as f32, bad)?,
                        Buf::I32(v) => {
                            scatter(dst, 1, 0, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::I64(v) => {
                            scatter(dst, 1, 0, v.iter().map(|&x| x as f64), |x| x as f32, bad)?
                        }
                        Buf::Bytes(_) => unreachable!("checked numeric in plan"),
                    }
                }
                Target::Label => {
                    let dst = &mut out.labels.as_deref_mut().expect("labels")[done..done + n];
                    match &*buf {
                        Buf::Bytes(v) => {
                            for (i, (d, b)) in dst.iter_mut().zip(v).enumerate() {
                                let s = utf8(b, path, name, base + i)?;
                                if s.is_empty() {
                                    return Err(DataError::MissingSourceLabel {
                                        path: path.clone(),
                                        row: base + i,
                                        column: name.clone(),
                                    });
                                }
                                *d = local.intern(s, base + i);
                            }
                        }
                        Buf::I32(v) => {
                            for (i, (d, x)) in dst.iter_mut().zip(v).enumerate() {
                                *d = local.intern(&x.to_string(), base + i);
                            }
                        }
                        Buf::I64(v) => {
                            for (i, (d, x)) in dst.iter_mut().zip(v).enumerate() {
                                *d = local.intern(&x.to_string(), base + i);
                            }
                        }
                        _ => unreachable!("checked in plan"),
                    }
                }
                Target::Pass(k) => {
                    let r = done..done + n;
                    match (&mut out.pass[k], &*buf) {
                        (PassSlice::Str(d), Buf::Bytes(v)) => {
                            for (i, (d, b)) in d[r].iter_mut().zip(v).enumerate() {
                                *d = utf8(b, path, name, base + i)?.to_string();
                            }
                        }
                        (PassSlice::Str(d), b) => {
                            for (i, d) in d[r].iter_mut().enumerate() {
                                *d = match b {
                                    Buf::F32(v) => v[i].to_string(),
                                    Buf::F64(v) => v[i].to_string(),
                                    Buf::I32(v) => v[i].to_string(),
                                    Buf::I64(v) => v[i].to_string(),
                                    Buf::Bytes(_) => unreachable!(),
                                };
                            }
                        }
                        (PassSlice::I64(d), Buf::I32(v)) => {
                            d[r].iter_mut().zip(v).for_each(|(d, &x)| *d = x as i64)
                        }
                        (PassSlice::I64(d), Buf::I64(v)) => d[r].copy_from_slice(v),
                        (PassSlice::F64(d), Buf::F32(v)) => {
                            d[r].iter_mut().zip(v).for_each(|(d, &x)| *d = x as f64)
                        }
                        (PassSlice::F64(d), Buf::F64(v)) => d[r].copy_from_slice(v),
                        (PassSlice::F64(d), Buf::I32(v)) => {
                            d[r].iter_mut().zip(v).for_each(|(d, &x)| *d = x as f64)
                        }
                        (PassSlice::F64(d), Buf::I64(v)) => {
                            d[r].iter_mut().zip(v).for_each(|(d, &x)| *d = x as f64)
                        }
                        _ => unreachable!("passthrough kind chosen from column kinds"),
                    }
                }
            }
        }
        done += n;
    }
    Ok(())
}

fn utf8<'b>(b: &'b ByteArray, path: &Path, column: &str, row: usize) -> Result<&'b str, DataError> {
    std::str::from_utf8(b.data()).map_err(|_| DataError::BadValue {
        path: path.to_path_buf(),
        column: column.to_string(),
        row,
        message: "invalid utf-8".into(),
    })
}

/// Write `values` into column `j` of the row-major `dst` (row stride `stride`), refusing
/// values that are not finite after conversion.
#[inline]
fn scatter(
    dst: &mut [f32],
    stride: usize,
    j: usize,
    values: impl Iterator<Item = f64>,
    conv: impl Fn(f64) -> f32,
    bad: impl Fn(usize, f64) -> DataError,
) -> Result<(), DataError> {
    for (i, (d, v)) in dst.chunks_exact_mut(stride).zip(values).enumerate() {
        let x = conv(v);
        if !x.is_finite() {
            return Err(bad(i, v));
        }
        d[j] = x;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::data::testutil::*;
    use crate::data::{Column, DataError, DataSpec, load_events};

    #[test]
    fn empty_row_groups_are_skipped_not_misread() {
        let d = tmpdir("empty-groups");
        let p = d.join("e.parquet");
        let a: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let s: Vec<&str> = vec!["x"; 10];
        // Groups: [] [0..4) [] [4..10)
        write_parquet_groups(
            &p,
            &[Col::F32("a", a.clone()), Col::Str("source", s)],
            &[(0, 0), (0, 4), (4, 4), (4, 10)],
        );
        let t = load_events(std::slice::from_ref(&p), &DataSpec::default(), None, true).unwrap();
        assert_eq!(t.features, a);
    }

    #[test]
    fn parquet_default_features_labels_passthrough() {
        let d = tmpdir("basic");
        let p1 = d.join("x.parquet");
        let p2 = d.join("y.parquet");
        std_file(&p1, "zeta", 10_000, 0, 3000); // several row groups, blocks cross group ends
        std_file(&p2, "alpha", 5, 1_000_000, 2);
        let spec = DataSpec {
            weight_column: Some("weight".into()),
            ..DataSpec::default()
        };
        let t = load_events(&[p1.clone(), p2.clone()], &spec, None, true).unwrap();
        assert_eq!(t.feature_names, strs(&["a", "b", "c"]));
        assert_eq!(t.len(), 10_005);
        assert_eq!(t.num_features(), 3);
        assert_eq!(t.features.len(), 10_005 * 3);
        assert_eq!(t.row(7), &[7.0, 107.0, -7.0]);
        assert_eq!(t.row(9_999), &[9_999.0, 10_099.0, -9_999.0]);
        assert_eq!(t.row(10_003), &[3.0, 103.0, -3.0]);
        assert_eq!(t.sources, strs(&["alpha", "zeta"]));
        assert_eq!(t.labels[0], 1);
        assert_eq!(t.labels[10_004], 0);
        assert_eq!(t.source_counts(), vec![5, 10_000]);
        assert_eq!(t.weights.as_ref().unwrap()[42], 1.5);
        assert_eq!(t.file_rows, vec![(p1, 10_000), (p2, 5)]);
        let names: Vec<&str> = t.passthrough.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["source", "event_id"]); // `process` absent everywhere: not kept
        match t.passthrough_column("event_id").unwrap() {
            Column::I64(v) => assert_eq!((v[3], v[10_004]), (3, 1_000_004)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            t.passthrough_column("source").unwrap().value_string(10_001),
            "alpha"
        );
    }

    #[test]
    fn nan_and_inf_are_reported_with_row() {
        let d = tmpdir("nan");
        let p = d.join("x.parquet");
        let mut b = vec![0.5f32; 9000];
        b[5000] = f32::NAN;
        write_parquet(
            &p,
            &[Col::F32("a", vec![1.0; 9000]), Col::F32("b", b)],
            3000,
        );
        let e =
            load_events(std::slice::from_ref(&p), &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::NonFinite { column, row: 5000, .. } if column == "b"),
            "{e}"
        );
        assert!(
            e.to_string().contains("x.parquet") && e.to_string().contains("row 5000"),
            "{e}"
        );
        // double too large for f32
        let p2 = d.join("y.parquet");
        write_parquet(&p2, &[Col::F64("a", vec![1.0, 1e300])], 10);
        let e = load_events(&[p2], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(&e, DataError::NonFinite { row: 1, .. }), "{e}");
    }

    #[test]
    fn null_feature_is_missing_value() {
        let d = tmpdir("null");
        let p = d.join("x.parquet");
        write_parquet(
            &p,
            &[
                Col::F32("a", vec![1.0, 2.0, 3.0]),
                Col::OptF32("b", vec![Some(1.0), Some(2.0), None]),
            ],
            10,
        );
        let e = load_events(&[p], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(&e, DataError::MissingValue { column, row: 2, .. } if column == "b"),
            "{e}"
        );
    }
}
