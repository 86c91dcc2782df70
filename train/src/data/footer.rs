//! Checks of what a Parquet footer claims, made before anything is allocated for the file's
//! rows. The row counts in the footer size the output buffers, and the `parquet` crate trusts
//! the footer's offsets (it panics on a negative one) and its dictionary layout (it panics on a
//! dictionary-encoded page without a dictionary page). So the footer is checked
//!
//! * against itself: the rows of the file are those of its row groups, and each column chunk
//!   of a row group holds one value per row (at least one, for nested columns);
//! * against the file: every column chunk lies between the leading `PAR1` and the footer, and
//!   its physical type is the schema's;
//! * against the page headers it points to: the pages of a column chunk fill it exactly, their
//!   value counts add up to the chunk's, and a dictionary-encoded page comes after a
//!   dictionary page. Only the headers are read (a few bytes per page), not the pages.
//!
//! * against what a page can hold: a page header may not claim more decompressed bytes than
//!   its values can take (the reader allocates the claim before decompressing).
//!
//! A file that fails any check is a [`DataError::Parquet`] naming the file, the column and the
//! row group. Page contents are checked as they are read, by `page_check`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};

use super::DataError;
use super::error::parquet_err;
use super::page_header::{Malformed, PageHeader, PageKind};

/// Bytes read for a page header at first; a header that does not fit (large statistics) is
/// read again with a bigger window, up to the end of its column chunk.
const HEADER_WINDOW: u64 = 256;

/// Check the footer `meta` of the Parquet file `path` (open as `file`, of `file_len` bytes) as
/// described in the module docs, and return the number of rows of each row group.
pub(super) fn checked_row_groups(
    path: &Path,
    file: &mut File,
    file_len: u64,
    meta: &ParquetMetaData,
) -> Result<Vec<usize>, DataError> {
    let bad = |context: String, message: String| parquet_err(path, &context, message);
    let data_end = data_end(path, file, file_len)?;
    let schema = meta.file_metadata().schema_descr();
    let mut groups = Vec::with_capacity(meta.num_row_groups());
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let rows = rg.num_rows();
        if rows < 0 {
            return Err(bad(
                String::new(),
                format!("row group {g} claims {rows} rows"),
            ));
        }
        if rg.num_columns() != schema.num_columns() {
            return Err(bad(
                String::new(),
                format!(
                    "row group {g} has {} column chunks for {} columns",
                    rg.num_columns(),
                    schema.num_columns()
                ),
            ));
        }
        for (chunk, descr) in rg.columns().iter().zip(schema.columns()) {
            let context = format!("column `{}`, row group {g}: ", descr.path().string());
            let flat = descr.max_rep_level() == 0;
            check_chunk(chunk, descr.physical_type(), flat, rows, data_end)
                .map_err(|m| bad(context.clone(), m))?;
            // Nested columns and empty row groups are never read: their pages are not walked.
            if flat && rows > 0 {
                walk_pages(file, chunk).map_err(|m| bad(context, m))?;
            }
        }
        groups.push(rows as usize);
    }
    let total: u64 = groups.iter().map(|&r| r as u64).sum();
    let declared = meta.file_metadata().num_rows();
    if declared >= 0 && declared as u64 != total {
        return Err(bad(
            String::new(),
            format!("footer says {declared} rows but the row groups hold {total}"),
        ));
    }
    Ok(groups)
}

/// Where the footer starts: the data pages must end there.
fn data_end(path: &Path, file: &mut File, file_len: u64) -> Result<u64, DataError> {
    let mut tail = [0u8; 8];
    let at = file_len
        .checked_sub(8)
        .ok_or_else(|| parquet_err(path, "", "file too short"))?;
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    file_len
        .checked_sub(8 + footer_len)
        .ok_or_else(|| parquet_err(path, "", "footer length exceeds the file"))
}

/// The footer's own claims about one column chunk, against the row count and the file.
fn check_chunk(
    chunk: &ColumnChunkMetaData,
    physical: parquet::basic::Type,
    flat: bool,
    rows: i64,
    data_end: u64,
) -> Result<(), String> {
    if chunk.column_type() != physical {
        return Err(format!(
            "column chunk of type {} in a column of type {physical}",
            chunk.column_type()
        ));
    }
    let values = chunk.num_values();
    if (flat && values != rows) || values < rows {
        return Err(format!(
            "the row group claims {rows} rows but the column chunk holds {values} values"
        ));
    }
    if values == 0 {
        // An empty row group (pyarrow and the parquet crate write them, with whatever offsets)
        // is never read.
        return Ok(());
    }
    let data = chunk.data_page_offset();
    let start = match chunk.dictionary_page_offset() {
        Some(dict) if dict >= data => {
            return Err(format!(
                "dictionary page at byte {dict} is not before the data pages at byte {data}"
            ));
        }
        Some(dict) => dict,
        None => data,
    };
    let len = chunk.compressed_size();
    let end = start.checked_add(len);
    if start < 4 || len < 0 || end.is_none_or(|e| e as u64 > data_end) {
        return Err(format!(
            "column chunk of {len} bytes at byte {start} is outside the data part of the file \
             (bytes 4 to {data_end})"
        ));
    }
    Ok(())
}

/// Read the page headers of a column chunk (already checked to lie inside the file) and hold
/// them against the chunk's value count and byte range.
fn walk_pages(file: &mut File, chunk: &ColumnChunkMetaData) -> Result<(), String> {
    let (start, len) = chunk.byte_range();
    let (end, expected) = (start + len, chunk.num_values());
    let (mut at, mut values, mut dictionary) = (start, 0i64, false);
    let mut window = Vec::new();
    while at < end {
        let header = read_page_header(file, at, end, &mut window)?;
        let next = at + header.len + header.compressed_size;
        if next > end {
            return Err(format!(
                "page at byte {at} ({} bytes) runs past the end of its column chunk at byte {end}",
                header.len + header.compressed_size
            ));
        }
        let most = most_page_bytes(chunk, &header.kind);
        if header.uncompressed_size > most {
            return Err(format!(
                "page at byte {at} claims {} bytes once decompressed, more than its values can \
                 take ({most} at most)",
                header.uncompressed_size
            ));
        }
        match header.kind {
            PageKind::Dictionary { .. } if at != start => {
                return Err(format!(
                    "dictionary page at byte {at} is not the chunk's first"
                ));
            }
            PageKind::Dictionary { .. } => dictionary = true,
            PageKind::Data {
                values: v,
                encoding,
            } => {
                if v < 0 {
                    return Err(format!("page at byte {at} claims {v} values"));
                }
                if is_dictionary(encoding) && !dictionary {
                    return Err(format!(
                        "page at byte {at} is dictionary-encoded but the chunk has no dictionary page"
                    ));
                }
                values += i64::from(v);
                if values > expected {
                    break;
                }
            }
            PageKind::Other => {}
        }
        at = next;
    }
    if values != expected {
        return Err(format!(
            "the footer claims {expected} values but the page headers hold {}{values}",
            if values > expected { "more than " } else { "" }
        ));
    }
    Ok(())
}

/// Largest decompressed page that any reader will allocate for one page.
const MAX_PAGE_BYTES: u64 = 512 << 20;

/// The most bytes a page of `kind` in `chunk` can hold once decompressed, so that a header
/// claiming gigabytes for a few values is refused before the reader allocates them. For
/// fixed-width types a value takes at most its width (at least 8 bytes, for a dictionary
/// index run of its own) plus 8 bytes of levels and run headers; byte arrays have no width.
fn most_page_bytes(chunk: &ColumnChunkMetaData, kind: &PageKind) -> u64 {
    let width = match chunk.column_type() {
        PhysicalType::BOOLEAN => Some(1),
        PhysicalType::INT32 | PhysicalType::FLOAT => Some(4),
        PhysicalType::INT64 | PhysicalType::DOUBLE => Some(8),
        PhysicalType::INT96 => Some(12),
        PhysicalType::FIXED_LEN_BYTE_ARRAY => {
            u64::try_from(chunk.column_descr().type_length()).ok()
        }
        PhysicalType::BYTE_ARRAY => None,
    };
    let per_value = |values: i32, per: u64| {
        u64::try_from(values)
            .unwrap_or(0)
            .saturating_mul(per)
            .saturating_add(4096)
    };
    let most = match (kind, width) {
        (PageKind::Data { values, .. }, Some(w)) => per_value(*values, w.max(8) + 8),
        (PageKind::Dictionary { values }, Some(w)) => per_value(*values, w),
        _ => MAX_PAGE_BYTES,
    };
    most.min(MAX_PAGE_BYTES)
}

fn is_dictionary(encoding: i32) -> bool {
    encoding == Encoding::PLAIN_DICTIONARY as i32 || encoding == Encoding::RLE_DICTIONARY as i32
}

/// Read the page header at byte `at` of a chunk that ends at `end`, through `window` (reused).
fn read_page_header(
    file: &mut File,
    at: u64,
    end: u64,
    window: &mut Vec<u8>,
) -> Result<PageHeader, String> {
    let mut size = HEADER_WINDOW;
    loop {
        let want = size.min(end - at) as usize;
        window.resize(want, 0);
        let io = |e: std::io::Error| format!("page header at byte {at}: {e}");
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        file.read_exact(window).map_err(io)?;
        match PageHeader::parse(window) {
            Ok(header) => return Ok(header),
            Err(Malformed::End) if (want as u64) < end - at => size *= 16,
            Err(Malformed::End) => {
                return Err(format!(
                    "page header at byte {at} runs past the end of its column chunk"
                ));
            }
            Err(Malformed::Bad(what)) => {
                return Err(format!("unreadable page header at byte {at}: {what}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::path::Path;

    use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData, RowGroupMetaData};

    use super::HEADER_WINDOW;
    use crate::data::page_header::PageHeader;
    use crate::data::testutil::*;
    use crate::data::{DataError, DataSpec, EventTable, load_events};

    /// Two float features and an integer id, `rows` rows in row groups of `group_rows`.
    fn small_file(path: &Path, rows: usize, group_rows: usize) {
        write_parquet(
            path,
            &[
                Col::F32("a", (0..rows).map(|i| i as f32).collect()),
                Col::F64("b", (0..rows).map(|i| 0.5 * i as f64).collect()),
                Col::I64("event_id", (0..rows as i64).collect()),
            ],
            group_rows,
        );
    }

    /// Apply `edit` to every row group of `meta`.
    fn edit_groups(
        meta: ParquetMetaData,
        edit: impl Fn(RowGroupMetaData) -> RowGroupMetaData,
    ) -> ParquetMetaData {
        let mut b = meta.into_builder();
        let groups = b.take_row_groups().into_iter().map(edit).collect();
        b.set_row_groups(groups).build()
    }

    fn load(path: &Path) -> Result<EventTable, DataError> {
        load_events(&[path.to_path_buf()], &DataSpec::default(), None, false)
    }

    /// The message of a `DataError::Parquet` for `path`; panics on any other outcome.
    fn parquet_message(r: Result<EventTable, DataError>, path: &Path) -> String {
        match r {
            Err(e @ DataError::Parquet { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                msg
            }
            Err(e) => panic!("expected a parquet error, got: {e}"),
            Ok(t) => panic!("expected an error, loaded {} rows", t.len()),
        }
    }

    /// A 1000-row file whose footer claims 10⁹ rows: before the check, the loader allocated
    /// for 10⁹ rows (aborting with more columns) and only then found the data short.
    #[test]
    fn footer_claiming_rows_its_columns_do_not_hold_is_an_error() {
        let d = tmpdir("footer-rows");
        let p = d.join("lying.parquet");
        small_file(&p, 1000, 1000);
        rewrite_footer(&p, |m| {
            edit_groups(m, |rg| {
                rg.into_builder()
                    .set_num_rows(1_000_000_000)
                    .build()
                    .unwrap()
            })
        });
        let msg = parquet_message(load(&p), &p);
        assert!(
            msg.contains("1000000000 rows") && msg.contains("1000 values"),
            "{msg}"
        );
    }

    /// A page header claiming far more decompressed bytes than its values can take: the
    /// parquet crate allocates the claim (up to 2 GiB) before decompressing.
    #[test]
    fn page_claiming_too_many_decompressed_bytes_is_refused() {
        let d = tmpdir("footer-uncompressed");
        let p = d.join("bomb.parquet");
        small_file(&p, 100, 100);
        let mut bytes = std::fs::read(&p).unwrap();
        let meta = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(
            &bytes[footer_range(&bytes)],
        )
        .unwrap();
        let (start, _) = meta.row_group(0).column(0).byte_range();
        let at = start as usize;
        // Field 1 (page type, one byte), then field 2: the uncompressed size, a varint that
        // is rewritten as the largest positive zigzag value of the same length.
        assert_eq!(bytes[at + 2], 0x15, "field 2 follows field 1");
        let len = bytes[at + 3..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
        let before = PageHeader::parse(&bytes[at..]).unwrap();
        for (i, b) in bytes[at + 3..at + 3 + len].iter_mut().enumerate() {
            *b = if i == 0 {
                0xFE
            } else if i + 1 < len {
                0xFF
            } else {
                0x7F
            };
        }
        let after = PageHeader::parse(&bytes[at..]).unwrap();
        assert!(
            after.uncompressed_size > 4 * before.uncompressed_size,
            "{after:?}"
        );
        std::fs::write(&p, &bytes).unwrap();
        let msg = parquet_message(load(&p), &p);
        assert!(msg.contains("once decompressed"), "{msg}");
    }

    /// A footer whose row groups and column chunks all agree on 2·10⁷ rows that the pages do
    /// not hold: only the page headers can tell.
    #[test]
    fn consistent_footer_lie_is_caught_by_the_page_headers() {
        let d = tmpdir("footer-consistent");
        let p = d.join("lying.parquet");
        small_file(&p, 1000, 400);
        let claimed = 20_000_000i64;
        rewrite_footer(&p, |m| {
            edit_groups(m, |rg| {
                let mut b = rg.into_builder();
                let cols = b
                    .take_columns()
                    .into_iter()
                    .map(|c| c.into_builder().set_num_values(claimed).build().unwrap())
                    .collect();
                b.set_column_metadata(cols)
                    .set_num_rows(claimed)
                    .build()
                    .unwrap()
            })
        });
        let msg = parquet_message(load(&p), &p);
        assert!(
            msg.contains("20000000") && msg.contains("page headers"),
            "{msg}"
        );
    }

    /// Offsets and lengths that the parquet crate would panic on (negative) or read garbage
    /// with (outside the data part of the file), in the metadata of column `b`.
    #[test]
    fn column_chunks_outside_the_file_are_errors_not_panics() {
        let d = tmpdir("footer-offsets");
        let p = d.join("x.parquet");
        let len = |p: &Path| std::fs::metadata(p).unwrap().len() as i64;
        // An edit of one column chunk's metadata, given the file length.
        type Edit = fn(ColumnChunkMetaData, i64) -> ColumnChunkMetaData;
        let edits: [(&str, Edit); 5] = [
            ("negative length", |c, _| {
                c.into_builder()
                    .set_total_compressed_size(-1)
                    .build()
                    .unwrap()
            }),
            ("negative offset", |c, _| {
                c.into_builder()
                    .set_data_page_offset(-100)
                    .set_dictionary_page_offset(None)
                    .build()
                    .unwrap()
            }),
            ("past the end", |c, n| {
                c.into_builder()
                    .set_data_page_offset(n + 10)
                    .set_dictionary_page_offset(None)
                    .build()
                    .unwrap()
            }),
            ("into the footer", |c, n| {
                c.into_builder()
                    .set_total_compressed_size(n)
                    .build()
                    .unwrap()
            }),
            ("negative value count", |c, _| {
                c.into_builder().set_num_values(-5).build().unwrap()
            }),
        ];
        for (what, edit) in edits {
            small_file(&p, 100, 100);
            let n = len(&p);
            rewrite_footer(&p, |m| {
                edit_groups(m, |rg| {
                    let mut b = rg.into_builder();
                    let mut cols = b.take_columns();
                    cols[1] = edit(cols[1].clone(), n);
                    b.set_column_metadata(cols).build().unwrap()
                })
            });
            let r = catch_unwind(AssertUnwindSafe(|| load(&p)))
                .unwrap_or_else(|_| panic!("{what}: load_events panicked"));
            let msg = parquet_message(r, &p);
            assert!(msg.contains("`b`"), "{what}: {msg}");
        }
    }

    /// Every byte of the footer (and of its length field), changed in several ways: the load
    /// either fails with an error or reads the file's 300 rows, and never panics.
    #[test]
    fn corrupted_footers_never_panic() {
        let d = tmpdir("footer-fuzz");
        let good = d.join("good.parquet");
        small_file(&good, 300, 150);
        let bytes = std::fs::read(&good).unwrap();
        let footer = footer_range(&bytes);
        let p = d.join("bad.parquet");
        type Change = (&'static str, fn(u8) -> u8);
        let changes: [Change; 4] = [
            ("all bits flipped", |b| !b),
            ("low bit flipped", |b| b ^ 0x01),
            ("high bit flipped", |b| b ^ 0x80),
            ("zeroed", |_| 0),
        ];
        let mut panics = Vec::new();
        let (mut errors, mut loads) = (0, 0);
        for pos in footer.start..bytes.len() - 4 {
            for (change, apply) in changes {
                let mut bad = bytes.clone();
                bad[pos] = apply(bad[pos]);
                if bad == bytes {
                    continue;
                }
                std::fs::write(&p, &bad).unwrap();
                match catch_unwind(AssertUnwindSafe(|| load(&p))) {
                    Err(_) => panics.push((pos - footer.start, change)),
                    Ok(Err(_)) => errors += 1,
                    Ok(Ok(t)) => {
                        assert_eq!(t.len(), 300, "footer byte {pos}: {change}");
                        loads += 1;
                    }
                }
            }
        }
        // Both outcomes occur: the test reaches the checks and the readers.
        assert!(errors > 500 && loads > 50, "{errors} errors, {loads} loads");
        assert!(
            panics.is_empty(),
            "panics at (footer offset, change): {panics:?}"
        );
    }

    /// Files the checks must accept: v1 and v2 data pages, dictionary and plain pages, several
    /// pages per chunk, and page headers far longer than the first read window (untruncated
    /// statistics of long strings).
    #[test]
    fn valid_files_pass_the_checks() {
        use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

        let d = tmpdir("footer-valid");
        let p = d.join("x.parquet");
        let rows = 3000;
        let long: Vec<String> = (0..rows)
            .map(|i| format!("{}{i}", "p".repeat(2000)))
            .collect();
        let a: Vec<f32> = (0..rows).map(|i| i as f32).collect();
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            for dictionary in [true, false] {
                let props = WriterProperties::builder()
                    .set_writer_version(version)
                    .set_dictionary_enabled(dictionary)
                    .set_data_page_row_count_limit(500)
                    .set_write_batch_size(100)
                    .set_statistics_truncate_length(None)
                    .set_statistics_enabled(EnabledStatistics::Page)
                    .set_write_page_header_statistics(true)
                    .build();
                write_parquet_with(
                    &p,
                    &[
                        Col::F32("a", a.clone()),
                        Col::Str("process", long.iter().map(String::as_str).collect()),
                    ],
                    &[(0, 1000), (1000, rows)],
                    props,
                );
                let bytes = std::fs::read(&p).unwrap();
                let meta = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(
                    &bytes[footer_range(&bytes)],
                )
                .unwrap();
                let chunk = meta.row_group(1).column(1);
                let data_page = chunk.data_page_offset() as usize;
                let header = PageHeader::parse(&bytes[data_page..]).unwrap();
                assert!(header.len > HEADER_WINDOW, "{version:?}: {header:?}");
                let t = load(&p).unwrap();
                assert_eq!(t.features, a, "{version:?}, dictionary {dictionary}");
                let process = t.passthrough_column("process").unwrap();
                assert_eq!(process.value_string(2999), long[2999]);
            }
        }
    }
}
