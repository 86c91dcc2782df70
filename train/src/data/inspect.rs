//! Finding event files and reading what they hold before any data is decoded: the format
//! (by extension), the columns with their kinds, and the row count of each row group (Parquet
//! footer) or of the whole file (CSV counting pass).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::basic::{ConvertedType, LogicalType, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::DataError;
use super::error::{csv_err, parquet_err};
use super::footer::checked_row_groups;
use super::table::DataSpec;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Format {
    Parquet,
    Csv,
    Root,
}

pub(super) fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" | "parq" => Some(Format::Parquet),
        "csv" => Some(Format::Csv),
        "root" => Some(Format::Root),
        _ => None,
    }
}

/// Expand file names, globs (`*`, `?`, `[`) and directories (every `.parquet`/`.pq`/`.parq`/
/// `.csv`/`.root` file in it) into a list of files. Glob and directory matches are sorted; the order of
/// `patterns` is kept and nothing is deduplicated. A glob or directory matching nothing, or a
/// plain path that does not exist, is an error.
pub fn expand_inputs(patterns: &[String]) -> Result<Vec<PathBuf>, DataError> {
    if patterns.is_empty() {
        return Err(DataError::NoInputs);
    }
    let mut out = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        if pattern.contains(['*', '?', '[']) {
            let entries = glob::glob(pattern).map_err(|e| DataError::BadPattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            let mut found = Vec::new();
            for entry in entries {
                let p = entry.map_err(|e| DataError::Io {
                    path: e.path().to_path_buf(),
                    source: std::io::Error::new(e.error().kind(), e.error().to_string()),
                })?;
                if p.is_file() {
                    found.push(p);
                }
            }
            if found.is_empty() {
                return Err(DataError::NoMatch {
                    pattern: pattern.clone(),
                });
            }
            found.sort();
            out.extend(found);
        } else if path.is_dir() {
            let rd = std::fs::read_dir(path).map_err(|e| DataError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            let mut found = Vec::new();
            for entry in rd {
                let p = entry
                    .map_err(|e| DataError::Io {
                        path: path.to_path_buf(),
                        source: e,
                    })?
                    .path();
                if p.is_file() && format_of(&p).is_some() {
                    found.push(p);
                }
            }
            if found.is_empty() {
                return Err(DataError::NoMatch {
                    pattern: pattern.clone(),
                });
            }
            found.sort();
            out.extend(found);
        } else {
            std::fs::metadata(path).map_err(|e| DataError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            out.push(path.to_path_buf());
        }
    }
    Ok(out)
}

/// What a column holds, as far as this loader is concerned.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    /// Parquet FLOAT/DOUBLE; CSV: all non-empty values are numbers, not all integers.
    Float,
    /// Parquet INT32/INT64; CSV: all non-empty values are integers.
    Int,
    /// Parquet BYTE_ARRAY; CSV: anything else.
    Str,
    /// Unusable here (nested, boolean, INT96, float16, other fixed-length bytes, decimal); the
    /// type as shown in messages.
    Other(String),
}

pub(super) struct ColInfo {
    pub(super) name: String,
    pub(super) kind: Kind,
    /// Parquet leaf index / CSV field index.
    pub(super) index: usize,
    /// Parquet physical type.
    pub(super) physical: Option<PhysicalType>,
    /// Parquet max definition level (0: required column).
    pub(super) max_def: i16,
}

pub(super) struct FileInfo {
    pub(super) path: PathBuf,
    pub(super) format: Format,
    pub(super) columns: Vec<ColInfo>,
    pub(super) rows: usize,
    /// Row groups: rows each (CSV and ROOT: one group).
    pub(super) groups: Vec<usize>,
    /// ROOT files: the tree and where each column comes from.
    pub(super) root: Option<super::root::RootInfo>,
}

impl FileInfo {
    pub(super) fn col(&self, name: &str) -> Option<&ColInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub(super) fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    pub(super) fn missing(&self, column: &str) -> DataError {
        DataError::MissingColumn {
            path: self.path.clone(),
            tree: self.root.as_ref().map(|r| r.tree.clone()),
            column: column.to_string(),
            available: self.names(),
        }
    }
}

pub(super) fn inspect(path: &Path, spec: &DataSpec) -> Result<FileInfo, DataError> {
    let format = format_of(path).ok_or_else(|| DataError::UnsupportedFormat {
        path: path.to_path_buf(),
    })?;
    match format {
        Format::Parquet => inspect_parquet(path),
        Format::Csv => inspect_csv(path),
        Format::Root => super::root::inspect_root(path, spec),
    }
}

pub(super) fn open_parquet(path: &Path) -> Result<SerializedFileReader<File>, DataError> {
    let file = File::open(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    SerializedFileReader::new(file).map_err(|e| parquet_err(path, "", e))
}

fn inspect_parquet(path: &Path) -> Result<FileInfo, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    // One open: the footer checks read the file the reader parsed the footer of.
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let reader = SerializedFileReader::new(file.try_clone().map_err(io)?)
        .map_err(|e| parquet_err(path, "", e))?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let mut columns = Vec::with_capacity(schema.num_columns());
    let mut seen = HashSet::new();
    for (index, descr) in schema.columns().iter().enumerate() {
        let parts = descr.path().parts();
        let name = parts.join(".");
        let physical = descr.physical_type();
        let kind = if parts.len() > 1 || descr.max_rep_level() > 0 {
            Kind::Other("nested".into())
        } else if descr.converted_type() == ConvertedType::DECIMAL {
            // The unscaled integers are not the values: refuse rather than misread them.
            Kind::Other(format!(
                "decimal({}, {})",
                descr.type_precision(),
                descr.type_scale()
            ))
        } else {
            match physical {
                PhysicalType::FLOAT | PhysicalType::DOUBLE => Kind::Float,
                PhysicalType::INT32 | PhysicalType::INT64 => Kind::Int,
                PhysicalType::BYTE_ARRAY => Kind::Str,
                PhysicalType::FIXED_LEN_BYTE_ARRAY
                    if descr.logical_type_ref() == Some(&LogicalType::Float16) =>
                {
                    Kind::Other("float16".into())
                }
                other => Kind::Other(other.to_string().to_lowercase()),
            }
        };
        if !seen.insert(name.clone()) {
            return Err(DataError::DuplicateColumn {
                path: path.to_path_buf(),
                column: name,
            });
        }
        columns.push(ColInfo {
            name,
            kind,
            index,
            physical: Some(physical),
            max_def: descr.max_def_level(),
        });
    }
    let groups = checked_row_groups(path, &mut file, file_len, meta)?;
    let rows: usize = groups.iter().sum();
    if rows == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    // Empty row groups stay in the list: job `gi` reads row group `gi` of the file.
    Ok(FileInfo {
        path: path.to_path_buf(),
        format: Format::Parquet,
        columns,
        rows,
        groups,
        root: None,
    })
}

pub(super) fn csv_reader(path: &Path) -> Result<csv::Reader<File>, DataError> {
    let file = File::open(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(file))
}

fn is_int(s: &str) -> bool {
    s.parse::<i64>().is_ok()
}

pub(super) fn is_number(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

fn inspect_csv(path: &Path) -> Result<FileInfo, DataError> {
    let mut rdr = csv_reader(path)?;
    let header = rdr.headers().map_err(|e| csv_err(path, e))?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let ncol = header.len();
    let mut seen = HashSet::new();
    for h in header.iter() {
        if !seen.insert(h) {
            return Err(DataError::DuplicateColumn {
                path: path.to_path_buf(),
                column: h.to_string(),
            });
        }
    }
    // per column: all non-empty are ints / numbers, any non-empty
    let mut all_int = vec![true; ncol];
    let mut all_num = vec![true; ncol];
    let mut any = vec![false; ncol];
    let mut rows = 0usize;
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        for (j, field) in rec.iter().enumerate() {
            if field.is_empty() {
                continue;
            }
            any[j] = true;
            if all_int[j] && !is_int(field) {
                all_int[j] = false;
            }
            if !all_int[j] && all_num[j] && !is_number(field) {
                all_num[j] = false;
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let columns = header
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let kind = if !any[j] {
                Kind::Str
            } else if all_int[j] {
                Kind::Int
            } else if all_num[j] {
                Kind::Float
            } else {
                Kind::Str
            };
            ColInfo {
                name: name.to_string(),
                kind,
                index: j,
                physical: None,
                max_def: 0,
            }
        })
        .collect();
    Ok(FileInfo {
        path: path.to_path_buf(),
        format: Format::Csv,
        columns,
        rows,
        groups: vec![rows],
        root: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::data::testutil::*;
    use crate::data::{DataError, DataSpec, expand_inputs, load_events};

    #[test]
    fn empty_garbage_and_truncated_files() {
        let d = tmpdir("bad");
        let empty = d.join("empty.parquet");
        write_parquet(&empty, &[Col::F32("a", vec![])], 10);
        let e = load_events(&[empty], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::EmptyFile { .. }), "{e}");

        let garbage = d.join("garbage.parquet");
        write_text(&garbage, "this is not parquet at all, not even close");
        let e = load_events(&[garbage], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::Parquet { .. }), "{e}");

        let good = d.join("good.parquet");
        std_file(&good, "s", 2000, 0, 2000);
        let bytes = std::fs::read(&good).unwrap();
        let trunc = d.join("trunc.parquet");
        std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
        let e = load_events(&[trunc], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::Parquet { .. }), "{e}");
        // corrupt the middle but keep the footer
        let mut bad = bytes.clone();
        for b in &mut bad[200..bytes.len() / 2] {
            *b = 0xAB;
        }
        let corrupt = d.join("corrupt.parquet");
        std::fs::write(&corrupt, &bad).unwrap();
        let e = load_events(&[corrupt], &DataSpec::default(), None, false).unwrap_err();
        assert!(
            matches!(e, DataError::Parquet { .. } | DataError::NonFinite { .. }),
            "{e}"
        );

        let e =
            load_events(&[d.join("nope.parquet")], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e}");
        let e = load_events(&[d.join("x.txt")], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::UnsupportedFormat { .. }), "{e}");
        let e = load_events(&[], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::NoInputs), "{e}");

        let empty_csv = d.join("e.csv");
        write_text(&empty_csv, "a,b\n");
        let e = load_events(&[empty_csv], &DataSpec::default(), None, false).unwrap_err();
        assert!(matches!(e, DataError::EmptyFile { .. }), "{e}");
    }

    #[test]
    fn expand_inputs_globs_dirs_and_errors() {
        let d = tmpdir("expand");
        for n in ["b.parquet", "a.parquet", "c.csv", "notes.txt"] {
            write_text(&d.join(n), "x");
        }
        let g = format!("{}/*.parquet", d.display());
        let v = expand_inputs(&[g]).unwrap();
        assert_eq!(v, vec![d.join("a.parquet"), d.join("b.parquet")]);
        let v = expand_inputs(&[d.display().to_string()]).unwrap();
        assert_eq!(
            v,
            vec![d.join("a.parquet"), d.join("b.parquet"), d.join("c.csv")]
        );
        let e = expand_inputs(&[format!("{}/*.nothing", d.display())]).unwrap_err();
        assert!(
            matches!(e, DataError::NoMatch { .. }) && e.to_string().contains("matches no files"),
            "{e}"
        );
        assert!(matches!(
            expand_inputs(&[d.join("missing.csv").display().to_string()]),
            Err(DataError::Io { .. })
        ));
        assert!(matches!(expand_inputs(&[]), Err(DataError::NoInputs)));
    }

    #[test]
    fn duplicate_column_names_are_errors() {
        let d = tmpdir("duplicates");
        let p = d.join("x.parquet");
        write_parquet(
            &p,
            &[
                Col::F32("j1_pt", vec![1.0]),
                Col::F32("j1_eta", vec![0.5]),
                Col::F32("j1_pt", vec![2.0]),
            ],
            10,
        );
        let c = d.join("x.csv");
        write_text(&c, "j1_pt,j1_eta,j1_pt\n1,0.5,2\n");
        for path in [p, c] {
            let e = load_events(
                std::slice::from_ref(&path),
                &DataSpec::default(),
                None,
                false,
            )
            .unwrap_err();
            assert!(
                matches!(&e, DataError::DuplicateColumn { path: f, column } if f == &path && column == "j1_pt"),
                "{e}"
            );
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
    }
}
