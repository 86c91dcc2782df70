//! The TTree layer: a tree's entry count and branches (from the streamed `TTree`, `TBranch`
//! and `TLeaf` objects, versions written by ROOT 6 and uproot), and a branch's values read
//! basket by basket. Supported branches hold one leaf of a number, a string, or a variable
//! length array of numbers counted by another branch (`Jet_pt[nJet]`, NanoAOD style).

use std::collections::HashMap;

use super::file::{Cursor, KeyHeader, Res, RootFile, payload};

const BYTE_COUNT_MASK: u32 = 0x4000_0000;
const NEW_CLASS_TAG: u32 = 0xFFFF_FFFF;
const CLASS_MASK: u32 = 0x8000_0000;
const MAP_OFFSET: usize = 2;
const BYTE_COUNT_VMASK: i16 = 0x4000;
const IS_REFERENCED: u32 = 1 << 4;

/// The value type of a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prim {
    F32,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
    /// `char*` (`TLeafC`).
    Str,
}

impl Prim {
    fn size(self) -> usize {
        match self {
            Prim::I8 | Prim::U8 | Prim::Bool | Prim::Str => 1,
            Prim::I16 | Prim::U16 => 2,
            Prim::F32 | Prim::I32 | Prim::U32 => 4,
            Prim::F64 | Prim::I64 | Prim::U64 => 8,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Prim::F32 => "float",
            Prim::F64 => "double",
            Prim::I8 => "int8",
            Prim::U8 => "uint8",
            Prim::I16 => "int16",
            Prim::U16 => "uint16",
            Prim::I32 => "int32",
            Prim::U32 => "uint32",
            Prim::I64 => "int64",
            Prim::U64 => "uint64",
            Prim::Bool => "bool",
            Prim::Str => "string",
        }
    }

    pub(super) fn is_float(self) -> bool {
        matches!(self, Prim::F32 | Prim::F64)
    }
}

/// What a branch holds, as far as this reader is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shape {
    /// One value per entry.
    Scalar(Prim),
    /// A variable number of values per entry (`x[n]`).
    Jagged(Prim),
    /// Anything else: fixed-size arrays, leaf lists, objects; the type as shown to users.
    Other(String),
}

impl Shape {
    pub(super) fn describe(&self) -> String {
        match self {
            Shape::Scalar(p) => p.name().to_string(),
            Shape::Jagged(p) => format!("{}[] (variable-length array)", p.name()),
            Shape::Other(t) => t.clone(),
        }
    }
}

/// A branch of a tree with where its baskets are.
#[derive(Debug, Clone)]
pub(super) struct Branch {
    pub(super) name: String,
    pub(super) shape: Shape,
    entries: i64,
    /// (file offset, stored size, first entry) per basket written to the file.
    baskets: Vec<(u64, u32, i64)>,
}

/// A tree: its entry count and top-level branches.
#[derive(Debug, Clone)]
pub(super) struct Tree {
    pub(super) entries: u64,
    pub(super) branches: Vec<Branch>,
}

impl Tree {}

/// A branch's values, one entry per event (`offsets` delimit the entries of jagged data).
pub(super) enum Values {
    F(Vec<f64>),
    I(Vec<i64>),
    Str(Vec<String>),
}

impl Values {
    pub(super) fn len(&self) -> usize {
        match self {
            Values::F(v) => v.len(),
            Values::I(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }

    /// Value `i` as a number (strings are never asked for as numbers).
    pub(super) fn num(&self, i: usize) -> f64 {
        match self {
            Values::F(v) => v[i],
            Values::I(v) => v[i] as f64,
            Values::Str(_) => f64::NAN,
        }
    }
}

/// Read the tree stored under `seek` (a `TTree` key).
pub(super) fn read_tree(file: &mut RootFile, seek: u64) -> Res<Tree> {
    let (h, data) = file.key_payload(seek)?;
    let mut c = Cursor::new(&data, h.keylen as usize);
    let mut classes = HashMap::new();
    let (_, version) = versioned(&mut c)?;
    if !(16..=20).contains(&version) {
        return Err(format!(
            "TTree version {version} is not supported (16 to 20 are)"
        ));
    }
    for _ in 0..4 {
        skip_versioned(&mut c)?; // TNamed, TAttLine, TAttFill, TAttMarker
    }
    let entries = c.i64()?;
    if entries < 0 {
        return Err(format!("corrupt tree ({entries} entries)"));
    }
    // The rest of the fixed part, by version (see ROOT's TTree streamer).
    let fixed = match version {
        16 => 84,
        17 => 88,
        18 => 104,
        _ => 108,
    };
    c.skip(fixed)?;
    if version >= 19 {
        let n = nclusters(&data, c.pos() - 8 * 6 - 4)?;
        c.skip(1)?;
        c.skip(n.checked_mul(8).ok_or("corrupt cluster table")?)?;
        c.skip(1)?;
        c.skip(n * 8)?;
    }
    if version >= 20 {
        skip_versioned(&mut c)?; // fIOFeatures
    }
    let mut branches = Vec::new();
    for obj in obj_array(&mut c, &mut classes)? {
        if let Obj::Branch(b) = obj {
            branches.push(b);
        }
    }
    Ok(Tree {
        entries: entries as u64,
        branches,
    })
}

/// `fNClusterRange` (an `int` just before the six 8-byte fields that end the fixed part).
fn nclusters(data: &[u8], at: usize) -> Res<usize> {
    let mut c = Cursor::new(data, 0);
    c.seek(at)?;
    let n = c.u32()?;
    if n > data.len() as u32 / 16 {
        return Err(format!("corrupt tree ({n} cluster ranges)"));
    }
    Ok(n as usize)
}

/// A (byte count, version) header; returns the end of the object and its version.
fn versioned(c: &mut Cursor<'_>) -> Res<(usize, i16)> {
    let start = c.pos();
    let bcnt = c.u32()?;
    if bcnt & BYTE_COUNT_MASK == 0 {
        return Err("object without a byte count".into());
    }
    let end = start + 4 + (bcnt & !BYTE_COUNT_MASK) as usize;
    // Counts read inside the object are bounded by its end, so the end must be real.
    if end > c.len() {
        return Err(format!(
            "object of {} bytes at offset {start} runs past the end of its {}-byte record",
            end - start,
            c.len()
        ));
    }
    let version = c.i16()?;
    Ok((end, version))
}

fn skip_versioned(c: &mut Cursor<'_>) -> Res<()> {
    let (end, _) = versioned(c)?;
    c.seek(end)
}

fn tobject(c: &mut Cursor<'_>) -> Res<()> {
    let version = c.i16()?;
    if version & BYTE_COUNT_VMASK != 0 {
        c.skip(4)?;
    }
    c.skip(4)?; // fUniqueID
    let bits = c.u32()?;
    if bits & IS_REFERENCED != 0 {
        c.skip(2)?;
    }
    Ok(())
}

/// A `TNamed`: name and title.
fn named(c: &mut Cursor<'_>) -> Res<(String, String)> {
    let (end, _) = versioned(c)?;
    tobject(c)?;
    let name = c.string()?;
    let title = c.string()?;
    c.seek(end)?;
    Ok((name, title))
}

/// A streamed object, as far as it matters here.
enum Obj {
    Null,
    /// A reference to an object read before.
    Ref,
    Branch(Branch),
    Leaf(Leaf),
    /// Any other class (skipped).
    Other,
}

struct Leaf {
    class: String,
    title: String,
    len: i32,
    unsigned: bool,
    counted: bool,
}

fn obj_array(c: &mut Cursor<'_>, classes: &mut HashMap<usize, String>) -> Res<Vec<Obj>> {
    let (end, _) = versioned(c)?;
    tobject(c)?;
    let _name = c.string()?;
    let n = c.i32()?;
    let _lower = c.i32()?;
    if n < 0 || n as usize > end.saturating_sub(c.pos()) / 4 {
        return Err(format!("corrupt object array ({n} entries)"));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        out.push(object_any(c, classes)?);
    }
    c.seek(end)?;
    Ok(out)
}

/// ROOT's `ReadObjectAny`: a null, a reference, or a (possibly new) class tag and an object.
fn object_any(c: &mut Cursor<'_>, classes: &mut HashMap<usize, String>) -> Res<Obj> {
    let beg = c.pos();
    let bcnt = c.u32()?;
    let (end, start, tag) = if bcnt & BYTE_COUNT_MASK == 0 || bcnt == NEW_CLASS_TAG {
        (None, 0, bcnt)
    } else {
        let start = c.key_pos();
        (
            Some(beg + 4 + (bcnt & !BYTE_COUNT_MASK) as usize),
            start,
            c.u32()?,
        )
    };
    let class = if tag & CLASS_MASK == 0 {
        if let Some(end) = end {
            c.seek(end)?;
        }
        return Ok(if tag == 0 { Obj::Null } else { Obj::Ref });
    } else if tag == NEW_CLASS_TAG {
        let name = c.cstring()?;
        if end.is_some() {
            classes.insert(start + MAP_OFFSET, name.clone());
        }
        name
    } else {
        let at = (tag & !CLASS_MASK) as usize;
        classes
            .get(&at)
            .cloned()
            .ok_or_else(|| format!("corrupt object reference (class at {at})"))?
    };
    let Some(end) = end else {
        return Err(format!("`{class}` object without a byte count"));
    };
    let obj = match class.as_str() {
        "TBranch" => Obj::Branch(branch(c, classes)?),
        "TBranchElement" | "TBranchObject" | "TBranchRef" => {
            // The first base is a TBranch: its name makes the message; its data is not read.
            let _ = versioned(c)?;
            let mut b = branch(c, classes)?;
            b.shape = Shape::Other(format!("{class} (an object or STL branch)"));
            Obj::Branch(b)
        }
        k if k.starts_with("TLeaf") => Obj::Leaf(leaf(c, classes, k)?),
        _ => Obj::Other,
    };
    c.seek(end)?;
    Ok(obj)
}

fn leaf(c: &mut Cursor<'_>, classes: &mut HashMap<usize, String>, class: &str) -> Res<Leaf> {
    let (end, _) = versioned(c)?; // TLeafX
    let (base_end, _) = versioned(c)?; // TLeaf
    let (_, title) = named(c)?;
    let len = c.i32()?;
    let _len_type = c.i32()?;
    let _offset = c.i32()?;
    let _is_range = c.u8()?;
    let unsigned = c.u8()? != 0;
    let counted = !matches!(object_any(c, classes)?, Obj::Null);
    c.seek(base_end)?;
    c.seek(end)?;
    Ok(Leaf {
        class: class.to_string(),
        title,
        len,
        unsigned,
        counted,
    })
}

fn branch(c: &mut Cursor<'_>, classes: &mut HashMap<usize, String>) -> Res<Branch> {
    let (end, version) = versioned(c)?;
    if !(10..=13).contains(&version) {
        return Err(format!(
            "TBranch version {version} is not supported (10 to 13 are)"
        ));
    }
    let (name, _) = named(c)?;
    let fail = |e: String| format!("branch `{name}`: {e}");
    skip_versioned(c).map_err(fail)?; // TAttFill
    let _compress = c.i32().map_err(fail)?;
    let _basket_size = c.i32().map_err(fail)?;
    let _entry_offset_len = c.i32().map_err(fail)?;
    let write_basket = c.i32().map_err(fail)?;
    let _entry_number = c.i64().map_err(fail)?;
    if version >= 13 {
        skip_versioned(c).map_err(fail)?; // fIOFeatures
    }
    let _offset = c.i32().map_err(fail)?;
    let max_baskets = c.u32().map_err(fail)?;
    let _split = c.i32().map_err(fail)?;
    let entries = c.i64().map_err(fail)?;
    if version >= 11 {
        let _first_entry = c.i64().map_err(fail)?;
    }
    let _tot_bytes = c.i64().map_err(fail)?;
    let _zip_bytes = c.i64().map_err(fail)?;
    let subs = obj_array(c, classes).map_err(fail)?;
    let leaves = obj_array(c, classes).map_err(fail)?;
    let _embedded = obj_array(c, classes).map_err(fail)?;
    let nb = max_baskets as usize;
    if write_basket < 0 || write_basket as usize > nb || nb > end.saturating_sub(c.pos()) / 20 {
        return Err(fail(format!(
            "corrupt basket table ({write_basket} of {max_baskets} baskets)"
        )));
    }
    c.skip(1).map_err(fail)?;
    let mut bytes = Vec::with_capacity(nb);
    for _ in 0..nb {
        bytes.push(c.i32().map_err(fail)?);
    }
    c.skip(1).map_err(fail)?;
    let mut first = Vec::with_capacity(nb);
    for _ in 0..nb {
        first.push(c.i64().map_err(fail)?);
    }
    c.skip(1).map_err(fail)?;
    let mut seek = Vec::with_capacity(nb);
    for _ in 0..nb {
        seek.push(c.i64().map_err(fail)?);
    }
    c.seek(end).map_err(fail)?;
    let mut baskets = Vec::with_capacity(write_basket as usize);
    for i in 0..write_basket as usize {
        if bytes[i] <= 0 || seek[i] <= 0 || first[i] < 0 {
            return Err(fail(format!("corrupt basket table (basket {i})")));
        }
        baskets.push((seek[i] as u64, bytes[i] as u32, first[i]));
    }
    let shape = if !subs.is_empty() {
        Shape::Other("a branch with sub-branches".into())
    } else {
        let leaves: Vec<&Leaf> = leaves
            .iter()
            .filter_map(|l| match l {
                Obj::Leaf(l) => Some(l),
                _ => None,
            })
            .collect();
        match leaves.as_slice() {
            [l] => leaf_shape(l),
            _ => Shape::Other(format!("a list of {} leaves", leaves.len())),
        }
    };
    Ok(Branch {
        name,
        shape,
        entries,
        baskets,
    })
}

fn leaf_shape(l: &Leaf) -> Shape {
    let u = l.unsigned;
    let prim = match l.class.as_str() {
        "TLeafF" => Prim::F32,
        "TLeafD" => Prim::F64,
        "TLeafB" if u => Prim::U8,
        "TLeafB" => Prim::I8,
        "TLeafS" if u => Prim::U16,
        "TLeafS" => Prim::I16,
        "TLeafI" if u => Prim::U32,
        "TLeafI" => Prim::I32,
        "TLeafL" | "TLeafG" if u => Prim::U64,
        "TLeafL" | "TLeafG" => Prim::I64,
        "TLeafO" => Prim::Bool,
        "TLeafC" => return Shape::Scalar(Prim::Str),
        other => return Shape::Other(other.to_string()),
    };
    if l.counted {
        Shape::Jagged(prim)
    } else if l.len > 1 || l.title.contains('[') {
        Shape::Other(format!("{}[{}] (fixed-size array)", prim.name(), l.len))
    } else {
        Shape::Scalar(prim)
    }
}

/// The values of `b`: `n` entries, plus entry offsets for jagged branches (`n + 1` of them).
pub(super) fn read_branch(
    file: &mut RootFile,
    b: &Branch,
    n: u64,
) -> Res<(Values, Option<Vec<usize>>)> {
    let prim = match b.shape {
        Shape::Scalar(p) | Shape::Jagged(p) => p,
        Shape::Other(ref t) => return Err(format!("cannot read a branch of type {t}")),
    };
    let jagged = matches!(b.shape, Shape::Jagged(_));
    if b.entries as u64 != n {
        return Err(format!("{} entries, but the tree has {n}", b.entries));
    }
    let mut vals = match prim {
        Prim::Str => Values::Str(Vec::new()),
        p if p.is_float() => Values::F(Vec::new()),
        _ => Values::I(Vec::new()),
    };
    let mut offsets = jagged.then(|| vec![0usize]);
    let mut done = 0u64;
    for (i, &(seek, bytes, first)) in b.baskets.iter().enumerate() {
        if first as u64 != done {
            return Err(format!(
                "basket {i} starts at entry {first}, expected {done}"
            ));
        }
        let (h, raw) = file.raw_key(seek)?;
        if h.nbytes != bytes {
            return Err(format!("basket {i}: size {} instead of {bytes}", h.nbytes));
        }
        let got = basket(&raw, &h, prim, jagged, &mut vals, offsets.as_mut())
            .map_err(|e| format!("basket {i}: {e}"))?;
        done += got;
    }
    if done != n {
        return Err(format!(
            "baskets hold {done} of {n} entries (entries kept inside the tree object are not \
             read; rewrite the file with uproot or hadd)"
        ));
    }
    Ok((vals, offsets))
}

/// Decode one basket, appending its values; returns its entry count.
fn basket(
    raw: &[u8],
    h: &KeyHeader,
    prim: Prim,
    jagged: bool,
    vals: &mut Values,
    offsets: Option<&mut Vec<usize>>,
) -> Res<u64> {
    let keylen = h.keylen as usize;
    let mut c = Cursor::new(raw, 0);
    c.seek(keylen.checked_sub(19).ok_or("corrupt basket header")?)?;
    let _version = c.u16()?;
    let _buffer_size = c.i32()?;
    let _nev_buf_size = c.i32()?;
    let nev = c.i32()?;
    let last = c.i32()?;
    let data = payload(raw, h)?;
    let border = (last as i64 - keylen as i64)
        .try_into()
        .ok()
        .filter(|&b: &usize| b <= data.len() && nev >= 0)
        .ok_or_else(|| format!("corrupt basket ({nev} entries, end {last})"))?;
    let nev = nev as usize;
    let (content, tail) = data.split_at(border);
    // Entry boundaries: fixed for scalars, stored after the content otherwise.
    let bounds: Vec<usize> = if prim == Prim::Str || jagged {
        // Each entry has a 4-byte offset after the content: a count the tail cannot hold
        // is corrupt (and must not size an allocation).
        if nev > tail.len() / 4 {
            return Err(format!(
                "corrupt basket ({nev} entries, {} bytes of entry offsets)",
                tail.len()
            ));
        }
        let mut t = Cursor::new(tail, 0);
        let _count = t.i32()?;
        let mut b = Vec::with_capacity(nev + 1);
        for _ in 0..nev {
            let o = t.i32()? as i64 - keylen as i64;
            b.push(usize::try_from(o).map_err(|_| "corrupt entry offsets")?);
        }
        b.push(border);
        if b.windows(2).any(|w| w[0] > w[1]) || b.first().is_some_and(|&o| o > border) {
            return Err("corrupt entry offsets".into());
        }
        b
    } else {
        if content.len() != nev * prim.size() {
            return Err(format!(
                "{} bytes for {nev} values of {} bytes",
                content.len(),
                prim.size()
            ));
        }
        (0..=nev).map(|i| i * prim.size()).collect()
    };
    let mut off = offsets;
    for w in bounds.windows(2) {
        let entry = &content[w[0]..w[1]];
        if prim == Prim::Str {
            let mut e = Cursor::new(entry, 0);
            let s = if entry.is_empty() {
                String::new()
            } else {
                e.string()?
            };
            if let Values::Str(v) = vals {
                v.push(s);
            }
            continue;
        }
        if entry.len() % prim.size() != 0 {
            return Err(format!(
                "entry of {} bytes is not a whole number of {} values",
                entry.len(),
                prim.name()
            ));
        }
        push_values(entry, prim, vals)?;
        if let Some(o) = off.as_deref_mut() {
            o.push(vals.len());
        }
    }
    Ok(nev as u64)
}

fn push_values(bytes: &[u8], prim: Prim, vals: &mut Values) -> Res<()> {
    macro_rules! conv {
        ($t:ty, $n:expr, $to:ty) => {
            bytes
                .chunks_exact($n)
                .map(|b| <$t>::from_be_bytes(b.try_into().unwrap_or([0; $n])) as $to)
        };
    }
    match vals {
        Values::F(v) => match prim {
            Prim::F32 => v.extend(conv!(f32, 4, f64)),
            _ => v.extend(conv!(f64, 8, f64)),
        },
        Values::I(v) => match prim {
            Prim::I8 => v.extend(conv!(i8, 1, i64)),
            Prim::U8 | Prim::Bool => v.extend(conv!(u8, 1, i64)),
            Prim::I16 => v.extend(conv!(i16, 2, i64)),
            Prim::U16 => v.extend(conv!(u16, 2, i64)),
            Prim::I32 => v.extend(conv!(i32, 4, i64)),
            Prim::U32 => v.extend(conv!(u32, 4, i64)),
            Prim::U64 => {
                for b in bytes.chunks_exact(8) {
                    let x = u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
                    v.push(i64::try_from(x).map_err(|_| format!("uint64 value {x} too large"))?);
                }
            }
            _ => v.extend(conv!(i64, 8, i64)),
        },
        Values::Str(_) => {}
    }
    Ok(())
}
