//! Checks of a Parquet page's contents, made between the `parquet` crate's page reader (which
//! reads and decompresses a page, with its size already bounded by `footer`) and its column
//! decoders, which trust what they are given: a run header longer than the format allows
//! panics in `BitReader::get_vlq_int`, a short `BIT_PACKED` level block or v2 level lengths
//! longer than the page panic in `Bytes::slice`, a dictionary page claiming more entries than
//! it holds allocates them all. [`CheckedPages`] wraps the page reader of one column chunk and
//! hands a page on only once its levels and values have the structure their encodings
//! promise; the crate's decoders then see only well-formed runs, lengths that fit and
//! counts they can allocate. Value encodings whose decoders were not checked (`ALP`, `RLE`
//! for a number, ...) are refused by name.

use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageMetadata, PageReader};
use parquet::errors::{ParquetError, Result as PqResult};
use parquet::schema::types::ColumnDescriptor;

/// The page reader of one column chunk, checking each page before it is decoded.
pub(super) struct CheckedPages {
    inner: Box<dyn PageReader>,
    column: Column,
    /// Pages handed on so far, to name a bad one.
    pages: usize,
    dictionary: bool,
}

/// What the checks need to know about the column.
#[derive(Clone, Copy)]
struct Column {
    max_def: i16,
    max_rep: i16,
    physical: PhysicalType,
}

impl CheckedPages {
    pub(super) fn new(inner: Box<dyn PageReader>, descr: &ColumnDescriptor) -> Self {
        CheckedPages {
            inner,
            column: Column {
                max_def: descr.max_def_level(),
                max_rep: descr.max_rep_level(),
                physical: descr.physical_type(),
            },
            pages: 0,
            dictionary: false,
        }
    }

    fn checked(&mut self, page: Option<Page>) -> PqResult<Option<Page>> {
        if let Some(p) = &page {
            let is_dictionary = matches!(p, Page::DictionaryPage { .. });
            check_page(p, self.column, self.dictionary).map_err(|e| {
                ParquetError::General(format!("page {} of the column chunk: {e}", self.pages))
            })?;
            self.dictionary |= is_dictionary;
            self.pages += 1;
        }
        Ok(page)
    }
}

impl Iterator for CheckedPages {
    type Item = PqResult<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}

impl PageReader for CheckedPages {
    fn get_next_page(&mut self) -> PqResult<Option<Page>> {
        let page = self.inner.get_next_page()?;
        self.checked(page)
    }

    fn peek_next_page(&mut self) -> PqResult<Option<PageMetadata>> {
        self.inner.peek_next_page()
    }

    fn skip_next_page(&mut self) -> PqResult<()> {
        self.inner.skip_next_page()
    }

    fn supports_deferred_dictionary(&self) -> bool {
        self.inner.supports_deferred_dictionary()
    }

    fn take_deferred_dictionary(&mut self) -> PqResult<Option<Page>> {
        let page = self.inner.take_deferred_dictionary()?;
        self.checked(page)
    }

    fn at_record_boundary(&mut self) -> PqResult<bool> {
        self.inner.at_record_boundary()
    }
}

/// Check one page of `column`; `dictionary`: a dictionary page came before it.
fn check_page(page: &Page, column: Column, dictionary: bool) -> Result<(), String> {
    match page {
        Page::DataPage {
            buf,
            num_values,
            encoding,
            def_level_encoding,
            rep_level_encoding,
            ..
        } => {
            let levels = *num_values as usize;
            let mut at = 0;
            if column.max_rep > 0 {
                let (used, _) = v1_levels(buf, column.max_rep, levels, *rep_level_encoding)
                    .map_err(|e| format!("repetition levels: {e}"))?;
                at += used;
            }
            let present = if column.max_def > 0 {
                let (used, present) =
                    v1_levels(&buf[at..], column.max_def, levels, *def_level_encoding)
                        .map_err(|e| format!("definition levels: {e}"))?;
                at += used;
                present
            } else {
                levels
            };
            check_values(&buf[at..], *encoding, (levels, present), column, dictionary)
        }
        Page::DataPageV2 {
            buf,
            num_values,
            encoding,
            def_levels_byte_len,
            rep_levels_byte_len,
            ..
        } => {
            let (rep, def) = (*rep_levels_byte_len as usize, *def_levels_byte_len as usize);
            let levels_end = rep
                .checked_add(def)
                .filter(|&end| end <= buf.len())
                .ok_or_else(|| {
                    format!(
                        "its levels ({rep} + {def} bytes) are longer than the page ({} bytes)",
                        buf.len()
                    )
                })?;
            let levels = *num_values as usize;
            if column.max_rep > 0 {
                rle_runs(&buf[..rep], bit_width(column.max_rep), levels, None)
                    .map_err(|e| format!("repetition levels: {e}"))?;
            }
            let present = if column.max_def > 0 {
                let max = u64::from(column.max_def.unsigned_abs());
                rle_runs(
                    &buf[rep..levels_end],
                    bit_width(column.max_def),
                    levels,
                    Some(max),
                )
                .map_err(|e| format!("definition levels: {e}"))?
            } else {
                levels
            };
            check_values(
                &buf[levels_end..],
                *encoding,
                (levels, present),
                column,
                dictionary,
            )
        }
        Page::DictionaryPage {
            buf,
            num_values,
            encoding,
            ..
        } => match encoding {
            Encoding::PLAIN | Encoding::PLAIN_DICTIONARY => {
                plain(buf, *num_values as usize, column.physical)
                    .map_err(|e| format!("dictionary page: {e}"))
            }
            other => Err(format!(
                "dictionary page in {other} encoding (only PLAIN exists)"
            )),
        },
    }
}

/// Bits of a level of at most `max`.
fn bit_width(max: i16) -> u8 {
    (16 - max.unsigned_abs().leading_zeros()) as u8
}

/// The levels at the start of a v1 page's `buf`: (bytes they take, how many equal `max`,
/// i.e. how many values are present).
fn v1_levels(
    buf: &[u8],
    max: i16,
    levels: usize,
    encoding: Encoding,
) -> Result<(usize, usize), String> {
    let width = bit_width(max);
    let max = u64::from(max.unsigned_abs());
    match encoding {
        Encoding::RLE => {
            let len = buf
                .first_chunk::<4>()
                .map(|b| i32::from_le_bytes(*b))
                .ok_or("the page ends inside their length")?;
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| l.checked_add(4))
                .filter(|&end| end <= buf.len())
                .ok_or_else(|| {
                    format!(
                        "{len} bytes of levels claimed, {} left in the page",
                        buf.len().saturating_sub(4)
                    )
                })?;
            let present = rle_runs(&buf[4..end], width, levels, Some(max))?;
            Ok((end, present))
        }
        #[allow(deprecated)]
        Encoding::BIT_PACKED => {
            let bits = levels.saturating_mul(usize::from(width));
            let bytes = bits.div_ceil(8);
            if bytes > buf.len() {
                return Err(format!(
                    "{levels} bit-packed levels need {bytes} bytes, the page has {}",
                    buf.len()
                ));
            }
            let present = (0..levels)
                .filter(|&i| bits_at(buf, i * usize::from(width), width) == Some(max))
                .count();
            Ok((bytes, present))
        }
        other => Err(format!("{other} is not a level encoding")),
    }
}

/// Check the values section `data` of a data page of `levels` values of which `present` are
/// not null.
fn check_values(
    data: &[u8],
    encoding: Encoding,
    (levels, present): (usize, usize),
    column: Column,
    dictionary: bool,
) -> Result<(), String> {
    let integer = matches!(column.physical, PhysicalType::INT32 | PhysicalType::INT64);
    match encoding {
        Encoding::PLAIN => plain(data, present, column.physical),
        Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY => {
            if !dictionary {
                return Err("dictionary-encoded values without a dictionary page".into());
            }
            let Some((&width, runs)) = data.split_first() else {
                return if present == 0 {
                    Ok(())
                } else {
                    Err("dictionary indices without their bit width".into())
                };
            };
            if width > 32 {
                return Err(format!("dictionary indices of {width} bits (at most 32)"));
            }
            rle_runs(runs, width, present, None).map(|_| ())
        }
        // Integers: only the structure matters (the values are the crate's to decode).
        Encoding::DELTA_BINARY_PACKED if integer => {
            delta_stream(data, present as u64, false).map(|_| ())
        }
        Encoding::DELTA_LENGTH_BYTE_ARRAY if column.physical == PhysicalType::BYTE_ARRAY => {
            delta_length_arrays(data, levels).map(|_| ())
        }
        Encoding::DELTA_BYTE_ARRAY if column.physical == PhysicalType::BYTE_ARRAY => {
            delta_byte_arrays(data, levels)
        }
        Encoding::BYTE_STREAM_SPLIT if column.physical != PhysicalType::BYTE_ARRAY => {
            let width = fixed_width(column.physical);
            if !data.len().is_multiple_of(width) || data.len() / width < present {
                return Err(format!(
                    "BYTE_STREAM_SPLIT values of {} bytes for {present} values of {width} bytes",
                    data.len()
                ));
            }
            Ok(())
        }
        other => Err(format!(
            "values in {other} encoding, which bead's Parquet reader does not decode for a \
             {} column (it reads PLAIN, dictionary and BYTE_STREAM_SPLIT, DELTA_BINARY_PACKED \
             for integers and the two DELTA encodings of byte arrays); rewrite the file with one of these, e.g. with pyarrow's \
             defaults",
            column.physical
        )),
    }
}

/// Bytes per value of a fixed-width type (the readers take no other).
fn fixed_width(physical: PhysicalType) -> usize {
    match physical {
        PhysicalType::INT64 | PhysicalType::DOUBLE => 8,
        _ => 4,
    }
}

/// `n` PLAIN values: byte arrays as 4-byte lengths each followed by their bytes, fixed-width
/// values back to back.
fn plain(data: &[u8], n: usize, physical: PhysicalType) -> Result<(), String> {
    if physical != PhysicalType::BYTE_ARRAY {
        let need = n.saturating_mul(fixed_width(physical));
        if data.len() < need {
            return Err(format!(
                "{n} PLAIN values need {need} bytes, the page holds {}",
                data.len()
            ));
        }
        return Ok(());
    }
    let mut at = 0usize;
    for i in 0..n {
        let len = data
            .get(at..)
            .and_then(|rest| rest.first_chunk::<4>())
            .map(|b| u32::from_le_bytes(*b) as usize)
            .ok_or_else(|| format!("byte array {i} of {n}: the page ends inside its length"))?;
        at = at
            .saturating_add(4)
            .checked_add(len)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                format!(
                    "byte array {i} of {n} claims {len} bytes, {} are left in the page",
                    data.len().saturating_sub(at + 4)
                )
            })?;
    }
    Ok(())
}

/// A ULEB128 integer at `at`: `Ok(None)` if the data ends inside it (the decoders stop there
/// with an error of their own), an error if it takes more than `most` bytes.
fn uleb(data: &[u8], at: usize, most: usize) -> Result<Option<(u64, usize)>, String> {
    let mut value = 0u64;
    for i in 0..most {
        let Some(&byte) = data.get(at + i) else {
            return Ok(None);
        };
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, at + i + 1)));
        }
    }
    Err(format!(
        "a run header at byte {at} is longer than {most} bytes (corrupt encoded data)"
    ))
}

/// The `width`-bit (at most 64) little-endian value starting at bit `bit` of `data` (None
/// past the end).
fn bits_at(data: &[u8], bit: usize, width: u8) -> Option<u64> {
    let end = bit.checked_add(usize::from(width))?;
    let bytes = data.get(bit / 8..end.div_ceil(8))?;
    // At most 9 bytes for 64 bits at an odd offset.
    let word = bytes
        .iter()
        .rev()
        .fold(0u128, |w, &b| (w << 8) | u128::from(b));
    let mask = (1u128 << width) - 1;
    Some(((word >> (bit % 8)) & mask) as u64)
}

/// Walk the RLE / bit-packed hybrid runs of `data` (values of `width` bits) over the first `n`
/// values, as the crate's `RleDecoder` reads them, and return how many of those equal `count`
/// (0 without one). Stops where the decoder stops: at a zero header (padding), at the end of
/// the data, or after `n` values.
fn rle_runs(data: &[u8], width: u8, n: usize, count: Option<u64>) -> Result<usize, String> {
    let value_bytes = usize::from(width).div_ceil(8);
    let (mut at, mut seen, mut counted) = (0usize, 0usize, 0usize);
    while seen < n && at < data.len() {
        // Run headers are unsigned 32-bit integers: at most 5 bytes.
        let Some((header, next)) = uleb(data, at, 5)? else {
            break;
        };
        if header > u64::from(u32::MAX) {
            return Err(format!("run header {header} at byte {at} exceeds 32 bits"));
        }
        at = next;
        if header == 0 {
            break;
        }
        let runs = (header >> 1) as usize;
        if header & 1 == 1 {
            // `runs` groups of 8 bit-packed values.
            let values = runs * 8;
            if let Some(target) = count {
                let take = values.min(n - seen);
                counted += (0..take)
                    .map_while(|i| bits_at(&data[at..], i * usize::from(width), width))
                    .filter(|&v| v == target)
                    .count();
            }
            seen = seen.saturating_add(values);
            at = at.saturating_add(runs * usize::from(width));
        } else {
            let Some(bytes) = data.get(at..at + value_bytes) else {
                break;
            };
            let value = bytes
                .iter()
                .rev()
                .fold(0u64, |v, &b| (v << 8) | u64::from(b));
            if width < 64 && value >> width != 0 {
                return Err(format!(
                    "run value {value} at byte {at} does not fit in {width} bits"
                ));
            }
            if count == Some(value) {
                counted += runs.min(n - seen);
            }
            seen = seen.saturating_add(runs);
            at += value_bytes;
        }
    }
    Ok(counted)
}

/// What a walk of a DELTA_BINARY_PACKED stream found.
#[derive(Debug, PartialEq)]
struct DeltaWalk {
    /// Where the decoder's `get_offset` ends the stream (the next stream starts there).
    end: usize,
    /// The smallest value and the sum of the values, as 32-bit integers (lengths).
    min: i64,
    sum: i64,
}

/// Most values in one DELTA_LENGTH_BYTE_ARRAY or DELTA_BYTE_ARRAY page: the crate's decoder
/// allocates the count the stream claims before decoding any of it.
const MOST_DELTA_ARRAYS: u64 = 1 << 24;

/// Walk a DELTA_BINARY_PACKED stream over its first `n` values as the crate's decoder reads
/// it (the header, then per block a zigzag minimum delta, one bit width per miniblock, and the
/// miniblocks), adding up the values as 32-bit integers when `sum_values` (byte-array
/// lengths; otherwise `min` and `sum` stay those of the first value). `Ok(None)`: the stream
/// ends early or is inconsistent in a way the decoder reports itself.
fn delta_stream(data: &[u8], n: u64, sum_values: bool) -> Result<Option<DeltaWalk>, String> {
    // The decoder reads these with a 10-byte limit and panics past it.
    let mut header = [0u64; 4];
    let mut at = 0;
    for h in &mut header {
        let Some((v, next)) = uleb(data, at, 10)? else {
            return Ok(None);
        };
        (*h, at) = (v, next);
    }
    let [block, miniblocks, total, first] = header;
    // Writers use blocks of 128 values; a huge block overflows the decoder's offsets.
    if block == 0 || block > 1 << 16 || !block.is_multiple_of(128) {
        return Err(format!("DELTA_BINARY_PACKED block of {block} values"));
    }
    if miniblocks == 0
        || !block.is_multiple_of(miniblocks)
        || !(block / miniblocks).is_multiple_of(32)
    {
        return Err(format!(
            "DELTA_BINARY_PACKED block of {block} values in {miniblocks} miniblocks"
        ));
    }
    let per_miniblock = (block / miniblocks) as usize;
    let zigzag = |v: u64| ((v >> 1) as i64) ^ -((v & 1) as i64);
    let mut last = zigzag(first) as i32;
    let mut walk = DeltaWalk {
        end: at,
        min: i64::from(last),
        sum: i64::from(last),
    };
    if total.min(n) == 0 {
        walk = DeltaWalk {
            end: at,
            min: 0,
            sum: 0,
        };
    }
    let mut left = total.min(n).saturating_sub(1) as usize;
    while left > 0 {
        let Some((min_delta, next)) = uleb(data, at, 10)? else {
            return Ok(None);
        };
        at = next;
        let min_delta = zigzag(min_delta) as i32;
        let Some(widths) = data.get(at..at + miniblocks as usize) else {
            return Ok(None);
        };
        at += widths.len();
        // The decoder's end of this block: every miniblock it needs, in full.
        let mut block_end = at;
        let mut needed = left;
        for &width in widths {
            if needed == 0 {
                break;
            }
            block_end = block_end.saturating_add(per_miniblock * usize::from(width) / 8);
            needed -= per_miniblock.min(needed);
        }
        for &width in widths {
            if left == 0 {
                break;
            }
            if width > 64 {
                return Err(format!(
                    "DELTA_BINARY_PACKED miniblock of {width}-bit deltas"
                ));
            }
            let count = per_miniblock.min(left);
            let Some(miniblock) = data.get(at..) else {
                return Ok(None);
            };
            for i in (0..count).filter(|_| sum_values) {
                let Some(delta) = bits_at(miniblock, i * usize::from(width), width) else {
                    return Ok(None);
                };
                last = (delta as i32).wrapping_add(min_delta).wrapping_add(last);
                walk.min = walk.min.min(i64::from(last));
                walk.sum = walk.sum.saturating_add(i64::from(last));
            }
            left -= count;
            at = at.saturating_add(per_miniblock * usize::from(width) / 8);
        }
        walk.end = block_end;
        if at > data.len() {
            return Ok(None);
        }
    }
    Ok(Some(walk))
}

/// Byte arrays whose lengths are a DELTA_BINARY_PACKED stream followed by their bytes
/// (DELTA_LENGTH_BYTE_ARRAY); `levels` bounds how many the stream may claim. Returns the
/// number of arrays.
fn delta_length_arrays(data: &[u8], levels: usize) -> Result<u64, String> {
    let total = delta_claim(data, levels)?;
    let Some(walk) = delta_stream(data, total, true)? else {
        return Ok(total);
    };
    let bytes = data.len().saturating_sub(walk.end);
    if walk.end > data.len() || walk.min < 0 || walk.sum > bytes as i64 {
        return Err(format!(
            "DELTA_LENGTH_BYTE_ARRAY lengths (smallest {}, {} bytes in all) do not fit the \
             {bytes} bytes that follow them",
            walk.min, walk.sum
        ));
    }
    Ok(total)
}

/// How many values the DELTA_BINARY_PACKED stream at the start of `data` claims, checked
/// against the page's `levels` (the decoder allocates that many).
fn delta_claim(data: &[u8], levels: usize) -> Result<u64, String> {
    let mut at = 0;
    for _ in 0..2 {
        let Some((_, next)) = uleb(data, at, 10)? else {
            return Ok(0);
        };
        at = next;
    }
    let Some((total, _)) = uleb(data, at, 10)? else {
        return Ok(0);
    };
    if total > levels as u64 || total > MOST_DELTA_ARRAYS {
        return Err(format!(
            "a DELTA stream claims {total} values in a page of {levels}"
        ));
    }
    Ok(total)
}

/// DELTA_BYTE_ARRAY: prefix lengths (DELTA_BINARY_PACKED), then the suffixes as
/// DELTA_LENGTH_BYTE_ARRAY. The decoder itself checks each prefix against the previous value.
fn delta_byte_arrays(data: &[u8], levels: usize) -> Result<(), String> {
    let total = delta_claim(data, levels)?;
    let Some(prefixes) = delta_stream(data, total, false)? else {
        return Ok(());
    };
    let suffixes = data.get(prefixes.end..).ok_or_else(|| {
        format!(
            "DELTA_BYTE_ARRAY prefix lengths end at byte {}, past the page ({} bytes)",
            prefixes.end,
            data.len()
        )
    })?;
    // The decoder takes one suffix per prefix, and panics when the suffixes run out.
    let suffix_count = delta_length_arrays(suffixes, levels)?;
    if suffix_count < total {
        return Err(format!(
            "DELTA_BYTE_ARRAY with {total} prefixes but {suffix_count} suffixes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RLE / bit-packed hybrid runs as a writer would emit them.
    fn rle_run(count: u32, value: u8) -> Vec<u8> {
        let mut b = uleb_bytes(u64::from(count) << 1);
        b.push(value);
        b
    }

    fn uleb_bytes(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn runs_are_counted_as_the_decoder_reads_them() {
        // 5 ones, then one bit-packed group of 8 (1,0,1,0,1,0,1,1), then 4 zeros.
        let mut data = rle_run(5, 1);
        data.extend([0x03, 0b1101_0101]);
        data.extend(rle_run(4, 0));
        assert_eq!(rle_runs(&data, 1, 17, Some(1)), Ok(10));
        assert_eq!(rle_runs(&data, 1, 17, Some(0)), Ok(7));
        // Only the first n values count, even inside a run.
        assert_eq!(rle_runs(&data, 1, 3, Some(1)), Ok(3));
        assert_eq!(rle_runs(&data, 1, 7, Some(1)), Ok(6));
        // A zero header is padding: the decoder stops there.
        let mut padded = rle_run(2, 1);
        padded.extend([0, 0xFF, 0xFF]);
        assert_eq!(rle_runs(&padded, 1, 10, Some(1)), Ok(2));
    }

    #[test]
    fn overlong_run_headers_and_values_are_errors() {
        // The parquet crate panics on a header of more than 10 bytes; runs need at most 5.
        let long = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 1];
        assert!(
            rle_runs(&long, 1, 4, None)
                .unwrap_err()
                .contains("longer than 5")
        );
        assert!(rle_runs(&[0xFF; 12], 8, 4, None).is_err());
        // A run value wider than the bit width.
        assert!(
            rle_runs(&rle_run(3, 4), 2, 3, None)
                .unwrap_err()
                .contains("fit")
        );
        // A header that ends with the data is left to the decoder's own error.
        assert_eq!(rle_runs(&[0x80], 1, 4, None), Ok(0));
    }

    #[test]
    fn plain_byte_arrays_must_fit_the_page() {
        let mut data = 3u32.to_le_bytes().to_vec();
        data.extend(b"abc");
        data.extend(1u32.to_le_bytes());
        data.push(b'x');
        assert_eq!(plain(&data, 2, PhysicalType::BYTE_ARRAY), Ok(()));
        assert!(plain(&data, 3, PhysicalType::BYTE_ARRAY).is_err());
        assert!(plain(&data[..data.len() - 1], 2, PhysicalType::BYTE_ARRAY).is_err());
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.push(0);
        assert!(plain(&huge, 1, PhysicalType::BYTE_ARRAY).is_err());
        assert!(plain(&[0; 8], 2, PhysicalType::FLOAT).is_ok());
        assert!(plain(&[0; 8], 2, PhysicalType::DOUBLE).is_err());
    }

    #[test]
    fn v1_levels_report_present_values() {
        // max_def 1: RLE levels 1,1,0 -> 2 present; the length prefix says 4 bytes.
        let mut runs = rle_run(2, 1);
        runs.extend(rle_run(1, 0));
        let mut buf = (runs.len() as i32).to_le_bytes().to_vec();
        buf.extend(&runs);
        buf.extend([9, 9]); // values follow
        assert_eq!(v1_levels(&buf, 1, 3, Encoding::RLE), Ok((8, 2)));
        // A length past the page, or negative.
        let mut long = buf.clone();
        long[..4].copy_from_slice(&100i32.to_le_bytes());
        assert!(v1_levels(&long, 1, 3, Encoding::RLE).is_err());
        long[..4].copy_from_slice(&(-1i32).to_le_bytes());
        assert!(v1_levels(&long, 1, 3, Encoding::RLE).is_err());
        // BIT_PACKED levels must fit: 20 one-bit levels need 3 bytes.
        #[allow(deprecated)]
        let packed = Encoding::BIT_PACKED;
        assert_eq!(v1_levels(&[0xFF, 0x0F, 0x00], 1, 20, packed), Ok((3, 12)));
        assert!(v1_levels(&[0xFF, 0x0F], 1, 20, packed).is_err());
    }

    /// A DELTA_BINARY_PACKED stream: block 128 in 4 miniblocks of 32, `values` values, the
    /// first `first`, min delta `min_delta`, all deltas 0 bits wide.
    fn delta(values: u64, first: i64, min_delta: i64) -> Vec<u8> {
        let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
        let mut data = vec![];
        for v in [128, 4, values, zigzag(first)] {
            data.extend(uleb_bytes(v));
        }
        if values > 1 {
            data.extend(uleb_bytes(zigzag(min_delta)));
            data.extend([0, 0, 0, 0]);
        }
        data
    }

    #[test]
    fn delta_streams_are_walked_to_their_end() {
        // 40 values from 7 in steps of 1: 7..=46, in a block of 0-bit miniblocks.
        let data = delta(40, 7, 1);
        let walk = delta_stream(&data, 40, true).unwrap().unwrap();
        assert_eq!(
            walk,
            DeltaWalk {
                end: data.len(),
                min: 7,
                sum: (7 + 46) * 20
            }
        );
        // 1-bit deltas: miniblocks 0 and 1 are needed in full (4 bytes each), so the stream
        // ends 8 bytes after the widths, as the decoder's offset does.
        let mut packed = data[..6].to_vec();
        packed.extend([1, 1, 1, 1]);
        packed.extend([0xFF; 8]);
        packed.extend(b"tail");
        let walk = delta_stream(&packed, 40, true).unwrap().unwrap();
        assert_eq!(walk.end, packed.len() - 4);
        assert_eq!(walk.sum, 7 + (9..=85).step_by(2).sum::<i64>());
        // A min delta of more than 10 bytes panics the decoder.
        let mut bad = data[..5].to_vec();
        bad.extend([0x80; 11]);
        assert!(delta_stream(&bad, 40, true).is_err());
        // Blocks that overflow the decoder's arithmetic, or are not multiples of 128.
        let header = |block: u64, mini: u64| {
            let mut d = vec![];
            for v in [block, mini, 3, 0] {
                d.extend(uleb_bytes(v));
            }
            d
        };
        assert!(delta_stream(&header(1 << 40, 4), 3, true).is_err());
        assert!(delta_stream(&header(100, 4), 3, true).is_err());
        assert!(delta_stream(&header(128, 3), 3, true).is_err());
        assert!(delta_stream(&header(128, 4), 1, true).unwrap().is_some());
        // Walking without the values: the same end, and a stream cut inside its miniblocks is
        // left to the decoder (no read past the data).
        let walk = delta_stream(&packed, 40, false).unwrap().unwrap();
        assert_eq!(walk.end, packed.len() - 4);
        for cut in 0..packed.len() {
            let _ = delta_stream(&packed[..cut], 40, false);
            let _ = delta_stream(&packed[..cut], 40, true);
        }
    }

    #[test]
    fn delta_byte_array_lengths_must_fit() {
        // Lengths 2, 3, 4 then 9 bytes.
        let mut data = delta(3, 2, 1);
        data.extend(b"abcdefghi");
        assert_eq!(delta_length_arrays(&data, 3), Ok(3));
        assert!(delta_length_arrays(&data[..data.len() - 1], 3).is_err());
        // More values claimed than the page has levels (the decoder allocates them).
        assert!(delta_length_arrays(&data, 2).is_err());
        // A negative length.
        let mut negative = delta(3, 2, -2);
        negative.extend(b"abcdefghi");
        assert!(delta_length_arrays(&negative, 3).is_err());
        // DELTA_BYTE_ARRAY: prefixes 0, 1, 2 and suffixes of lengths 2, 3, 4.
        let mut both = delta(3, 0, 1);
        both.extend(&data);
        assert_eq!(delta_byte_arrays(&both, 3), Ok(()));
        assert!(delta_byte_arrays(&both[..both.len() - 2], 3).is_err());
        // Fewer suffixes than prefixes (the decoder reads an unset value).
        let mut short = delta(3, 0, 1);
        short.extend(delta(2, 2, 1));
        short.extend(b"abcde");
        assert!(
            delta_byte_arrays(&short, 3)
                .unwrap_err()
                .contains("2 suffixes")
        );
    }

    #[test]
    fn level_bit_widths() {
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(2), 2);
        assert_eq!(bit_width(3), 2);
        assert_eq!(bit_width(4), 3);
    }
}
