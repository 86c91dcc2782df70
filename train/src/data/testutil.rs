//! Fixtures for the data tests: temporary directories and small Parquet / CSV files written
//! with the `parquet` crate's own writer.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType,
    FloatType, Int32Type, Int64Type,
};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader, ParquetMetaDataWriter};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// A fresh temp directory per call (a name may be reused, in a loop or by two tests).
pub(crate) fn tmpdir(name: &str) -> TmpDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "bead-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

/// Removed when dropped.
pub(crate) struct TmpDir(PathBuf);

impl AsRef<Path> for TmpDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TmpDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A column to write: name and values.
pub(super) enum Col<'a> {
    F32(&'a str, Vec<f32>),
    F64(&'a str, Vec<f64>),
    I32(&'a str, Vec<i32>),
    I64(&'a str, Vec<i64>),
    Bool(&'a str, Vec<bool>),
    /// IEEE half-precision bit patterns (`FIXED_LEN_BYTE_ARRAY(2)`, logical type `FLOAT16`).
    F16(&'a str, Vec<u16>),
    /// `INT32` annotated `DECIMAL(9, 2)`: unscaled values.
    Decimal(&'a str, Vec<i32>),
    Str(&'a str, Vec<&'a str>),
    /// optional float with nulls (None)
    OptF32(&'a str, Vec<Option<f32>>),
}

/// Write a flat Parquet file; `group_rows` rows per row group.
pub(super) fn write_parquet(path: &Path, cols: &[Col<'_>], group_rows: usize) {
    let rows = match &cols[0] {
        Col::F32(_, v) => v.len(),
        Col::F64(_, v) => v.len(),
        Col::I32(_, v) | Col::Decimal(_, v) => v.len(),
        Col::I64(_, v) => v.len(),
        Col::Bool(_, v) => v.len(),
        Col::F16(_, v) => v.len(),
        Col::Str(_, v) => v.len(),
        Col::OptF32(_, v) => v.len(),
    };
    let mut bounds = Vec::new();
    let mut start = 0;
    while start < rows || (rows == 0 && start == 0) {
        let end = (start + group_rows).min(rows);
        bounds.push((start, end));
        start = end.max(start + 1);
    }
    write_parquet_groups(path, cols, &bounds);
}

/// Row groups with the given `[start, end)` row ranges (an empty range: an empty group).
pub(super) fn write_parquet_groups(path: &Path, cols: &[Col<'_>], bounds: &[(usize, usize)]) {
    write_parquet_with(path, cols, bounds, WriterProperties::builder().build());
}

/// [`write_parquet_groups`] with the given writer properties (page version, page sizes, ...).
pub(super) fn write_parquet_with(
    path: &Path,
    cols: &[Col<'_>],
    bounds: &[(usize, usize)],
    props: WriterProperties,
) {
    let mut fields = String::new();
    for c in cols {
        let f = match c {
            Col::F32(n, _) => format!("required float {n};"),
            Col::F64(n, _) => format!("required double {n};"),
            Col::I32(n, _) => format!("required int32 {n};"),
            Col::I64(n, _) => format!("required int64 {n};"),
            Col::Bool(n, _) => format!("required boolean {n};"),
            Col::F16(n, _) => format!("required fixed_len_byte_array (2) {n} (FLOAT16);"),
            Col::Decimal(n, _) => format!("required int32 {n} (DECIMAL(9, 2));"),
            Col::Str(n, _) => format!("optional binary {n} (UTF8);"),
            Col::OptF32(n, _) => format!("optional float {n};"),
        };
        fields.push_str(&f);
    }
    let schema = Arc::new(parse_message_type(&format!("message m {{ {fields} }}")).unwrap());
    let props = Arc::new(props);
    let file = File::create(path).unwrap();
    let mut w = SerializedFileWriter::new(file, schema, props).unwrap();
    for &(start, end) in bounds {
        let mut rg = w.next_row_group().unwrap();
        for c in cols {
            let mut cw = rg.next_column().unwrap().unwrap();
            match c {
                Col::F32(_, v) => {
                    cw.typed::<FloatType>()
                        .write_batch(&v[start..end], None, None)
                        .unwrap();
                }
                Col::F64(_, v) => {
                    cw.typed::<DoubleType>()
                        .write_batch(&v[start..end], None, None)
                        .unwrap();
                }
                Col::I32(_, v) | Col::Decimal(_, v) => {
                    cw.typed::<Int32Type>()
                        .write_batch(&v[start..end], None, None)
                        .unwrap();
                }
                Col::I64(_, v) => {
                    cw.typed::<Int64Type>()
                        .write_batch(&v[start..end], None, None)
                        .unwrap();
                }
                Col::Bool(_, v) => {
                    cw.typed::<BoolType>()
                        .write_batch(&v[start..end], None, None)
                        .unwrap();
                }
                Col::F16(_, v) => {
                    let vals: Vec<FixedLenByteArray> = v[start..end]
                        .iter()
                        .map(|h| FixedLenByteArray::from(h.to_le_bytes().to_vec()))
                        .collect();
                    cw.typed::<FixedLenByteArrayType>()
                        .write_batch(&vals, None, None)
                        .unwrap();
                }
                Col::Str(_, v) => {
                    let vals: Vec<ByteArray> =
                        v[start..end].iter().map(|s| ByteArray::from(*s)).collect();
                    let defs = vec![1i16; vals.len()];
                    cw.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&defs), None)
                        .unwrap();
                }
                Col::OptF32(_, v) => {
                    let vals: Vec<f32> = v[start..end].iter().flatten().copied().collect();
                    let defs: Vec<i16> = v[start..end].iter().map(|x| x.is_some() as i16).collect();
                    cw.typed::<FloatType>()
                        .write_batch(&vals, Some(&defs), None)
                        .unwrap();
                }
            }
            cw.close().unwrap();
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
}

pub(super) fn write_text(path: &Path, text: &str) {
    File::create(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

pub(super) fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A standard small file: features a (f32), b (f64), c (f32); metadata source, event_id, weight.
pub(super) fn std_file(path: &Path, src: &str, n: usize, offset: i64, group_rows: usize) {
    let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let b: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
    let c: Vec<f32> = (0..n).map(|i| -(i as f32)).collect();
    let ids: Vec<i64> = (0..n as i64).map(|i| offset + i).collect();
    let w: Vec<f32> = vec![1.5; n];
    let s: Vec<&str> = vec![src; n];
    write_parquet(
        path,
        &[
            Col::F32("a", a),
            Col::F64("b", b),
            Col::Str("source", s),
            Col::F32("c", c),
            Col::I64("event_id", ids),
            Col::F32("weight", w),
        ],
        group_rows,
    );
}

/// Byte range of the Thrift-encoded footer of a Parquet file (between the data and the
/// 4-byte footer length that precedes the closing `PAR1`).
pub(super) fn footer_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let n = bytes.len();
    let len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    n - 8 - len..n - 8
}

/// Rewrite the footer of the Parquet file at `path` through `edit`, keeping the data pages:
/// the parquet crate's own metadata writer encodes whatever `edit` returns, lies included.
pub(super) fn rewrite_footer(path: &Path, edit: impl FnOnce(ParquetMetaData) -> ParquetMetaData) {
    let bytes = std::fs::read(path).unwrap();
    let footer = footer_range(&bytes);
    let meta = ParquetMetaDataReader::decode_metadata(&bytes[footer.clone()]).unwrap();
    let mut out = bytes[..footer.start].to_vec();
    ParquetMetaDataWriter::new(&mut out, &edit(meta))
        .finish()
        .unwrap();
    std::fs::write(path, out).unwrap();
}
