//! The Gorilla bit codec: delta-of-delta timestamps and XOR-compressed 64-bit columns.
//!
//! A block holds `count` rows of `(t, [u64; N])`. Raw samples use `N = 1` (the value's bits);
//! rollup blocks use `N = 4` (count, min, max, sum as `f64` bits). Values are XORed as raw bit
//! patterns, so every NaN payload (including Prometheus's staleness marker) round-trips exactly.
//!
//! Encoded block: `count: u16 BE` followed by the bit stream. The stream starts with the first
//! timestamp as 64 raw bits (so its first 8 bytes are the first timestamp, big-endian) and the
//! first row's columns as 64 raw bits each. Each later row: the timestamp's delta-of-delta
//! (`0` = 0; `10`+14 bits; `110`+17 bits; `1110`+20 bits; `1111`+64 bits, two's complement),
//! then per column the XOR with the previous value (`0` = equal; `10` + the meaningful bits in the
//! previous leading/trailing-zero window; `11` + 5 bits leading zeros + 6 bits length (0 = 64) +
//! the meaningful bits).

/// Why a block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt chunk: {0}")]
pub struct CodecError(pub &'static str);

/// Appends bits most-significant first.
#[derive(Debug, Clone, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u32,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v` (n <= 64).
    fn write_bits(&mut self, v: u64, mut n: u32) {
        while n > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(n);
            let shift = n - take;
            let chunk = ((v >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (free - take);
            self.used = (self.used + take) % 8;
            n -= take;
        }
    }
}

/// Reads bits most-significant first.
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read_bit(&mut self) -> Result<bool, CodecError> {
        Ok(self.read_bits(1)? == 1)
    }

    fn read_bits(&mut self, n: u32) -> Result<u64, CodecError> {
        if n == 0 {
            return Ok(0);
        }
        if self.pos + n as usize > self.bytes.len() * 8 {
            return Err(CodecError("bit stream ends early"));
        }
        let mut out = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.bytes[self.pos / 8];
            let off = (self.pos % 8) as u32;
            let avail = 8 - off;
            let take = avail.min(left);
            let bits = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            out = (out << take) | bits;
            self.pos += take as usize;
            left -= take;
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy)]
struct XorState {
    prev: u64,
    /// Leading zeros of the current window; `u32::MAX` when there is none yet.
    lead: u32,
    trail: u32,
}

impl XorState {
    const fn new() -> Self {
        XorState {
            prev: 0,
            lead: u32::MAX,
            trail: 0,
        }
    }

    fn encode(&mut self, w: &mut BitWriter, v: u64) {
        let x = v ^ self.prev;
        self.prev = v;
        if x == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        let lead = x.leading_zeros().min(31);
        let trail = x.trailing_zeros();
        if self.lead != u32::MAX && lead >= self.lead && trail >= self.trail {
            w.write_bit(false);
            let sig = 64 - self.lead - self.trail;
            w.write_bits(x >> self.trail, sig);
        } else {
            w.write_bit(true);
            let sig = 64 - lead - trail;
            w.write_bits(u64::from(lead), 5);
            w.write_bits(u64::from(sig % 64), 6);
            w.write_bits(x >> trail, sig);
            self.lead = lead;
            self.trail = trail;
        }
    }

    fn decode(&mut self, r: &mut BitReader<'_>) -> Result<u64, CodecError> {
        if !r.read_bit()? {
            return Ok(self.prev);
        }
        if r.read_bit()? {
            let lead = r.read_bits(5)? as u32;
            let sig = match r.read_bits(6)? as u32 {
                0 => 64,
                s => s,
            };
            if lead + sig > 64 {
                return Err(CodecError("xor window exceeds 64 bits"));
            }
            self.lead = lead;
            self.trail = 64 - lead - sig;
        } else if self.lead == u32::MAX {
            return Err(CodecError("xor window reused before it was set"));
        }
        let sig = 64 - self.lead - self.trail;
        let x = r.read_bits(sig)? << self.trail;
        self.prev ^= x;
        Ok(self.prev)
    }
}

/// Delta-of-delta buckets: (prefix, prefix length, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

fn fits_signed(v: i64, bits: u32) -> bool {
    let lim = 1i64 << (bits - 1);
    (-lim..lim).contains(&v)
}

/// An append-only encoder of one block.
#[derive(Debug, Clone)]
pub(crate) struct BlockEncoder<const N: usize> {
    w: BitWriter,
    count: u16,
    first_t: i64,
    last_t: i64,
    prev_delta: i64,
    cols: [XorState; N],
}

impl<const N: usize> Default for BlockEncoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> BlockEncoder<N> {
    /// An empty block.
    pub(crate) const fn new() -> Self {
        BlockEncoder {
            w: BitWriter {
                bytes: Vec::new(),
                used: 0,
            },
            count: 0,
            first_t: 0,
            last_t: 0,
            prev_delta: 0,
            cols: [XorState::new(); N],
        }
    }

    /// Rows in the block.
    pub(crate) fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// The first row's timestamp (meaningless when empty).
    pub(crate) fn first_t(&self) -> i64 {
        self.first_t
    }

    /// The last row's timestamp (meaningless when empty).
    pub(crate) fn last_t(&self) -> i64 {
        self.last_t
    }

    /// Encoded size in bytes (without the count header).
    #[cfg(test)]
    pub(crate) fn byte_len(&self) -> usize {
        self.w.bytes.len()
    }

    /// Appends a row. Rows must be appended in strictly ascending time; the block holds at most
    /// `u16::MAX` rows.
    pub(crate) fn append(&mut self, t: i64, vals: [u64; N]) {
        debug_assert!(self.count < u16::MAX);
        if self.count == 0 {
            self.w.write_bits(t as u64, 64);
            for (c, v) in self.cols.iter_mut().zip(vals) {
                self.w.write_bits(v, 64);
                c.prev = v;
            }
            self.first_t = t;
        } else {
            let delta = t.wrapping_sub(self.last_t);
            let dod = delta.wrapping_sub(self.prev_delta);
            self.prev_delta = delta;
            if dod == 0 {
                self.w.write_bit(false);
            } else if let Some(&(prefix, plen, bits)) =
                DOD_BUCKETS.iter().find(|(_, _, b)| fits_signed(dod, *b))
            {
                self.w.write_bits(prefix, plen);
                self.w.write_bits(dod as u64, bits);
            } else {
                self.w.write_bits(0b1111, 4);
                self.w.write_bits(dod as u64, 64);
            }
            for (c, v) in self.cols.iter_mut().zip(vals) {
                c.encode(&mut self.w, v);
            }
        }
        self.last_t = t;
        self.count += 1;
    }

    /// The encoded block: count header and bit stream.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.w.bytes.len());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.w.bytes);
        out
    }

    /// Rebuilds an encoder from an encoded block.
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut enc = Self::new();
        for row in decode::<N>(bytes)? {
            let (t, vals) = row?;
            enc.append(t, vals);
        }
        Ok(enc)
    }
}

/// The first timestamp of an encoded, non-empty block without decoding it.
pub(crate) fn block_first_t(bytes: &[u8]) -> Result<i64, CodecError> {
    let b: [u8; 8] = bytes
        .get(2..10)
        .and_then(|s| s.try_into().ok())
        .ok_or(CodecError("block too short"))?;
    Ok(i64::from_be_bytes(b))
}

/// Iterates the rows of an encoded block.
pub(crate) fn decode<const N: usize>(bytes: &[u8]) -> Result<BlockDecoder<'_, N>, CodecError> {
    if bytes.len() < 2 {
        return Err(CodecError("block header missing"));
    }
    let count = u16::from_be_bytes([bytes[0], bytes[1]]);
    Ok(BlockDecoder {
        r: BitReader {
            bytes: &bytes[2..],
            pos: 0,
        },
        left: count,
        started: false,
        last_t: 0,
        prev_delta: 0,
        cols: [XorState::new(); N],
        failed: false,
    })
}

/// Iterator over `(t, columns)` of an encoded block.
pub(crate) struct BlockDecoder<'a, const N: usize> {
    r: BitReader<'a>,
    left: u16,
    started: bool,
    last_t: i64,
    prev_delta: i64,
    cols: [XorState; N],
    failed: bool,
}

impl<const N: usize> BlockDecoder<'_, N> {
    fn next_row(&mut self) -> Result<(i64, [u64; N]), CodecError> {
        let mut vals = [0u64; N];
        if !self.started {
            self.started = true;
            self.last_t = self.r.read_bits(64)? as i64;
            for (c, v) in self.cols.iter_mut().zip(vals.iter_mut()) {
                c.prev = self.r.read_bits(64)?;
                *v = c.prev;
            }
            return Ok((self.last_t, vals));
        }
        let mut plen = 0;
        while plen < 4 && self.r.read_bit()? {
            plen += 1;
        }
        let dod = match plen {
            0 => 0,
            4 => self.r.read_bits(64)? as i64,
            n => {
                let bits = DOD_BUCKETS[n - 1].2;
                let raw = self.r.read_bits(bits)?;
                // Sign-extend.
                ((raw << (64 - bits)) as i64) >> (64 - bits)
            }
        };
        self.prev_delta = self.prev_delta.wrapping_add(dod);
        self.last_t = self.last_t.wrapping_add(self.prev_delta);
        for (c, v) in self.cols.iter_mut().zip(vals.iter_mut()) {
            *v = c.decode(&mut self.r)?;
        }
        Ok((self.last_t, vals))
    }
}

impl<const N: usize> Iterator for BlockDecoder<'_, N> {
    type Item = Result<(i64, [u64; N]), CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 || self.failed {
            return None;
        }
        self.left -= 1;
        let r = self.next_row();
        self.failed = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::sample::STALE_NAN_BITS;
    use proptest::prelude::*;

    fn roundtrip<const N: usize>(rows: &[(i64, [u64; N])]) {
        let mut enc = BlockEncoder::<N>::new();
        for (t, v) in rows {
            enc.append(*t, *v);
        }
        let bytes = enc.to_bytes();
        let back: Vec<_> = decode::<N>(&bytes)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, rows);
        if let Some((t, _)) = rows.first() {
            assert_eq!(block_first_t(&bytes).unwrap(), *t);
        }
        let again = BlockEncoder::<N>::from_bytes(&bytes).unwrap();
        assert_eq!(again.to_bytes(), bytes);
    }

    fn special_value() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(STALE_NAN_BITS),
            Just(f64::NAN.to_bits()),
            Just(f64::INFINITY.to_bits()),
            Just(f64::NEG_INFINITY.to_bits()),
            Just(0.0f64.to_bits()),
            Just((-0.0f64).to_bits()),
            Just(1.0f64.to_bits()),
            Just(f64::MIN_POSITIVE.to_bits()),
            Just(f64::MAX.to_bits()),
            Just(1u64), // a subnormal
            any::<u64>(),
            (0u32..1000).prop_map(|i| f64::from(i).to_bits()),
            any::<f64>().prop_map(f64::to_bits),
        ]
    }

    /// Strictly ascending timestamps with irregular gaps (regular, jittered, huge, negative base).
    fn timestamps(n: usize) -> impl Strategy<Value = Vec<i64>> {
        (
            -(1i64 << 50)..(1i64 << 50),
            proptest::collection::vec(
                prop_oneof![
                    Just(15_000i64),
                    14_990i64..15_010,
                    1i64..10,
                    1i64..100_000_000,
                    1i64..(1i64 << 40),
                ],
                n,
            ),
        )
            .prop_map(|(start, gaps)| {
                let mut t = start;
                gaps.into_iter()
                    .map(|g| {
                        t += g;
                        t
                    })
                    .collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn samples_roundtrip_bit_exact(
            (ts, vs) in (0usize..300).prop_flat_map(|n| (
                timestamps(n),
                proptest::collection::vec(special_value(), n),
            ))
        ) {
            let rows: Vec<(i64, [u64; 1])> = ts.into_iter().zip(vs).map(|(t, v)| (t, [v])).collect();
            roundtrip(&rows);
        }

        #[test]
        fn rollup_rows_roundtrip_bit_exact(
            (ts, vs) in (0usize..100).prop_flat_map(|n| (
                timestamps(n),
                proptest::collection::vec([special_value(), special_value(), special_value(), special_value()], n),
            ))
        ) {
            let rows: Vec<(i64, [u64; 4])> = ts.into_iter().zip(vs).collect();
            roundtrip(&rows);
        }

        #[test]
        fn truncated_blocks_error_instead_of_panicking(
            vs in proptest::collection::vec(any::<u64>(), 2..50),
            cut in 0usize..400,
        ) {
            let mut enc = BlockEncoder::<1>::new();
            for (i, v) in vs.iter().enumerate() {
                enc.append(i as i64 * 1000, [*v]);
            }
            let bytes = enc.to_bytes();
            let cut = cut.min(bytes.len());
            // Either decodes fewer rows or reports corruption; never panics.
            if let Ok(d) = decode::<1>(&bytes[..cut]) {
                let _ = d.count();
            }
        }
    }

    #[test]
    fn extreme_timestamps_roundtrip() {
        roundtrip(&[(i64::MIN, [1]), (0, [2]), (i64::MAX, [3])]);
        roundtrip(&[
            (i64::MIN, [STALE_NAN_BITS]),
            (i64::MIN + 1, [STALE_NAN_BITS]),
        ]);
    }

    #[test]
    fn regular_series_compress_well() {
        let mut enc = BlockEncoder::<1>::new();
        for i in 0..120 {
            enc.append(1_700_000_000_000 + i * 15_000, [1.0f64.to_bits()]);
        }
        // 16 header bytes + two bits per later sample, plus the second delta.
        assert!(enc.byte_len() < 16 + 40, "{}", enc.byte_len());
    }
}
