//! Format-blind mutations: bit flips, interesting values, insertions, deletions, duplicated
//! ranges, truncation and splicing with another input of the same kind.

use bead_testkit::Rng;

/// A uniform index below `n` (0 when `n` is 0).
pub fn below(rng: &mut Rng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (rng.next_u64() % n as u64) as usize
    }
}

/// Integers that break size and index arithmetic.
pub const INTERESTING: &[i64] = &[
    0,
    1,
    -1,
    2,
    16,
    100,
    127,
    128,
    255,
    256,
    1000,
    65535,
    65536,
    i32::MAX as i64,
    i32::MIN as i64,
    1 << 31,
    1 << 32,
    1_000_000_000,
    20_000_000,
    1 << 40,
    i64::MAX,
    i64::MIN,
    -2,
    -100,
];

/// One interesting integer (sometimes off by one).
pub fn interesting(rng: &mut Rng) -> i64 {
    let v = INTERESTING
        .get(below(rng, INTERESTING.len()))
        .copied()
        .unwrap_or(0);
    match below(rng, 4) {
        0 => v.wrapping_add(1),
        1 => v.wrapping_sub(1),
        _ => v,
    }
}

/// A position in `len` bytes; with `tail_bias`, half of the time in the last eighth (where
/// Parquet keeps its footer).
fn position(rng: &mut Rng, len: usize, tail_bias: bool) -> usize {
    if tail_bias && rng.next_u64().is_multiple_of(2) {
        let tail = (len / 8).clamp(1.min(len), 4096);
        len - tail + below(rng, tail)
    } else {
        below(rng, len)
    }
}

/// Applies one random byte-level mutation to `data`; `other` is another input of the same
/// kind, for splicing.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], tail_bias: bool) {
    let len = data.len();
    match below(rng, 9) {
        0 if len > 0 => {
            let p = position(rng, len, tail_bias);
            if let Some(b) = data.get_mut(p) {
                *b ^= 1 << below(rng, 8);
            }
        }
        1 if len > 0 => {
            let p = position(rng, len, tail_bias);
            let v = [0u8, 0xff, 0x7f, 0x80, 1, 0xfe][below(rng, 6)];
            if let Some(b) = data.get_mut(p) {
                *b = v;
            }
        }
        2 if len >= 8 => {
            // An interesting integer, little-endian, 1 to 8 bytes wide.
            let w = [1usize, 2, 4, 8][below(rng, 4)];
            let p = position(rng, len - w + 1, tail_bias);
            let bytes = interesting(rng).to_le_bytes();
            if let (Some(d), Some(s)) = (data.get_mut(p..p + w), bytes.get(..w)) {
                d.copy_from_slice(s);
            }
        }
        3 => {
            let p = position(rng, len + 1, tail_bias).min(len);
            let n = 1 + below(rng, 16);
            let ins: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            data.splice(p..p, ins);
        }
        4 if len > 0 => {
            let p = position(rng, len, tail_bias);
            let n = (1 + below(rng, 64)).min(len - p);
            data.drain(p..p + n);
        }
        5 if len > 0 => {
            // Duplicate a range somewhere else.
            let a = below(rng, len);
            let n = (1 + below(rng, 256)).min(len - a);
            let chunk: Vec<u8> = data.get(a..a + n).map(<[u8]>::to_vec).unwrap_or_default();
            let p = below(rng, len + 1);
            data.splice(p..p, chunk);
        }
        6 => {
            let keep = below(rng, len + 1);
            data.truncate(keep);
        }
        7 if !other.is_empty() => {
            // Splice: a prefix of this input, a suffix of the other.
            let a = below(rng, len + 1);
            let b = below(rng, other.len());
            data.truncate(a);
            data.extend_from_slice(other.get(b..).unwrap_or_default());
        }
        _ if len > 0 => {
            // Several flips close together (a corrupted block).
            let p = position(rng, len, tail_bias);
            for q in p..(p + 8).min(len) {
                if let Some(b) = data.get_mut(q) {
                    *b = rng.next_u64() as u8;
                }
            }
        }
        _ => data.push(rng.next_u64() as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_change_the_input() {
        let base: Vec<u8> = (0..200u8).collect();
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut d = base.clone();
            for _ in 0..4 {
                mutate(&mut rng, &mut d, b"other input", true);
            }
            d
        };
        assert_eq!(run(3), run(3));
        let changed = (0..50).filter(|s| run(*s) != base).count();
        assert!(changed >= 45, "{changed}");
    }
}
