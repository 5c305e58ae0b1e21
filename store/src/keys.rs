//! Key layout and small binary encodings (see the crate docs for the table).

use model::{Label, Labels};

pub(crate) const META: u8 = b'M';
pub(crate) const SERIES: u8 = b'S';
pub(crate) const CHUNK: u8 = b'C';
pub(crate) const HEAD: u8 = b'H';
pub(crate) const ROLLUP: u8 = b'R';
pub(crate) const LAST: u8 = b'L';
pub(crate) const KV: u8 = b'K';

/// A timestamp as 8 bytes that sort like the signed value.
pub(crate) fn ord(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`ord`].
pub(crate) fn unord(b: &[u8]) -> Option<i64> {
    let b: [u8; 8] = b.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

/// `tag id`.
pub(crate) fn id_key(tag: u8, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(tag);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `prefix ord(window) id` (prefix: `C`, or `R res` with res 0 = 5 m, 1 = 1 h).
pub(crate) fn window_id_key(prefix: &[u8], window: i64, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 24);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&ord(window));
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `prefix ord(window) id ord(last_t)`: a raw chunk or rollup block.
pub(crate) fn block_key(prefix: &[u8], window: i64, id: u64, last_t: i64) -> Vec<u8> {
    let mut k = window_id_key(prefix, window, id);
    k.extend_from_slice(&ord(last_t));
    k
}

/// `prefix ord(window)`.
pub(crate) fn window_key(prefix: &[u8], window: i64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&ord(window));
    k
}

/// (window, id, last_t) of a [`block_key`] with a prefix of `plen` bytes.
pub(crate) fn parse_block_key(k: &[u8], plen: usize) -> Option<(i64, u64, i64)> {
    Some((
        unord(k.get(plen..plen + 8)?)?,
        id_of(k, plen + 8)?,
        unord(k.get(plen + 16..plen + 24)?)?,
    ))
}

/// The series id in a `tag id ...` key.
pub(crate) fn id_of(key: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(at..at + 8)?.try_into().ok()?))
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `K namespace 0x00 key`.
pub(crate) fn kv_key(namespace: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + namespace.len() + key.len());
    k.push(KV);
    k.extend_from_slice(namespace.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn get_bytes<'a>(b: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let n = usize::try_from(get_varint(b, pos)?).ok()?;
    let s = b.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(s)
}

/// Labels as `count (len name len value)*`.
pub(crate) fn encode_labels(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, labels.len() as u64);
    for Label { name, value } in labels.iter() {
        put_bytes(&mut out, name.as_bytes());
        put_bytes(&mut out, value.as_bytes());
    }
    out
}

pub(crate) fn decode_labels(b: &[u8]) -> Option<Labels> {
    let mut pos = 0;
    let n = get_varint(b, &mut pos)?;
    let mut pairs = Vec::new();
    for _ in 0..n {
        let name = std::str::from_utf8(get_bytes(b, &mut pos)?).ok()?;
        let value = std::str::from_utf8(get_bytes(b, &mut pos)?).ok()?;
        pairs.push((name.to_string(), value.to_string()));
    }
    (pos == b.len()).then(|| Labels::from_pairs(pairs))
}

/// A length-prefixed byte string (u32 BE).
pub(crate) fn put_block(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

pub(crate) fn get_block<'a>(b: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let n = u32::from_be_bytes(b.get(*pos..*pos + 4)?.try_into().ok()?) as usize;
    *pos += 4;
    let s = b.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(s)
}

pub(crate) fn get_u64(b: &[u8], pos: &mut usize) -> Option<u64> {
    let v = u64::from_be_bytes(b.get(*pos..*pos + 8)?.try_into().ok()?);
    *pos += 8;
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ord_sorts_like_i64(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(a.cmp(&b), ord(a).cmp(&ord(b)));
            prop_assert_eq!(unord(&ord(a)), Some(a));
        }

        #[test]
        fn labels_roundtrip(pairs in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{1,8}", 0..6)) {
            let l = Labels::from_pairs(pairs);
            prop_assert_eq!(decode_labels(&encode_labels(&l)), Some(l));
        }

        #[test]
        fn prefix_end_bounds_prefix(p in proptest::collection::vec(any::<u8>(), 0..5), tail in proptest::collection::vec(any::<u8>(), 0..5)) {
            let mut k = p.clone();
            k.extend(tail);
            if let Some(end) = prefix_end(&p) {
                prop_assert!(k < end);
                prop_assert!(p <= k);
            } else {
                prop_assert!(p.iter().all(|b| *b == 0xff));
            }
        }
    }
}
