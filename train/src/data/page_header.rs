//! The parts of a Parquet page header that the footer checks need (`footer`): page type,
//! size, value count and encoding, read from the Thrift compact encoding of `PageHeader` in
//! parquet.thrift. The `parquet` crate keeps its own reader private and panics in
//! `PageReader::peek_next_page` on a data page header without its `DataPageHeader`; this one
//! returns [`Malformed`] for anything that is not a page header, never reads past its input
//! and does not loop on counts larger than the bytes left.

/// What the page walk needs from a `PageHeader` of parquet.thrift.
#[derive(Debug, PartialEq)]
pub(super) struct PageHeader {
    /// Bytes of the header itself.
    pub(super) len: u64,
    /// Bytes of the page after the header.
    pub(super) compressed_size: u64,
    /// Bytes of the page once decompressed: what the reader allocates for it.
    pub(super) uncompressed_size: u64,
    pub(super) kind: PageKind,
}

#[derive(Debug, PartialEq)]
pub(super) enum PageKind {
    /// `DATA_PAGE` or `DATA_PAGE_V2`: value count (nulls included) and encoding.
    Data { values: i32, encoding: i32 },
    /// `DICTIONARY_PAGE`: the number of dictionary entries.
    Dictionary { values: i32 },
    /// `INDEX_PAGE` and page types from later format versions: skipped, as the reader does.
    Other,
}

#[derive(Debug, PartialEq)]
pub(super) enum Malformed {
    /// The bytes ended inside the header.
    End,
    /// Not a page header.
    Bad(&'static str),
}

impl PageHeader {
    /// Parse the header at the start of `bytes`.
    pub(super) fn parse(bytes: &[u8]) -> Result<PageHeader, Malformed> {
        let mut c = Compact { bytes, at: 0 };
        let (mut page_type, mut compressed, mut uncompressed) = (None, None, None);
        // (num_values, encoding) of a DataPageHeader (field 5) and a DataPageHeaderV2 (8).
        let mut data_v1: Option<(i32, i32)> = None;
        let mut data_v2: Option<(i32, i32)> = None;
        let mut dictionary: Option<i32> = None;
        c.fields(0, |c, id, ty| {
            match (id, ty) {
                (1, I32) => page_type = Some(c.i32()?),
                (2, I32) => uncompressed = Some(c.i32()?),
                (3, I32) => compressed = Some(c.i32()?),
                // DataPageHeader and DataPageHeaderV2: num_values is field 1 in both; the
                // encoding is field 2 (v1) or 4 (v2).
                (5 | 8, STRUCT) => {
                    let encoding_field = if id == 5 { 2 } else { 4 };
                    let (mut values, mut encoding) = (None, None);
                    c.fields(1, |c, id, ty| {
                        match (id, ty) {
                            (1, I32) => values = Some(c.i32()?),
                            (e, I32) if e == encoding_field => encoding = Some(c.i32()?),
                            _ => c.skip(ty, 1)?,
                        }
                        Ok(())
                    })?;
                    let found = values
                        .zip(encoding)
                        .ok_or(Malformed::Bad("data page header without values"))?;
                    *(if id == 5 { &mut data_v1 } else { &mut data_v2 }) = Some(found);
                }
                // DictionaryPageHeader: num_values is field 1.
                (7, STRUCT) => {
                    let mut values = None;
                    c.fields(1, |c, id, ty| {
                        match (id, ty) {
                            (1, I32) => values = Some(c.i32()?),
                            _ => c.skip(ty, 1)?,
                        }
                        Ok(())
                    })?;
                    dictionary = Some(
                        values.ok_or(Malformed::Bad("dictionary page header without values"))?,
                    );
                }
                _ => c.skip(ty, 0)?,
            }
            Ok(())
        })?;
        let compressed = compressed.ok_or(Malformed::Bad("no page size"))?;
        let compressed_size =
            u64::try_from(compressed).map_err(|_| Malformed::Bad("negative page size"))?;
        let uncompressed = uncompressed.ok_or(Malformed::Bad("no uncompressed page size"))?;
        let uncompressed_size = u64::try_from(uncompressed)
            .map_err(|_| Malformed::Bad("negative uncompressed page size"))?;
        let kind = match page_type.ok_or(Malformed::Bad("no page type"))? {
            // DATA_PAGE and DATA_PAGE_V2, each with its own header struct.
            t @ (0 | 3) => {
                let header = if t == 0 { data_v1 } else { data_v2 };
                let (values, encoding) = header.ok_or(Malformed::Bad("no data page header"))?;
                PageKind::Data { values, encoding }
            }
            2 => match dictionary {
                Some(values) => PageKind::Dictionary { values },
                None => return Err(Malformed::Bad("no dictionary page header")),
            },
            _ => PageKind::Other,
        };
        Ok(PageHeader {
            len: c.at as u64,
            compressed_size,
            uncompressed_size,
            kind,
        })
    }
}

// Thrift compact protocol type codes.
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

/// Nesting deeper than this is not a page header.
const MAX_DEPTH: u8 = 8;

/// A reader of the Thrift compact protocol, enough to pick fields out of a page header and
/// skip everything else.
struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8, Malformed> {
        let b = *self.bytes.get(self.at).ok_or(Malformed::End)?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<(), Malformed> {
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(Malformed::End);
        }
        self.at += n as usize;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed::Bad("varint too long"))
    }

    fn zigzag(&mut self) -> Result<i64, Malformed> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32, Malformed> {
        i32::try_from(self.zigzag()?).map_err(|_| Malformed::Bad("i32 out of range"))
    }

    /// Call `on_field(self, id, type)` for each field of a struct, up to its stop byte. The
    /// callback must consume the field's value (a boolean field has none).
    fn fields(
        &mut self,
        depth: u8,
        mut on_field: impl FnMut(&mut Self, i16, u8) -> Result<(), Malformed>,
    ) -> Result<(), Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed::Bad("nested too deeply"));
        }
        let mut id = 0i16;
        loop {
            let b = self.byte()?;
            if b == 0 {
                return Ok(());
            }
            let ty = b & 0x0F;
            id = match b >> 4 {
                0 => i16::try_from(self.zigzag()?).map_err(|_| Malformed::Bad("field id"))?,
                delta => id
                    .checked_add(i16::from(delta))
                    .ok_or(Malformed::Bad("field id"))?,
            };
            on_field(self, id, ty)?;
        }
    }

    /// Skip a value of type `ty` that is a struct field (booleans carry their value in the
    /// field header).
    fn skip(&mut self, ty: u8, depth: u8) -> Result<(), Malformed> {
        match ty {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            _ => self.skip_value(ty, depth),
        }
    }

    /// Skip a value of type `ty` that stands on its own (a list element: booleans are a byte).
    fn skip_value(&mut self, ty: u8, depth: u8) -> Result<(), Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed::Bad("nested too deeply"));
        }
        match ty {
            BOOL_TRUE | BOOL_FALSE | BYTE => self.take(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.take(8),
            BINARY => {
                let n = self.varint()?;
                self.take(n)
            }
            LIST | SET => {
                let h = self.byte()?;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                self.skip_elements(n, h & 0x0F, depth)
            }
            MAP => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                if n > (self.bytes.len() - self.at) as u64 {
                    return Err(Malformed::End);
                }
                for _ in 0..n {
                    self.skip_value(types >> 4, depth + 1)?;
                    self.skip_value(types & 0x0F, depth + 1)?;
                }
                Ok(())
            }
            STRUCT => self.fields(depth + 1, |c, _, ty| c.skip(ty, depth + 1)),
            _ => Err(Malformed::Bad("unknown thrift type")),
        }
    }

    /// Skip `n` list elements of type `ty`; each takes at least a byte, so a count larger than
    /// the bytes left ends the header instead of looping.
    fn skip_elements(&mut self, n: u64, ty: u8, depth: u8) -> Result<(), Malformed> {
        if n > (self.bytes.len() - self.at) as u64 {
            return Err(Malformed::End);
        }
        for _ in 0..n {
            self.skip_value(ty, depth + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact-protocol `PageHeader`: DATA_PAGE (0), sizes 100 and 60, DataPageHeader with
    /// 7 values in RLE_DICTIONARY (8), then `extra` bytes of further fields and the stop byte.
    fn data_page(extra: &[u8]) -> Vec<u8> {
        let mut b = vec![0x15, 0x00, 0x15, 200, 1, 0x15, 120];
        // field 5 (delta 2), struct; inside: field 1 i32 7 (zigzag 14), field 2 i32 8 (16)
        b.extend([0x2C, 0x15, 14, 0x15, 16, 0x00]);
        b.extend(extra);
        b.push(0x00);
        b
    }

    #[test]
    fn reads_the_fields_the_walk_needs() {
        let bytes = data_page(&[]);
        let h = PageHeader::parse(&bytes).unwrap();
        assert_eq!(
            h,
            PageHeader {
                len: bytes.len() as u64,
                compressed_size: 60,
                uncompressed_size: 100,
                kind: PageKind::Data {
                    values: 7,
                    encoding: 8
                },
            }
        );
        // Trailing page data is not read.
        let mut with_data = bytes.clone();
        with_data.extend([0xAB; 60]);
        assert_eq!(PageHeader::parse(&with_data).unwrap(), h);
    }

    #[test]
    fn skips_unknown_fields_of_every_type() {
        // Field 9 (an i32), field 12 written with a long-form id (a binary of 3 bytes), a
        // list of 2 bools, a map of one i32 -> binary, a double, and a nested struct with a
        // bool field.
        let extra = [
            0x45, 0x02, // field 9 (delta 4 from 5): i32 1
            0x08, 24, 3, b'a', b'b', b'c', // field 12 (long form), binary "abc"
            0x19, 0x21, 1, 0, // field 13: list of 2 bools
            0x1B, 1, 0x58, 2, 1, b'x', // field 14: map of 1 (i32 -> binary)
            0x17, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, // field 15: double 1.0
            0x1C, 0x11, 0x00, // field 16: struct { field 1: true }
        ];
        let h = PageHeader::parse(&data_page(&extra)).unwrap();
        assert_eq!(h.compressed_size, 60);
    }

    #[test]
    fn short_or_malformed_headers_are_errors() {
        let bytes = data_page(&[]);
        for cut in 0..bytes.len() {
            assert_eq!(
                PageHeader::parse(&bytes[..cut]),
                Err(Malformed::End),
                "cut {cut}"
            );
        }
        // DATA_PAGE without its DataPageHeader (here with none, then with a v2 header only):
        // the parquet crate's peek panics on these.
        let no_data_header = [0x15, 0x00, 0x15, 2, 0x15, 2, 0x00];
        assert!(matches!(
            PageHeader::parse(&no_data_header),
            Err(Malformed::Bad(_))
        ));
        let v2_header_only = [
            0x15, 0x00, 0x15, 2, 0x15, 2, 0x5C, 0x15, 2, 0x45, 0, 0x00, 0x00,
        ];
        assert!(matches!(
            PageHeader::parse(&v2_header_only),
            Err(Malformed::Bad(_))
        ));
        // A list claiming 2^32 elements in a few bytes ends the input instead of looping.
        let huge_list = [0x15, 0x00, 0x19, 0xF5, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00];
        assert_eq!(PageHeader::parse(&huge_list), Err(Malformed::End));
        // Nesting beyond any page header's.
        let deep: Vec<u8> = std::iter::repeat_n(0x1C, 64).collect();
        assert!(matches!(PageHeader::parse(&deep), Err(Malformed::Bad(_))));
        // A negative page size.
        let negative = [0x15, 0x02, 0x25, 1, 0x00];
        assert!(matches!(
            PageHeader::parse(&negative),
            Err(Malformed::Bad(_))
        ));
    }
}
