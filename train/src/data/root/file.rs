//! The ROOT file layer: the file header, the keys of the top directory, and the payload of a
//! key (decompressed). Every length and offset read from the file is checked against the file
//! size and the buffer it points into before it is used, so a truncated or corrupt file is an
//! error (a message, wrapped into [`DataError::Root`](crate::data::DataError) by the caller),
//! never a panic or an allocation the file cannot back.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Errors of this layer: a message; the caller adds file, tree and branch.
pub(super) type Res<T> = Result<T, String>;

/// ROOT compresses in blocks of at most 16 MiB (3-byte sizes).
const MAX_BLOCK: u64 = 0xFF_FFFF;

/// A bounds-checked big-endian reader over a buffer. `origin` is the position of `buf[0]`
/// within its key (the key header length for object payloads), because ROOT's object
/// references count from the start of the key.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    origin: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8], origin: usize) -> Self {
        Self {
            buf,
            pos: 0,
            origin,
        }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// Length of the whole record.
    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Position counted from the start of the key (as ROOT's references are).
    pub(super) fn key_pos(&self) -> usize {
        self.pos + self.origin
    }

    pub(super) fn seek(&mut self, pos: usize) -> Res<()> {
        if pos > self.buf.len() {
            return Err(format!(
                "offset {pos} beyond the end of a {}-byte record",
                self.buf.len()
            ));
        }
        self.pos = pos;
        Ok(())
    }

    pub(super) fn skip(&mut self, n: usize) -> Res<()> {
        self.seek(self.pos.saturating_add(n))
    }

    pub(super) fn bytes(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(format!(
                "record too short: {n} bytes wanted at offset {} of {}",
                self.pos,
                self.buf.len()
            ));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self) -> Res<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub(super) fn u8(&mut self) -> Res<u8> {
        Ok(self.arr::<1>()?[0])
    }
    pub(super) fn i16(&mut self) -> Res<i16> {
        Ok(i16::from_be_bytes(self.arr()?))
    }
    pub(super) fn u16(&mut self) -> Res<u16> {
        Ok(u16::from_be_bytes(self.arr()?))
    }
    pub(super) fn i32(&mut self) -> Res<i32> {
        Ok(i32::from_be_bytes(self.arr()?))
    }
    pub(super) fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    pub(super) fn i64(&mut self) -> Res<i64> {
        Ok(i64::from_be_bytes(self.arr()?))
    }

    /// A ROOT string: one length byte (255: a 4-byte length follows), then the bytes.
    pub(super) fn string(&mut self) -> Res<String> {
        let mut n = self.u8()? as usize;
        if n == 255 {
            n = self.u32()? as usize;
        }
        Ok(String::from_utf8_lossy(self.bytes(n)?).into_owned())
    }

    /// A NUL-terminated string (class names in object tags).
    pub(super) fn cstring(&mut self) -> Res<String> {
        let rest = &self.buf[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("unterminated class name")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
}

/// One entry of the top directory.
#[derive(Debug, Clone)]
pub(super) struct Key {
    pub(super) name: String,
    pub(super) class: String,
    pub(super) cycle: i16,
    pub(super) seek: u64,
}

/// The fixed part of a key header, as stored before every object and basket.
pub(super) struct KeyHeader {
    pub(super) nbytes: u32,
    pub(super) objlen: u32,
    pub(super) keylen: u16,
    pub(super) class: String,
    pub(super) name: String,
    pub(super) cycle: i16,
    pub(super) seek: u64,
}

/// An open ROOT file: its size, compression setting and top-level keys.
pub(super) struct RootFile {
    file: File,
    size: u64,
    pub(super) keys: Vec<Key>,
}

impl RootFile {
    pub(super) fn open(path: &Path) -> Result<Self, RootOpenError> {
        let file = File::open(path).map_err(RootOpenError::Io)?;
        let size = file.metadata().map_err(RootOpenError::Io)?.len();
        let mut f = RootFile {
            file,
            size,
            keys: Vec::new(),
        };
        f.read_header().map_err(RootOpenError::Format)?;
        Ok(f)
    }

    /// `len` bytes at `at`, checked against the file size before anything is allocated.
    pub(super) fn read_at(&mut self, at: u64, len: u64) -> Res<Vec<u8>> {
        if at.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(format!(
                "record of {len} bytes at offset {at} lies beyond the end of the file ({} bytes): \
                 truncated or corrupt",
                self.size
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| format!("read error at offset {at}: {e}"))?;
        Ok(buf)
    }

    fn read_header(&mut self) -> Res<()> {
        let head = self.read_at(0, self.size.min(128))?;
        let mut c = Cursor::new(&head, 0);
        if c.bytes(4).ok() != Some(b"root".as_slice()) {
            return Err("not a ROOT file (no `root` signature)".into());
        }
        let version = c.i32()?;
        let begin = c.i32()?;
        let big = version >= 1_000_000;
        let _end = if big { c.i64()? } else { c.i32()? as i64 };
        let _seek_free = if big { c.i64()? } else { c.i32()? as i64 };
        let _nbytes_free = c.i32()?;
        let _nfree = c.i32()?;
        let nbytes_name = c.i32()?;
        if begin <= 0 || nbytes_name < 0 {
            return Err(format!(
                "corrupt file header (begin {begin}, name bytes {nbytes_name})"
            ));
        }
        // The top directory record follows the key and name of the file itself.
        let dir_at = begin as u64 + nbytes_name as u64;
        let dir = self.read_at(dir_at, 42.min(self.size.saturating_sub(dir_at)))?;
        let mut d = Cursor::new(&dir, 0);
        let dversion = d.i16()?;
        d.skip(8)?; // creation and modification dates
        let _nbytes_keys = d.i32()?;
        let _nbytes_name = d.i32()?;
        let seek_keys = if dversion > 1000 {
            d.skip(16)?; // seek of the directory and of its parent
            d.i64()?
        } else {
            d.skip(8)?;
            d.i32()? as i64
        };
        if seek_keys <= 0 {
            return Err("corrupt top directory (no key list)".into());
        }
        // The key list: its own key header, then the number of keys and each key header.
        let first = self.read_at(seek_keys as u64, 4)?;
        let nbytes = Cursor::new(&first, 0).i32()?;
        if nbytes <= 0 {
            return Err("corrupt key list".into());
        }
        let list = self.read_at(seek_keys as u64, nbytes as u64)?;
        let mut c = Cursor::new(&list, 0);
        let own = key_header(&mut c)?;
        c.seek(own.keylen as usize)?;
        let nkeys = c.i32()?;
        if nkeys < 0 {
            return Err(format!("corrupt key list ({nkeys} keys)"));
        }
        for _ in 0..nkeys {
            let k = key_header(&mut c)?;
            self.keys.push(Key {
                name: k.name,
                class: k.class,
                cycle: k.cycle,
                seek: k.seek,
            });
        }
        Ok(())
    }

    /// The header and the (decompressed) payload of the key stored at `seek`.
    pub(super) fn key_payload(&mut self, seek: u64) -> Res<(KeyHeader, Vec<u8>)> {
        let (h, raw) = self.raw_key(seek)?;
        let data = payload(&raw, &h)?;
        Ok((h, data))
    }

    /// The parsed header and the raw bytes (header included) of the key at `seek`.
    pub(super) fn raw_key(&mut self, seek: u64) -> Res<(KeyHeader, Vec<u8>)> {
        let nbytes = Cursor::new(&self.read_at(seek, 4)?, 0).i32()?;
        if nbytes <= 0 {
            return Err(format!("corrupt key at offset {seek} ({nbytes} bytes)"));
        }
        let raw = self.read_at(seek, nbytes as u64)?;
        let h = key_header(&mut Cursor::new(&raw, 0))?;
        if h.nbytes as usize != raw.len() {
            return Err(format!("corrupt key at offset {seek} (size changed)"));
        }
        Ok((h, raw))
    }
}

/// The payload of a key (`raw` holds the header too), decompressed when it is stored
/// compressed.
pub(super) fn payload(raw: &[u8], h: &KeyHeader) -> Res<Vec<u8>> {
    let stored = raw
        .get(h.keylen as usize..)
        .ok_or_else(|| format!("corrupt key `{}` (header longer than the key)", h.name))?;
    if h.objlen as usize == stored.len() {
        Ok(stored.to_vec())
    } else {
        decompress(stored, h.objlen as u64)
    }
}

pub(super) enum RootOpenError {
    Io(std::io::Error),
    Format(String),
}

pub(super) fn key_header(c: &mut Cursor<'_>) -> Res<KeyHeader> {
    let nbytes = c.i32()?;
    let version = c.i16()?;
    let objlen = c.i32()?;
    let _datime = c.u32()?;
    let keylen = c.i16()?;
    let cycle = c.i16()?;
    let (seek, _pdir) = if version > 1000 {
        (c.i64()?, c.i64()?)
    } else {
        (c.i32()? as i64, c.i32()? as i64)
    };
    let class = c.string()?;
    let name = c.string()?;
    let _title = c.string()?;
    if nbytes < 0 || objlen < 0 || keylen < 0 || seek < 0 || keylen as i32 > nbytes {
        return Err(format!(
            "corrupt key header for `{name}` (bytes {nbytes}, object {objlen}, header {keylen})"
        ));
    }
    Ok(KeyHeader {
        nbytes: nbytes as u32,
        objlen: objlen as u32,
        keylen: keylen as u16,
        class,
        name,
        cycle,
        seek: seek as u64,
    })
}

/// Decompress ROOT's blocks (each a 9-byte header: algorithm, method, compressed and
/// uncompressed sizes) until `out_len` bytes are produced. ZLIB, LZMA, LZ4 and ZSTD.
pub(super) fn decompress(mut src: &[u8], out_len: u64) -> Res<Vec<u8>> {
    // Memory grows one block at a time, each backed by its compressed bytes, so a corrupt
    // length cannot make one huge allocation up front.
    let mut out = Vec::with_capacity(out_len.min(MAX_BLOCK) as usize);
    while (out.len() as u64) < out_len {
        if src.len() < 9 {
            return Err(format!(
                "compressed record ends early ({} of {out_len} bytes decompressed)",
                out.len()
            ));
        }
        let (h, rest) = src.split_at(9);
        let csize = h[3] as usize | (h[4] as usize) << 8 | (h[5] as usize) << 16;
        let usize_ = h[6] as usize | (h[7] as usize) << 8 | (h[8] as usize) << 16;
        if csize > rest.len() || out.len() + usize_ > out_len as usize {
            return Err(format!(
                "corrupt compressed block (stored {csize} of {} bytes, expands to {usize_})",
                rest.len()
            ));
        }
        let (block, next) = rest.split_at(csize);
        let start = out.len();
        out.resize(start + usize_, 0);
        let dst = &mut out[start..];
        let bad = |e: &dyn std::fmt::Display| format!("corrupt compressed block: {e}");
        match &h[..2] {
            b"ZL" => {
                let mut d = flate2::read::ZlibDecoder::new(block);
                d.read_exact(dst).map_err(|e| bad(&e))?;
            }
            b"XZ" => {
                let mut dec = Vec::with_capacity(usize_);
                lzma_rs::xz_decompress(&mut std::io::BufReader::new(block), &mut dec)
                    .map_err(|e| bad(&e))?;
                if dec.len() != usize_ {
                    return Err(bad(&format!("{} bytes instead of {usize_}", dec.len())));
                }
                dst.copy_from_slice(&dec);
            }
            b"L4" => {
                // An 8-byte checksum precedes the LZ4 block.
                let body = block.get(8..).ok_or_else(|| bad(&"short LZ4 block"))?;
                let n = lz4_flex::block::decompress_into(body, dst).map_err(|e| bad(&e))?;
                if n != usize_ {
                    return Err(bad(&format!("{n} bytes instead of {usize_}")));
                }
            }
            b"ZS" => {
                let n = zstd::bulk::Decompressor::new()
                    .and_then(|mut d| d.decompress_to_buffer(block, dst))
                    .map_err(|e| bad(&e))?;
                if n != usize_ {
                    return Err(bad(&format!("{n} bytes instead of {usize_}")));
                }
            }
            other => {
                return Err(format!(
                    "unsupported compression `{}` (ZLIB, LZMA, LZ4 and ZSTD are read)",
                    String::from_utf8_lossy(other)
                ));
            }
        }
        src = next;
    }
    Ok(out)
}
