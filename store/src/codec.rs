//! The block codec: delta-of-delta timestamps and compressed 64-bit columns.
//!
//! A block holds `count` rows of `(t, [u64; N])`. Raw samples use `N = 1` (the value's bits);
//! rollup blocks use `N = 4` (count, min, max, sum as `f64` bits). Every value round-trips bit
//! for bit, so every NaN payload (including Prometheus's staleness marker) survives.
//!
//! # Version 3 (written)
//!
//! `u16 BE` header (top two bits set, 14 bits row count), a flags byte (bit 0: regular
//! timestamps), then, when the block has rows, the first timestamp as `i64 BE`; with two rows
//! or more either the one delta of a regular block (zigzag varint: a series scraped at a fixed
//! interval costs no bit per sample for its timestamps) or the length (varint) and bytes of the
//! timestamp stream (per row after the first its delta-of-delta: `0` = 0; `10`+14 bits;
//! `110`+17 bits; `1110`+20 bits; `1111`+64 bits, two's complement). Then the value stream: the
//! first row's columns as 64 raw bits each, then per later row `1` + its columns, or `0` + a run
//! length `r` (Elias gamma): the next `r` rows equal the previous one (a 0/1 gauge that stays 1
//! for a whole block costs a few bits). With `N > 1` each column of a changed row starts with
//! `0` (equal to the previous value) or `1`; with `N = 1` the value is known to differ. A
//! changed value, while the column tries decimals: `0` + a decimal delta-of-delta or `1` + an
//! XOR; after [`XOR_GIVE_UP`] XOR values in a row the XOR alone (no control bit).
//!
//! - Decimal: both sides derive the decimal state `(n, scale)` of the previous value (below);
//!   the value is `n'` at the same scale, written as the zigzagged `(n' - n) - previous delta`:
//!   `0` + that in `k` bits, `k` the widest of the last four such values, or `1` + 6 bits
//!   length and the bits (a counter growing at a steady rate costs 3 bits a sample).
//! - XOR (`v ^ previous`): `0` + the bits inside the current window, or `1` + 3 bits leading-zero
//!   class ([`LEAD_CLASSES`]) + 6 bits length (0 = 64) + the bits; a new window keeps the
//!   trailing zeros only above [`TRAIL_KEEP`]. Rounding the leading zeros down lets the next
//!   values, whose XOR has a leading zero or two fewer, reuse the window (Gorilla's exact
//!   windows are reopened for about half of the values of a noisy gauge).
//!
//! # Versions 1 and 2 (read)
//!
//! A `u16 BE` header (top bit: version 2, 15 bits row count), then one interleaved bit stream:
//! the first timestamp and columns as 64 raw bits, then per row the timestamp's delta-of-delta
//! (as above) and per column:
//!
//! - version 1 (Gorilla): the XOR with the previous value (`0` = equal; `10` + the meaningful
//!   bits in the previous leading/trailing-zero window; `11` + 5 bits leading zeros + 6 bits
//!   length (0 = 64) + the meaningful bits);
//! - version 2: `0` = equal to the previous value; `10` + a decimal delta (the change of `n`,
//!   zigzag-encoded in `0`+5, `10`+8, `110`+12, `1110`+20, `11110`+32 or `11111`+64 bits); `11`
//!   then the XOR with the previous value as in version 1 without its first bit (`0` =
//!   previous window, `1` = new window).
//!
//! # The decimal state
//!
//! The decimal mode exists because exporters print values in decimal: a gauge printed with two
//! decimals (`50.37`) costs Gorilla about 50 bits per change, since its binary mantissa is
//! noise, but as the integer `5037` at scale 2 it changes by small deltas. After each value
//! both sides derive the same decimal state `(n, scale)` with `value == n / 10^scale` exactly
//! (bit for bit, in `f64` arithmetic, `|n| <= 2^53`, scale at most [`MAX_SCALE`]): after an XOR
//! value the smallest such scale (see `Decimal::of`), after a delta value the scale it used (so
//! a gauge keeps its scale when a value ends in zero). Values that are not decimal (NaN,
//! infinities, `-0.0`, results of arithmetic like `0.1 + 0.2`) take the XOR path; after four
//! XOR values in a row a block stops trying its values as decimals (saving the CPU of the try
//! for series that never are, such as latencies with full precision).

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
        let byte = *self
            .bytes
            .get(self.pos / 8)
            .ok_or(CodecError("bit stream ends early"))?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
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

    /// Reads a version 1 value: `0` (equal) or `1` and a changed value.
    fn decode_v1(&mut self, r: &mut BitReader<'_>) -> Result<u64, CodecError> {
        if !r.read_bit()? {
            return Ok(self.prev);
        }
        self.decode_changed(r)
    }

    /// Reads what [`XorState::encode_changed`] wrote.
    fn decode_changed(&mut self, r: &mut BitReader<'_>) -> Result<u64, CodecError> {
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

/// The most decimal places the decimal mode tries.
pub(crate) const MAX_SCALE: u8 = 9;
const POW10: [f64; MAX_SCALE as usize + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/// 2^53: integers up to this are exact in `f64`.
const MAX_EXACT: i64 = 1 << 53;

/// A value as the integer `n` at `scale` decimal places: `value == n / 10^scale`.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    n: i64,
    scale: u8,
}

impl Decimal {
    /// `v` at `scale`, when `n / 10^scale` gives back exactly `v`'s bits.
    fn at_scale(v: f64, scale: u8) -> Option<i64> {
        // Also true for NaN and the infinities, which then fail the comparison below.
        if v.abs() > MAX_EXACT as f64 {
            return None;
        }
        if scale == 0 {
            let n = v as i64;
            return ((n as f64).to_bits() == v.to_bits()).then_some(n);
        }
        let p = POW10[usize::from(scale)];
        let n = round(v * p);
        if n.abs() > MAX_EXACT as f64 {
            return None;
        }
        let n = n as i64;
        ((n as f64 / p).to_bits() == v.to_bits()).then_some(n)
    }

    /// `v` as a decimal: tried at the largest scale (up to [`MAX_SCALE`]) that keeps `n`
    /// exact in `f64` (a value exact at some scale is exact at every larger one, but for the
    /// rounding of `v * 10^scale` when `n` comes near 2^53), then reduced
    /// to the smallest scale by stripping `n`'s trailing zeros. One try for a value that is not
    /// decimal.
    fn of(v: f64) -> Option<Decimal> {
        let mut scale = MAX_SCALE;
        while scale > 0 && (v * POW10[usize::from(scale)]).abs() > MAX_EXACT as f64 {
            scale -= 1;
        }
        let mut n = Decimal::at_scale(v, scale)?;
        while scale > 0 && n % 10 == 0 {
            n /= 10;
            scale -= 1;
        }
        Some(Decimal { n, scale })
    }

    fn bits(self) -> u64 {
        match self.scale {
            0 => (self.n as f64).to_bits(),
            s => (self.n as f64 / POW10[usize::from(s)]).to_bits(),
        }
    }
}

/// `x` rounded to an integer (ties to even below 2^51), without a libm call where it matters.
fn round(x: f64) -> f64 {
    // Adding and subtracting 1.5 * 2^52 leaves no fraction bits: the FPU rounds.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    if x.abs() < (1u64 << 51) as f64 {
        (x + MAGIC) - MAGIC
    } else {
        x.round()
    }
}

/// Payload bits of the decimal delta buckets (prefixes `0`, `10`, `110`, `1110`, `11110`; then
/// `11111` + 64 bits).
const DELTA_BITS: [u32; 5] = [5, 8, 12, 20, 32];

fn read_delta(r: &mut BitReader<'_>) -> Result<i64, CodecError> {
    let mut i = 0;
    while i < DELTA_BITS.len() && r.read_bit()? {
        i += 1;
    }
    let z = r.read_bits(DELTA_BITS.get(i).copied().unwrap_or(64))?;
    Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
}

/// One column's state, identical on the encoding and the decoding side.
#[derive(Debug, Clone, Copy)]
struct Column {
    xor: XorState,
    /// The decimal state of the previous value, when `dec_known`; else derived from it when
    /// first needed (so a decoder of values that are not decimal never derives it).
    dec: Option<Decimal>,
    dec_known: bool,
    /// Values in a row that took the XOR path; from [`XOR_GIVE_UP`] on, the block's values are
    /// not tried as decimals any more (latencies with full precision never are).
    xor_run: u8,
}

/// See [`Column::xor_run`].
const XOR_GIVE_UP: u8 = 4;

impl Column {
    const fn new() -> Self {
        Column {
            xor: XorState::new(),
            dec: None,
            dec_known: false,
            xor_run: 0,
        }
    }

    fn first(&mut self, v: u64) {
        self.xor.prev = v;
    }

    fn dec(&mut self) -> Option<Decimal> {
        if self.xor_run >= XOR_GIVE_UP {
            return None;
        }
        if !self.dec_known {
            self.dec = Decimal::of(f64::from_bits(self.xor.prev));
            self.dec_known = true;
        }
        self.dec
    }

    fn decode(&mut self, r: &mut BitReader<'_>) -> Result<u64, CodecError> {
        if !r.read_bit()? {
            return Ok(self.xor.prev);
        }
        if r.read_bit()? {
            self.dec_known = false;
            self.xor_run = self.xor_run.saturating_add(1);
            return self.xor.decode_changed(r);
        }
        let d = self.dec().ok_or(CodecError(
            "decimal delta after a value that is not decimal",
        ))?;
        let n = d.n.wrapping_add(read_delta(r)?);
        if !(-MAX_EXACT..=MAX_EXACT).contains(&n) {
            return Err(CodecError("decimal value out of range"));
        }
        let d = Decimal { n, ..d };
        self.dec = Some(d);
        self.xor_run = 0;
        self.xor.prev = d.bits();
        Ok(self.xor.prev)
    }
}

/// Leading-zero classes of a version 3 XOR window (3 bits; as in the Chimp paper): a new
/// window starts at the largest class not above the XOR's leading zeros, so later values with
/// a few leading zeros fewer still fit it.
const LEAD_CLASSES: [u32; 8] = [0, 8, 12, 16, 18, 20, 22, 24];
/// A new version 3 window keeps the XOR's trailing zeros only above this; below, it costs
/// fewer bits to send them than to open windows for values whose trailing zeros vary.
const TRAIL_KEEP: u32 = 6;

/// Version 3 XOR state.
#[derive(Debug, Clone, Copy)]
struct Xor3 {
    prev: u64,
    lead: u32,
    trail: u32,
    set: bool,
}

impl Xor3 {
    const fn new() -> Self {
        Xor3 {
            prev: 0,
            lead: 0,
            trail: 0,
            set: false,
        }
    }

    /// `0` + the bits of the XOR in the current window, or `1` + 3 bits leading-zero class +
    /// 6 bits length (0 = 64) + the bits of the XOR in the new window.
    fn encode(&mut self, w: &mut BitWriter, v: u64) {
        let x = v ^ self.prev;
        self.prev = v;
        let (lead, trail) = (x.leading_zeros(), x.trailing_zeros());
        if self.set && lead >= self.lead && trail >= self.trail {
            w.write_bit(false);
            w.write_bits(x >> self.trail, 64 - self.lead - self.trail);
            return;
        }
        let class = LEAD_CLASSES.iter().rposition(|&c| c <= lead).unwrap_or(0);
        let tw = if trail > TRAIL_KEEP && trail < 64 {
            trail
        } else {
            0
        };
        let sig = 64 - LEAD_CLASSES[class] - tw;
        w.write_bit(true);
        w.write_bits(class as u64, 3);
        w.write_bits(u64::from(sig % 64), 6);
        w.write_bits(x >> tw, sig);
        self.lead = LEAD_CLASSES[class];
        self.trail = tw;
        self.set = true;
    }

    fn decode(&mut self, r: &mut BitReader<'_>) -> Result<u64, CodecError> {
        if r.read_bit()? {
            let class = LEAD_CLASSES[r.read_bits(3)? as usize];
            let sig = match r.read_bits(6)? as u32 {
                0 => 64,
                s => s,
            };
            if class + sig > 64 {
                return Err(CodecError("xor window exceeds 64 bits"));
            }
            // Trailing zeros: what is left of the 64 bits after the class and the length.
            self.trail = 64 - class - sig;
            self.lead = class;
            self.set = true;
        } else if !self.set {
            return Err(CodecError("xor window reused before it was set"));
        }
        let x = r.read_bits(64 - self.lead - self.trail)? << self.trail;
        self.prev ^= x;
        Ok(self.prev)
    }
}

/// Bits needed for `z` (0 for 0).
fn bit_len(z: u64) -> u32 {
    64 - z.leading_zeros()
}

/// One column of a version 3 block, identical on the encoding and the decoding side.
#[derive(Debug, Clone, Copy)]
struct Column3 {
    xor: Xor3,
    dec: Option<Decimal>,
    dec_known: bool,
    xor_run: u8,
    /// The previous decimal delta (0 after a value that took the XOR path).
    prev_d: i64,
    /// Bit lengths of the last four zigzagged delta-of-deltas; the width is their maximum.
    widths: [u8; 4],
    at: u8,
}

impl Column3 {
    const fn new() -> Self {
        Column3 {
            xor: Xor3::new(),
            dec: None,
            dec_known: false,
            xor_run: 0,
            prev_d: 0,
            widths: [0; 4],
            at: 0,
        }
    }

    fn dec(&mut self) -> Option<Decimal> {
        if self.xor_run >= XOR_GIVE_UP {
            return None;
        }
        if !self.dec_known {
            self.dec = Decimal::of(f64::from_bits(self.xor.prev));
            self.dec_known = true;
        }
        self.dec
    }

    fn width(&self) -> u32 {
        u32::from(*self.widths.iter().max().unwrap_or(&0))
    }

    fn push_width(&mut self, bits: u32) {
        self.widths[usize::from(self.at)] = bits as u8;
        self.at = (self.at + 1) % 4;
    }

    /// Writes a value that differs from the previous one. While the column tries decimals:
    /// `0` + the decimal delta-of-delta, or `1` + the XOR; after [`XOR_GIVE_UP`] XOR values
    /// in a row, the XOR alone.
    fn encode_changed(&mut self, w: &mut BitWriter, v: u64) {
        if self.xor_run < XOR_GIVE_UP {
            let dec = self
                .dec()
                .and_then(|d| Decimal::at_scale(f64::from_bits(v), d.scale).map(|n| (d, n)));
            if let Some((d, n)) = dec {
                w.write_bit(false);
                let delta = n - d.n;
                let dd = delta.wrapping_sub(self.prev_d);
                let z = ((dd << 1) ^ (dd >> 63)) as u64;
                let (k, bits) = (self.width(), bit_len(z));
                if bits <= k {
                    w.write_bit(false);
                    w.write_bits(z, k);
                } else {
                    w.write_bit(true);
                    w.write_bits(u64::from(bits - 1), 6);
                    w.write_bits(z, bits);
                }
                self.push_width(bits);
                self.prev_d = delta;
                self.dec = Some(Decimal { n, ..d });
                self.xor.prev = v;
                self.xor_run = 0;
                return;
            }
            w.write_bit(true);
        }
        self.xor.encode(w, v);
        self.dec_known = false;
        self.prev_d = 0;
        self.xor_run = self.xor_run.saturating_add(1);
    }

    fn decode_changed(&mut self, r: &mut BitReader<'_>) -> Result<u64, CodecError> {
        let trying = self.xor_run < XOR_GIVE_UP;
        if trying && !r.read_bit()? {
            let d = self.dec().ok_or(CodecError(
                "decimal delta after a value that is not decimal",
            ))?;
            let z = if r.read_bit()? {
                let bits = r.read_bits(6)? as u32 + 1;
                r.read_bits(bits)?
            } else {
                r.read_bits(self.width())?
            };
            self.push_width(bit_len(z));
            let dd = ((z >> 1) as i64) ^ -((z & 1) as i64);
            let delta = self.prev_d.wrapping_add(dd);
            let n = d.n.wrapping_add(delta);
            if !(-MAX_EXACT..=MAX_EXACT).contains(&n) {
                return Err(CodecError("decimal value out of range"));
            }
            self.prev_d = delta;
            let d = Decimal { n, ..d };
            self.dec = Some(d);
            self.xor_run = 0;
            self.xor.prev = d.bits();
            return Ok(self.xor.prev);
        }
        self.dec_known = false;
        self.prev_d = 0;
        self.xor_run = self.xor_run.saturating_add(1);
        self.xor.decode(r)
    }
}

/// Writes `n >= 1` as an Elias gamma code.
fn write_gamma(w: &mut BitWriter, n: u32) {
    let bits = bit_len(u64::from(n));
    w.write_bits(0, bits - 1);
    w.write_bits(u64::from(n), bits);
}

fn read_gamma(r: &mut BitReader<'_>) -> Result<u32, CodecError> {
    let mut zeros = 0;
    while !r.read_bit()? {
        zeros += 1;
        if zeros > 31 {
            return Err(CodecError("run length too long"));
        }
    }
    Ok((1 << zeros) | r.read_bits(zeros)? as u32)
}

/// The header bit of version 2 and 3 blocks.
const V2: u16 = 0x8000;
/// The header bits of version 3 blocks (a version 2 block never held 16,384 rows).
const V3: u16 = 0xC000;
/// The most rows a block holds.
pub(crate) const MAX_ROWS: u16 = !V3;
/// Version 3 flag: every timestamp delta equals the first one.
const REGULAR: u8 = 1;

/// Delta-of-delta buckets: (prefix, prefix length, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

fn fits_signed(v: i64, bits: u32) -> bool {
    let lim = 1i64 << (bits - 1);
    (-lim..lim).contains(&v)
}

/// An append-only encoder of one block (version 3).
#[derive(Debug, Clone)]
pub(crate) struct BlockEncoder<const N: usize> {
    /// Timestamp delta-of-deltas from the second row on.
    ts: BitWriter,
    /// The first row's columns, then per changed row its columns.
    vals: BitWriter,
    count: u16,
    first_t: i64,
    last_t: i64,
    prev_delta: i64,
    regular: bool,
    /// Rows equal to the previous row not yet written (written as one run).
    run: u32,
    prev: [u64; N],
    cols: [Column3; N],
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
            ts: BitWriter {
                bytes: Vec::new(),
                used: 0,
            },
            vals: BitWriter {
                bytes: Vec::new(),
                used: 0,
            },
            count: 0,
            first_t: 0,
            last_t: 0,
            prev_delta: 0,
            regular: true,
            run: 0,
            prev: [0; N],
            cols: [Column3::new(); N],
        }
    }

    pub(crate) fn count(&self) -> usize {
        usize::from(self.count)
    }

    pub(crate) fn first_t(&self) -> i64 {
        self.first_t
    }

    pub(crate) fn last_t(&self) -> i64 {
        self.last_t
    }

    #[cfg(test)]
    pub(crate) fn byte_len(&self) -> usize {
        self.to_bytes().len()
    }

    pub(crate) fn append(&mut self, t: i64, vals: [u64; N]) {
        debug_assert!(self.count < MAX_ROWS);
        if self.count == 0 {
            for (c, v) in self.cols.iter_mut().zip(vals) {
                self.vals.write_bits(v, 64);
                c.xor.prev = v;
            }
            self.first_t = t;
        } else {
            let delta = t.wrapping_sub(self.last_t);
            let dod = delta.wrapping_sub(self.prev_delta);
            if self.count >= 2 && dod != 0 {
                self.regular = false;
            }
            self.prev_delta = delta;
            if dod == 0 {
                self.ts.write_bit(false);
            } else if let Some(&(prefix, plen, bits)) =
                DOD_BUCKETS.iter().find(|(_, _, b)| fits_signed(dod, *b))
            {
                self.ts.write_bits(prefix, plen);
                self.ts.write_bits(dod as u64, bits);
            } else {
                self.ts.write_bits(0b1111, 4);
                self.ts.write_bits(dod as u64, 64);
            }
            if vals == self.prev {
                self.run += 1;
            } else {
                flush_run(&mut self.vals, &mut self.run);
                self.vals.write_bit(true);
                for ((c, v), p) in self.cols.iter_mut().zip(vals).zip(self.prev) {
                    if N > 1 {
                        if v == p {
                            self.vals.write_bit(false);
                            continue;
                        }
                        self.vals.write_bit(true);
                    }
                    c.encode_changed(&mut self.vals, v);
                }
            }
        }
        self.prev = vals;
        self.last_t = t;
        self.count += 1;
    }

    /// The encoded block: the header (`u16 BE`: version bits and row count), a flags byte,
    /// then for a non-empty block the first timestamp (`i64 BE`), for two rows or more the
    /// timestamp delta (zigzag varint) when regular or else the length (varint) and bytes of
    /// the timestamp stream, and the value stream.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.ts.bytes.len() + self.vals.bytes.len());
        out.extend_from_slice(&(self.count | V3).to_be_bytes());
        out.push(if self.regular { REGULAR } else { 0 });
        if self.count == 0 {
            return out;
        }
        out.extend_from_slice(&self.first_t.to_be_bytes());
        if self.count >= 2 {
            if self.regular {
                let d = self.prev_delta;
                crate::keys::put_varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
            } else {
                crate::keys::put_varint(&mut out, self.ts.bytes.len() as u64);
                out.extend_from_slice(&self.ts.bytes);
            }
        }
        if self.run > 0 {
            let mut vals = self.vals.clone();
            flush_run(&mut vals, &mut self.run.clone());
            out.extend_from_slice(&vals.bytes);
        } else {
            out.extend_from_slice(&self.vals.bytes);
        }
        out
    }

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

/// Writes a pending run of repeated rows: `0` + its length (Elias gamma).
fn flush_run(w: &mut BitWriter, run: &mut u32) {
    if *run > 0 {
        w.write_bit(false);
        write_gamma(w, *run);
        *run = 0;
    }
}

/// The row count in a block's header (0 when the header is missing).
pub(crate) fn block_rows(bytes: &[u8]) -> usize {
    let Some(h) = bytes.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return 0;
    };
    usize::from(if h & V3 == V3 { h & !V3 } else { h & !V2 })
}

pub(crate) fn block_first_t(bytes: &[u8]) -> Result<i64, CodecError> {
    let at = if bytes.len() >= 2 && u16::from_be_bytes([bytes[0], bytes[1]]) & V3 == V3 {
        3
    } else {
        2
    };
    let b: [u8; 8] = bytes
        .get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .ok_or(CodecError("block too short"))?;
    Ok(i64::from_be_bytes(b))
}

pub(crate) fn decode<const N: usize>(bytes: &[u8]) -> Result<BlockDecoder<'_, N>, CodecError> {
    if bytes.len() < 2 {
        return Err(CodecError("block header missing"));
    }
    let header = u16::from_be_bytes([bytes[0], bytes[1]]);
    let mut d = BlockDecoder {
        r: BitReader {
            bytes: &bytes[2..],
            pos: 0,
        },
        ts: None,
        left: header & !V2,
        version: if header & V2 == 0 { 1 } else { 2 },
        started: false,
        last_t: 0,
        prev_delta: 0,
        run: 0,
        prev: [0; N],
        cols: [Column::new(); N],
        cols3: [Column3::new(); N],
        failed: false,
    };
    if header & V3 == V3 {
        d.version = 3;
        d.left = header & !V3;
        let short = CodecError("block too short");
        let flags = *bytes.get(2).ok_or(short.clone())?;
        let mut pos = 3;
        if d.left > 0 {
            d.last_t = block_first_t(bytes)?;
            pos += 8;
        }
        if d.left >= 2 {
            let n = crate::keys::get_varint(bytes, &mut pos).ok_or(short.clone())?;
            if flags & REGULAR != 0 {
                d.prev_delta = ((n >> 1) as i64) ^ -((n & 1) as i64);
            } else {
                let n = usize::try_from(n).map_err(|_| short.clone())?;
                let end = pos.checked_add(n).ok_or(short.clone())?;
                d.ts = Some(BitReader {
                    bytes: bytes.get(pos..end).ok_or(short)?,
                    pos: 0,
                });
                pos = end;
            }
        }
        d.r = BitReader {
            bytes: &bytes[pos.min(bytes.len())..],
            pos: 0,
        };
    }
    Ok(d)
}

pub(crate) struct BlockDecoder<'a, const N: usize> {
    /// The bit stream (versions 1 and 2) or the value stream (version 3).
    r: BitReader<'a>,
    /// Version 3: the timestamp stream, `None` when the block is regular.
    ts: Option<BitReader<'a>>,
    left: u16,
    version: u8,
    started: bool,
    last_t: i64,
    prev_delta: i64,
    run: u32,
    prev: [u64; N],
    cols: [Column; N],
    cols3: [Column3; N],
    failed: bool,
}

fn read_dod(r: &mut BitReader<'_>) -> Result<i64, CodecError> {
    let mut plen = 0;
    while plen < 4 && r.read_bit()? {
        plen += 1;
    }
    Ok(match plen {
        0 => 0,
        4 => r.read_bits(64)? as i64,
        n => {
            let bits = DOD_BUCKETS[n - 1].2;
            let raw = r.read_bits(bits)?;
            ((raw << (64 - bits)) as i64) >> (64 - bits)
        }
    })
}

impl<const N: usize> BlockDecoder<'_, N> {
    fn next_row(&mut self) -> Result<(i64, [u64; N]), CodecError> {
        if self.version == 3 {
            return self.next_row_v3();
        }
        let mut vals = [0u64; N];
        if !self.started {
            self.started = true;
            self.last_t = self.r.read_bits(64)? as i64;
            for (c, v) in self.cols.iter_mut().zip(vals.iter_mut()) {
                *v = self.r.read_bits(64)?;
                c.first(*v);
            }
            return Ok((self.last_t, vals));
        }
        let dod = read_dod(&mut self.r)?;
        self.prev_delta = self.prev_delta.wrapping_add(dod);
        self.last_t = self.last_t.wrapping_add(self.prev_delta);
        for (c, v) in self.cols.iter_mut().zip(vals.iter_mut()) {
            *v = if self.version == 2 {
                c.decode(&mut self.r)?
            } else {
                c.xor.decode_v1(&mut self.r)?
            };
        }
        Ok((self.last_t, vals))
    }

    fn next_row_v3(&mut self) -> Result<(i64, [u64; N]), CodecError> {
        if !self.started {
            self.started = true;
            for (c, v) in self.cols3.iter_mut().zip(self.prev.iter_mut()) {
                *v = self.r.read_bits(64)?;
                c.xor.prev = *v;
            }
            return Ok((self.last_t, self.prev));
        }
        if let Some(ts) = &mut self.ts {
            let dod = read_dod(ts)?;
            self.prev_delta = self.prev_delta.wrapping_add(dod);
        }
        self.last_t = self.last_t.wrapping_add(self.prev_delta);
        if self.run == 0 {
            if self.r.read_bit()? {
                for (c, v) in self.cols3.iter_mut().zip(self.prev.iter_mut()) {
                    if N > 1 && !self.r.read_bit()? {
                        continue;
                    }
                    *v = c.decode_changed(&mut self.r)?;
                }
                return Ok((self.last_t, self.prev));
            }
            self.run = read_gamma(&mut self.r)?;
        }
        self.run -= 1;
        Ok((self.last_t, self.prev))
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
            decimal_value(),
        ]
    }

    /// Values as exporters print them: a few decimal places.
    fn decimal_value() -> impl Strategy<Value = u64> {
        (-100_000_000i64..100_000_000, 0i32..=10)
            .prop_map(|(n, s)| (n as f64 / 10f64.powi(s)).to_bits())
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
        fn decimal_walks_roundtrip_bit_exact(
            start in decimal_value(),
            steps in proptest::collection::vec((-3000i64..3000, 0i32..=4, any::<bool>()), 1..200),
        ) {
            // Random walks that change their number of decimals, with the odd special value.
            let mut v = f64::from_bits(start);
            let mut rows = vec![(0i64, [start])];
            for (i, (step, s, special)) in steps.into_iter().enumerate() {
                v = ((v * 10f64.powi(s)).round() + step as f64) / 10f64.powi(s);
                let bits = if special { STALE_NAN_BITS } else { v.to_bits() };
                rows.push((i as i64 + 1, [bits]));
            }
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

    /// Blocks written by the version 1 encoder (before the decimal mode) still decode.
    #[test]
    fn version_1_blocks_decode() {
        let g1: &[u8] = &[
            0, 6, 0, 0, 1, 139, 207, 229, 104, 0, 63, 224, 0, 0, 0, 0, 0, 0, 195, 169, 245, 255,
            150, 20, 63, 228, 96, 3, 177, 123, 254, 196, 0, 0, 0, 0, 0, 27, 255, 44, 31, 223, 11,
            45, 5, 224, 0, 0, 1, 128, 14, 192, 7, 241, 152, 122, 244, 170, 170, 170, 168,
        ];
        let g4: &[u8] = &[
            0, 6, 0, 0, 1, 139, 207, 229, 104, 0, 0, 0, 0, 0, 0, 0, 0, 0, 63, 224, 0, 0, 0, 0, 0,
            0, 63, 240, 0, 0, 0, 0, 0, 0, 63, 227, 51, 51, 51, 51, 51, 51, 195, 169, 252, 69, 127,
            226, 255, 203, 9, 127, 255, 10, 31, 242, 56, 80, 255, 145, 194, 135, 252, 188, 0, 118,
            192, 120, 189, 255, 98, 0, 0, 0, 0, 0, 14, 47, 127, 192, 128, 0, 0, 0, 0, 3, 139, 239,
            244, 44, 204, 204, 204, 204, 204, 111, 252, 181, 133, 224, 254, 248, 89, 104, 47, 0, 0,
            0, 14, 15, 239, 131, 150, 130, 240, 0, 0, 0, 224, 2, 248, 121, 104, 46, 255, 243, 51,
            62, 0, 59, 104, 60, 0, 127, 25, 135, 175, 74, 170, 170, 170, 224, 3, 248, 76, 61, 122,
            85, 85, 85, 86, 254, 61, 225, 176, 4, 71, 119, 113,
        ];
        let vals = [
            0.5f64,
            0.5,
            12.25,
            f64::from_bits(STALE_NAN_BITS),
            -3.0e9,
            1.0 / 3.0,
        ];
        let times = (0..6i64).map(|i| 1_700_000_000_000 + i * 15_000 + (i % 2) * 7);
        let want1: Vec<(i64, [u64; 1])> = times
            .clone()
            .zip(vals)
            .map(|(t, v)| (t, [v.to_bits()]))
            .collect();
        let want4: Vec<(i64, [u64; 4])> = times
            .zip(vals)
            .enumerate()
            .map(|(i, (t, v))| {
                let c = [i as f64, v, v * 2.0, v + 0.1];
                (t, c.map(f64::to_bits))
            })
            .collect();
        let got1: Vec<_> = decode::<1>(g1).unwrap().collect::<Result<_, _>>().unwrap();
        let got4: Vec<_> = decode::<4>(g4).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(got1, want1);
        assert_eq!(got4, want4);
        // Rewritten, they are version 3 blocks with the same rows.
        let again = BlockEncoder::<1>::from_bytes(g1).unwrap().to_bytes();
        assert_eq!(again[0] & 0xC0, 0xC0);
        let back: Vec<_> = decode::<1>(&again)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, want1);
    }

    /// Blocks written by the version 2 encoder (decimal mode, interleaved stream) still
    /// decode: the bytes below are what it wrote for these rows.
    #[test]
    fn version_2_blocks_decode() {
        let g1: &[u8] = &[
            128, 9, 0, 0, 1, 139, 207, 229, 104, 0, 63, 224, 0, 0, 0, 0, 0, 0, 195, 169, 245, 255,
            151, 10, 31, 242, 48, 1, 220, 94, 255, 177, 0, 0, 0, 0, 0, 6, 255, 203, 131, 251, 225,
            101, 160, 188, 0, 0, 0, 48, 1, 220, 0, 127, 25, 135, 175, 74, 170, 170, 170, 223, 249,
            103, 252, 149, 85, 85, 85, 85, 85, 88, 0, 236, 0, 2, 0, 0, 0, 0, 0, 1, 127, 229, 159,
            243, 140, 204, 204, 204, 204, 205, 0,
        ];
        let g4: &[u8] = &[
            128, 9, 0, 0, 1, 139, 207, 229, 104, 0, 0, 0, 0, 0, 0, 0, 0, 0, 63, 224, 0, 0, 0, 0, 0,
            0, 63, 240, 0, 0, 0, 0, 0, 0, 63, 227, 51, 51, 51, 51, 51, 51, 195, 169, 248, 33, 127,
            229, 5, 194, 135, 252, 143, 10, 31, 242, 60, 40, 127, 203, 192, 7, 65, 113, 123, 254,
            196, 0, 0, 0, 0, 0, 30, 47, 127, 192, 128, 0, 0, 0, 0, 3, 197, 247, 250, 22, 102, 102,
            102, 102, 102, 55, 254, 80, 92, 31, 223, 11, 45, 5, 224, 0, 0, 1, 224, 254, 248, 57,
            104, 47, 0, 0, 0, 15, 0, 23, 195, 203, 65, 119, 255, 153, 153, 240, 1, 208, 92, 0, 127,
            25, 135, 175, 74, 170, 170, 170, 240, 1, 252, 38, 30, 189, 42, 170, 170, 171, 191, 143,
            120, 108, 1, 17, 221, 220, 111, 252, 160, 179, 254, 74, 170, 170, 170, 170, 170, 174,
            127, 201, 85, 85, 85, 85, 85, 85, 207, 248, 251, 187, 187, 187, 187, 187, 80, 1, 208,
            88, 0, 4, 0, 0, 0, 0, 0, 3, 0, 0, 128, 0, 0, 0, 0, 0, 96, 0, 16, 0, 0, 0, 0, 0, 11,
            255, 40, 44, 255, 156, 102, 102, 102, 102, 102, 105, 159, 243, 140, 204, 204, 204, 204,
            205, 51, 254, 39, 255, 255, 255, 255, 255, 224,
        ];
        let vals = [
            0.5f64,
            0.5,
            12.25,
            f64::from_bits(STALE_NAN_BITS),
            -3.0e9,
            1.0 / 3.0,
            7.0,
            7.25,
            0.1 + 0.2,
        ];
        let times = (0..9i64).map(|i| 1_700_000_000_000 + i * 15_000 + (i % 2) * 7);
        let want1: Vec<(i64, [u64; 1])> = times
            .clone()
            .zip(vals)
            .map(|(t, v)| (t, [v.to_bits()]))
            .collect();
        let want4: Vec<(i64, [u64; 4])> = times
            .zip(vals)
            .enumerate()
            .map(|(i, (t, v))| (t, [i as f64, v, v * 2.0, v + 0.1].map(f64::to_bits)))
            .collect();
        let got1: Vec<_> = decode::<1>(g1).unwrap().collect::<Result<_, _>>().unwrap();
        let got4: Vec<_> = decode::<4>(g4).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(got1, want1);
        assert_eq!(got4, want4);
        assert_eq!(block_first_t(g1).unwrap(), 1_700_000_000_000);
        roundtrip(&want1);
        roundtrip(&want4);
    }

    /// The store bench's value mix (see `examples/bench.rs`) in one 2 h window of 480 rows at
    /// 15 s: version 3 stores a 0/1 gauge in a few bytes, an integer counter in about 12 bits
    /// per sample, a full-precision latency in about 54 bits (its mantissa is noise: 51 bits
    /// of it are random).
    #[test]
    fn bench_mix_sizes() {
        let mut seed = 0x5eedu64;
        let mut unit = move || {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut up, mut counter, mut latency) = (
            BlockEncoder::<1>::new(),
            BlockEncoder::<1>::new(),
            BlockEncoder::<1>::new(),
        );
        let mut c = 0.0;
        let mut rows = (Vec::new(), Vec::new());
        for i in 0..480 {
            let t = 1_700_000_000_000 + i * 15_000;
            up.append(t, [1.0f64.to_bits()]);
            c += (500.0 * (0.5 + unit())).round();
            counter.append(t, [f64::to_bits(c)]);
            let l = 0.25 * (0.8 + 0.4 * unit());
            latency.append(t, [l.to_bits()]);
            rows.0.push((t, [f64::to_bits(c)]));
            rows.1.push((t, [l.to_bits()]));
        }
        roundtrip(&rows.0);
        roundtrip(&rows.1);
        let (u, c, l) = (up.byte_len(), counter.byte_len(), latency.byte_len());
        println!("up {u} counter {c} latency {l} bytes for 480 rows");
        assert!(u < 32, "up: {u} bytes");
        assert!(c * 8 < 480 * 14, "counter: {c} bytes");
        assert!(l * 8 < 480 * 60, "latency: {l} bytes");
    }

    /// A gauge printed with two decimals and an integer counter, as in the side-by-side
    /// benchmark: the decimal mode stores them in a fraction of Gorilla's size.
    #[test]
    fn decimal_values_compress_well() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let (mut gauge, mut counter) = (5000i64, 0u64);
        let (mut g, mut c) = (BlockEncoder::<1>::new(), BlockEncoder::<1>::new());
        for i in 0..120 {
            let t = 1_700_000_000_000 + i * 1000;
            gauge += rand(201) as i64 - 100;
            counter += rand(21);
            g.append(t, [(gauge as f64 / 100.0).to_bits()]);
            c.append(t, [(counter as f64).to_bits()]);
        }
        // Gorilla needs about 6.5 and 1.5 bytes per sample for these; measured 1.6 and 1.2.
        assert!(
            g.byte_len() < 16 + 119 * 7 / 4,
            "gauge: {} bytes",
            g.byte_len()
        );
        assert!(
            c.byte_len() < 16 + 119 * 5 / 4,
            "counter: {} bytes",
            c.byte_len()
        );
    }

    #[test]
    fn corrupt_decimal_delta_is_an_error() {
        // First value NaN (not decimal), then a `10` (decimal delta) control.
        let mut w = BitWriter::default();
        w.write_bits(0, 64);
        w.write_bits(f64::NAN.to_bits(), 64);
        w.write_bits(0b0_10, 3);
        w.write_bits(0, 6);
        let mut bytes = (2u16 | V2).to_be_bytes().to_vec();
        bytes.extend_from_slice(&w.bytes);
        let rows: Vec<_> = decode::<1>(&bytes).unwrap().collect();
        assert!(rows[1].is_err(), "{rows:?}");
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
