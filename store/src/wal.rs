//! The write-ahead log of samples: every append batch is one record, written (one `write(2)`
//! into the page cache) before [`crate::Store::append`] returns, so a killed process loses
//! nothing; fsynced every `wal_fsync_interval`, so a power loss loses at most that much.
//!
//! Layout: the directory `wal/` in the store directory holds segment files named by a
//! zero-padded sequence number (`00000001`, ...). A segment starts with the magic
//! `alertd-wal/1\n`, then records: `len` (u32 LE, the body's length), `crc` (CRC-32 of the body,
//! u32 LE), and the body: the series created by this batch (`count`, then `id` and the encoded
//! labels, each length-prefixed), then the samples (`count`, then per sample `id` (varint), the
//! zigzag varint difference of its time to the previous sample's in the record, and the value's
//! 64 bits LE). A segment is closed at [`SEGMENT_BYTES`] and at every checkpoint; once the
//! checkpoint's heads file is in place, the segments before it are deleted (the heads file
//! holds everything they held).
//!
//! Replay reads every segment in order and stops a segment at the first record that is short
//! or fails its checksum (a torn write when the process died, or a damaged disk), logging how
//! many bytes it dropped, and goes on with the next segment (after a restart, appends go to a
//! new one).

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::{Labels, Sample};

use crate::keys::{self, get_varint, put_varint};
use crate::StoreError;

/// The log's directory in the store directory.
pub(crate) const DIR: &str = "wal";
const MAGIC: &[u8] = b"alertd-wal/1\n";
/// A segment is closed once it holds this much.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;
/// Buffers above this size grown by a batch that created series are not kept for the next one.
const KEEP_BUFFER: usize = 64 << 10;
/// Records larger than this are refused on replay as corrupt (an append batch of a million
/// samples takes about 11 MB).
const MAX_RECORD: usize = 256 << 20;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn segment_name(seq: u64) -> String {
    format!("{seq:08}")
}

/// The segments in `dir` with their sequence numbers, ascending.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for e in rd {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() >= 8 && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(seq) = name.parse::<u64>() {
                out.push((seq, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Encodes one append batch as a record body. Reused between batches.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    series: Vec<u8>,
    n_series: u64,
    samples: Vec<u8>,
    n_samples: u64,
    prev_t: i64,
}

impl Batch {
    /// Starts a new batch. A batch that created many series (the first after a start: their
    /// labels) leaves a large buffer behind; it is given back rather than kept for good.
    pub(crate) fn clear(&mut self) {
        if self.series.capacity() > KEEP_BUFFER {
            self.series = Vec::new();
        }
        self.series.clear();
        self.samples.clear();
        self.n_series = 0;
        self.n_samples = 0;
        self.prev_t = 0;
    }

    /// A series created by this batch (before its first sample).
    pub(crate) fn series(&mut self, id: u64, labels: &Labels) {
        put_varint(&mut self.series, id);
        keys::put_block(&mut self.series, &keys::encode_labels(labels));
        self.n_series += 1;
    }

    /// An accepted sample.
    pub(crate) fn sample(&mut self, id: u64, s: Sample) {
        put_varint(&mut self.samples, id);
        let d = s.t.wrapping_sub(self.prev_t);
        put_varint(&mut self.samples, ((d << 1) ^ (d >> 63)) as u64);
        self.prev_t = s.t;
        self.samples.extend_from_slice(&s.v.to_bits().to_le_bytes());
        self.n_samples += 1;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.n_series == 0 && self.n_samples == 0
    }
}

/// Appends records to the newest segment.
#[derive(Debug)]
pub(crate) struct Writer {
    dir: PathBuf,
    seq: u64,
    /// The open segment; `None` until the first record after a cut or a failed write.
    file: Option<Arc<File>>,
    size: u64,
    /// Segments written since they were last synced (closed ones and the open one).
    unsynced: Vec<Arc<File>>,
    /// The record being written (reused).
    buf: Vec<u8>,
}

impl Writer {
    /// A writer whose first record goes to a new segment after every existing one.
    pub(crate) fn open(store_dir: &Path) -> Result<Writer, StoreError> {
        let dir = store_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let seq = segments(&dir)?.last().map_or(1, |s| s.0 + 1);
        Ok(Writer {
            dir,
            seq,
            file: None,
            size: 0,
            unsynced: Vec::new(),
            buf: Vec::new(),
        })
    }

    /// Closes the open segment: later records go to a new one. Returns the new segment's
    /// number: every segment before it holds only records written before the cut.
    pub(crate) fn cut(&mut self) -> u64 {
        if self.file.take().is_some() {
            self.seq += 1;
        }
        self.seq
    }

    /// The number of the segment the next record goes to (when none is open, the next
    /// segment created).
    pub(crate) fn next_segment(&self) -> u64 {
        self.seq
    }

    fn open_segment(&mut self) -> Result<Arc<File>, StoreError> {
        if let Some(f) = &self.file {
            if self.size < SEGMENT_BYTES {
                return Ok(f.clone());
            }
            self.file = None;
            self.seq += 1;
        }
        let path = self.dir.join(segment_name(self.seq));
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        if let Err(e) = f.write_all(MAGIC) {
            drop(f);
            let _ = std::fs::remove_file(&path);
            return Err(io_err(&path)(e));
        }
        let f = Arc::new(f);
        self.size = MAGIC.len() as u64;
        self.file = Some(f.clone());
        Ok(f)
    }

    /// Writes `batch` as one record (into the page cache; see [`Writer::take_unsynced`]), and
    /// syncs it too when `sync`. On failure the segment is cut back to its last whole record
    /// (or abandoned when that fails too) and the error returned; the log stays readable.
    pub(crate) fn write(&mut self, batch: &Batch, sync: bool) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(&[0; 8]);
        put_varint(&mut buf, batch.n_series);
        buf.extend_from_slice(&batch.series);
        put_varint(&mut buf, batch.n_samples);
        buf.extend_from_slice(&batch.samples);
        let len = (buf.len() - 8) as u32;
        let crc = crc32fast::hash(&buf[8..]);
        buf[..4].copy_from_slice(&len.to_le_bytes());
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        let r = self.write_record(&buf, sync);
        if batch.series.len() <= KEEP_BUFFER {
            self.buf = buf;
        }
        r
    }

    fn write_record(&mut self, rec: &[u8], sync: bool) -> Result<(), StoreError> {
        let f = self.open_segment()?;
        let path = self.dir.join(segment_name(self.seq));
        let written = (&*f).write_all(rec).and_then(|()| match sync {
            true => f.sync_data(),
            false => Ok(()),
        });
        if let Err(e) = written {
            // Remove a partial record, so records written later stay reachable on replay.
            if f.set_len(self.size).is_err() {
                self.file = None;
                self.seq += 1;
            }
            return Err(io_err(&path)(e));
        }
        self.size += rec.len() as u64;
        if !sync && !self.unsynced.iter().any(|u| Arc::ptr_eq(u, &f)) {
            self.unsynced.push(f);
        }
        Ok(())
    }

    /// The segments written since the last call, for the sync thread to `fsync` outside the
    /// lock.
    pub(crate) fn take_unsynced(&mut self) -> Vec<Arc<File>> {
        std::mem::take(&mut self.unsynced)
    }

    /// Deletes the segments numbered below `seq` (their records are in a checkpoint).
    pub(crate) fn remove_before(&self, seq: u64) -> Result<(), StoreError> {
        for (s, path) in segments(&self.dir)? {
            if s >= seq {
                break;
            }
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Ok(())
    }
}

/// What [`replay`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// Records read.
    pub(crate) records: u64,
    /// Bytes cut from damaged or torn segment tails.
    pub(crate) dropped_bytes: u64,
}

/// One entry of a write-ahead log record.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A series created: its id and labels (before its first sample).
    Series(u64, Labels),
    /// A sample of the series with this id.
    Sample(u64, Sample),
}

/// Feeds every entry of every record of every segment in `store_dir/wal` to `on`, in the
/// order they were written. A segment's tail from the first short or damaged record on is
/// dropped and logged.
pub(crate) fn replay(store_dir: &Path, mut on: impl FnMut(Entry)) -> Result<Replayed, StoreError> {
    let dir = store_dir.join(DIR);
    let mut out = Replayed::default();
    let mut body = Vec::new();
    let from = replay_from(&dir);
    for (_, path) in segments(&dir)?.into_iter().filter(|(s, _)| *s >= from) {
        let file = File::open(&path).map_err(io_err(&path))?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        let mut r = BufReader::with_capacity(1 << 16, file);
        let mut pos = 0u64;
        let mut magic = [0u8; MAGIC.len()];
        let whole = match read_full(&mut r, &mut magic).map_err(io_err(&path))? {
            true if magic == MAGIC => {
                pos = MAGIC.len() as u64;
                loop {
                    match read_record(&mut r, &mut body).map_err(io_err(&path))? {
                        Some(()) => {}
                        None => break pos == len,
                    }
                    if !apply(&body, &mut on) {
                        break false;
                    }
                    pos += 8 + body.len() as u64;
                    out.records += 1;
                }
            }
            // A segment killed before its magic was complete holds nothing.
            _ => len < MAGIC.len() as u64 && MAGIC.starts_with(&magic[..len as usize]),
        };
        if !whole {
            let dropped = len - pos;
            out.dropped_bytes += dropped;
            tracing::warn!(
                segment = %path.display(),
                offset = pos,
                dropped_bytes = dropped,
                "store: write-ahead log segment cut at its last whole record (torn or damaged \
                 tail); the samples after it are lost"
            );
        }
    }
    Ok(out)
}

/// The file naming the first segment a restart replays (segments before it are kept only
/// for readers holding them: see [`crate::Store::wal_hold`]).
const REPLAY_FROM: &str = "replay_from";
/// The directory of the persisted holds (one file per hold, named by the hex of its name).
const HOLDS: &str = "holds";

/// The first segment replay reads (1 when no marker was written).
fn replay_from(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join(REPLAY_FROM))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Writes `path` through a temporary file and a rename (no fsync: a lost update only makes a
/// restart do more work; a killed process loses nothing the page cache holds).
fn write_small(path: &Path, text: &str) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Records that a restart needs to replay only from segment `seq` on (written after a
/// checkpoint whose heads file holds everything before it, when held segments remain).
pub(crate) fn set_replay_from(store_dir: &Path, seq: u64) -> Result<(), StoreError> {
    write_small(&store_dir.join(DIR).join(REPLAY_FROM), &seq.to_string())
}

fn hold_file(store_dir: &Path, name: &str) -> PathBuf {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    store_dir.join(DIR).join(HOLDS).join(hex)
}

/// Persists the position of the hold `name`.
pub(crate) fn save_hold(store_dir: &Path, name: &str, pos: Position) -> Result<(), StoreError> {
    let path = hold_file(store_dir, name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    write_small(&path, &format!("{} {}\n", pos.segment, pos.offset))
}

/// Deletes the persisted hold `name`.
pub(crate) fn remove_hold(store_dir: &Path, name: &str) -> Result<(), StoreError> {
    let path = hold_file(store_dir, name);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&path)(e)),
        _ => Ok(()),
    }
}

/// The persisted holds (unreadable ones are logged and left out).
pub(crate) fn load_holds(
    store_dir: &Path,
) -> Result<std::collections::BTreeMap<String, Position>, StoreError> {
    let dir = store_dir.join(DIR).join(HOLDS);
    let mut out = std::collections::BTreeMap::new();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(&dir)(e)),
    };
    for e in rd {
        let e = e.map_err(io_err(&dir))?;
        let file = e.file_name();
        let Some(hex) = file.to_str() else { continue };
        let name = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .filter(|_| hex.len() % 2 == 0)
            .and_then(|b| String::from_utf8(b).ok());
        let pos = std::fs::read_to_string(e.path()).ok().and_then(|t| {
            let mut it = t.split_whitespace().map(|x| x.parse::<u64>().ok());
            Some(Position {
                segment: it.next()??,
                offset: it.next()??,
            })
        });
        match (name, pos) {
            (Some(name), Some(pos)) => {
                out.insert(name, pos);
            }
            _ => {
                tracing::warn!(file = %e.path().display(), "store: unreadable write-ahead log hold ignored")
            }
        }
    }
    Ok(out)
}

/// The sizes of the segments numbered below `seq`, oldest first.
pub(crate) fn sizes_before(store_dir: &Path, seq: u64) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut out = Vec::new();
    for (s, path) in segments(&store_dir.join(DIR))? {
        if s >= seq {
            break;
        }
        let len = std::fs::metadata(&path).map_err(io_err(&path))?.len();
        out.push((s, len));
    }
    Ok(out)
}

/// A place in the write-ahead log: a segment and the byte offset of a record in it (0: the
/// segment's start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The segment's number.
    pub segment: u64,
    /// The byte offset in it.
    pub offset: u64,
}

/// What [`Reader::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// A record: its entries were appended to the output; the reader is now after it.
    Record,
    /// Nothing more written yet: ask again later.
    Idle,
}

/// Tails the write-ahead log from a position, record by record, as it is written (see
/// [`crate::Store::wal_reader`]). Segments deleted under it (a checkpoint without a hold, or a
/// hold over its size limit) are skipped and counted; a torn tail of a segment that is no
/// longer written is skipped and counted.
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    pos: Position,
    file: Option<File>,
    head: Vec<u8>,
    body: Vec<u8>,
    skipped_segments: u64,
    skipped_bytes: u64,
}

impl Reader {
    pub(crate) fn new(store_dir: &Path, pos: Position) -> Reader {
        Reader {
            dir: store_dir.join(DIR),
            pos,
            file: None,
            head: Vec::new(),
            body: Vec::new(),
            skipped_segments: 0,
            skipped_bytes: 0,
        }
    }

    /// Where the next record is read from.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// Segments that were gone when the reader reached them (their samples are lost to it).
    pub fn skipped_segments(&self) -> u64 {
        self.skipped_segments
    }

    /// Bytes of torn or damaged segment tails skipped.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_bytes
    }

    /// The first segment after the current one, if any exists.
    fn later_segment(&self) -> Result<Option<u64>, StoreError> {
        Ok(segments(&self.dir)?
            .into_iter()
            .map(|s| s.0)
            .find(|s| *s > self.pos.segment))
    }

    /// Reads the next record, appending its entries to `out`.
    pub fn next(&mut self, out: &mut Vec<Entry>) -> Result<ReadOutcome, StoreError> {
        use std::os::unix::fs::FileExt;
        loop {
            if self.file.is_none() {
                let path = self.dir.join(segment_name(self.pos.segment));
                match File::open(&path) {
                    Ok(f) => self.file = Some(f),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        match self.later_segment()? {
                            // Not written yet.
                            None => return Ok(ReadOutcome::Idle),
                            Some(next) => {
                                // Re-check: it may have been created between the two looks.
                                if path.exists() {
                                    continue;
                                }
                                self.skipped_segments += next - self.pos.segment;
                                self.pos = Position {
                                    segment: next,
                                    offset: 0,
                                };
                                continue;
                            }
                        }
                    }
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
            let path = self.dir.join(segment_name(self.pos.segment));
            let Some(f) = &self.file else { continue };
            let len = f.metadata().map_err(io_err(&path))?.len();
            // Whether the next record is whole is found out here; a whole one returns.
            if self.pos.offset == 0 {
                self.head.resize(MAGIC.len(), 0);
                if len >= MAGIC.len() as u64 {
                    f.read_exact_at(&mut self.head, 0).map_err(io_err(&path))?;
                    if self.head == MAGIC {
                        self.pos.offset = MAGIC.len() as u64;
                        continue;
                    }
                }
            } else if len >= self.pos.offset + 8 {
                self.head.resize(8, 0);
                f.read_exact_at(&mut self.head, self.pos.offset)
                    .map_err(io_err(&path))?;
                let h = &self.head;
                let n = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as u64;
                let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
                if n as usize <= MAX_RECORD && len >= self.pos.offset + 8 + n {
                    self.body.resize(n as usize, 0);
                    f.read_exact_at(&mut self.body, self.pos.offset + 8)
                        .map_err(io_err(&path))?;
                    if crc32fast::hash(&self.body) == crc {
                        let mark = out.len();
                        if apply(&self.body, &mut |e| out.push(e)) {
                            self.pos.offset += 8 + n;
                            return Ok(ReadOutcome::Record);
                        }
                        out.truncate(mark);
                    }
                }
            }
            // The record is not (all) there: still being written, or the segment is done and
            // this is its torn tail.
            match self.later_segment()? {
                None => return Ok(ReadOutcome::Idle),
                Some(next) => {
                    // The writer moved on before `next` existed, so what this segment holds
                    // now is all it will ever hold; look once more before giving up on it.
                    let len_now = f.metadata().map_err(io_err(&path))?.len();
                    if len_now != len {
                        continue;
                    }
                    if len > self.pos.offset && self.pos.offset > 0 {
                        self.skipped_bytes += len - self.pos.offset;
                        tracing::warn!(
                            segment = %path.display(),
                            offset = self.pos.offset,
                            "store: write-ahead log reader skips a torn or damaged segment tail"
                        );
                    }
                    self.file = None;
                    self.pos = Position {
                        segment: next,
                        offset: 0,
                    };
                }
            }
        }
    }
}

/// Fills `buf` completely; `false` at the end of the file (a short read included).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return Ok(false),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Reads the next record's body into `body`: `None` at the end, or when the record is short,
/// too large or fails its checksum.
fn read_record(r: &mut impl Read, body: &mut Vec<u8>) -> std::io::Result<Option<()>> {
    let mut head = [0u8; 8];
    if !read_full(r, &mut head)? {
        return Ok(None);
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_RECORD {
        return Ok(None);
    }
    body.resize(len, 0);
    if !read_full(r, body)? || crc32fast::hash(body) != crc {
        return Ok(None);
    }
    Ok(Some(()))
}

/// Decodes one record body; `false` when it is malformed (treated like a damaged record;
/// entries before the damage have been fed to `on`).
fn apply(b: &[u8], on: &mut impl FnMut(Entry)) -> bool {
    let mut pos = 0;
    let Some(n) = get_varint(b, &mut pos) else {
        return false;
    };
    for _ in 0..n {
        let Some((id, labels)) = get_varint(b, &mut pos).and_then(|id| {
            let l = keys::get_block(b, &mut pos)?;
            Some((id, keys::decode_labels(l)?))
        }) else {
            return false;
        };
        on(Entry::Series(id, labels));
    }
    let Some(n) = get_varint(b, &mut pos) else {
        return false;
    };
    let mut t = 0i64;
    for _ in 0..n {
        let (Some(id), Some(d)) = (get_varint(b, &mut pos), get_varint(b, &mut pos)) else {
            return false;
        };
        let Some(v) = b.get(pos..pos + 8) else {
            return false;
        };
        pos += 8;
        let d = ((d >> 1) as i64) ^ -((d & 1) as i64);
        t = t.wrapping_add(d);
        let v = f64::from_bits(u64::from_le_bytes(v.try_into().unwrap_or([0; 8])));
        on(Entry::Sample(id, Sample::new(t, v)));
    }
    pos == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(i: u64) -> Labels {
        Labels::from_pairs([("__name__", "x"), ("i", &i.to_string())])
    }

    /// Writes `n` records to segment 1; returns the writer and where each record ends.
    fn write_batches(dir: &Path, n: u64) -> (Writer, Vec<u64>) {
        let mut w = Writer::open(dir).unwrap();
        let mut b = Batch::default();
        let mut ends = Vec::new();
        for i in 0..n {
            b.clear();
            b.series(i, &labels(i));
            b.sample(i, Sample::new(i as i64 * 1000 - 5, i as f64 / 3.0));
            b.sample(0, Sample::new(-(i as i64), -1.5 * i as f64));
            w.write(&b, false).unwrap();
            ends.push(w.size);
        }
        (w, ends)
    }

    type Read = (Vec<(u64, Labels)>, Vec<(u64, Sample)>, Replayed);

    fn read_all(dir: &Path) -> Read {
        let (mut series, mut samples) = (Vec::new(), Vec::new());
        let r = replay(dir, |e| match e {
            Entry::Series(id, l) => series.push((id, l)),
            Entry::Sample(id, s) => samples.push((id, s)),
        })
        .unwrap();
        (series, samples, r)
    }

    #[test]
    fn records_round_trip_across_cuts_and_removal() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, _) = write_batches(tmp.path(), 3);
        let next = w.cut();
        let mut b = Batch::default();
        b.sample(
            7,
            Sample::new(i64::MIN, f64::from_bits(model::sample::STALE_NAN_BITS)),
        );
        b.sample(7, Sample::new(i64::MAX, -0.0));
        w.write(&b, true).unwrap();
        let (series, samples, r) = read_all(tmp.path());
        assert_eq!(
            r,
            Replayed {
                records: 4,
                dropped_bytes: 0
            }
        );
        assert_eq!(series.len(), 3);
        assert_eq!(series[2], (2, labels(2)));
        assert_eq!(samples.len(), 8);
        assert_eq!(samples[2].0, 1);
        assert_eq!(samples[2].1.t, 995);
        assert_eq!(samples[2].1.v, 1.0 / 3.0);
        assert_eq!(samples[3].1, Sample::new(-1, -1.5));
        assert_eq!(samples[6].1.t, i64::MIN);
        assert_eq!(samples[6].1.v.to_bits(), model::sample::STALE_NAN_BITS);
        assert_eq!(samples[7].1.t, i64::MAX);
        assert!(samples[7].1.v == 0.0 && samples[7].1.v.is_sign_negative());
        w.remove_before(next).unwrap();
        let (series, samples, _) = read_all(tmp.path());
        assert!(series.is_empty());
        assert_eq!(samples.len(), 2);
    }

    #[test]
    fn torn_tail_is_cut_at_the_last_whole_record_and_later_segments_read() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut w, ends) = write_batches(tmp.path(), 10);
        w.cut();
        let mut b = Batch::default();
        b.sample(3, Sample::new(1, 2.0));
        w.write(&b, false).unwrap();
        let seg = tmp.path().join(DIR).join(segment_name(1));
        let (_, all, _) = read_all(tmp.path());
        assert_eq!(all.len(), 21);
        let bytes = std::fs::read(&seg).unwrap();
        // Every cut inside the last record of segment 1 keeps exactly nine records of it.
        for end in ends[8] + 1..ends[9] {
            std::fs::write(&seg, &bytes[..end as usize]).unwrap();
            let (series, samples, r) = read_all(tmp.path());
            assert_eq!(series.len(), 9);
            assert_eq!(r.dropped_bytes, end - ends[8]);
            assert_eq!(samples[..18], all[..18]);
            assert_eq!(samples[18..], all[20..], "the next segment is read");
        }
    }

    #[test]
    fn a_damaged_record_drops_the_rest_of_its_segment() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, ends) = write_batches(tmp.path(), 10);
        let seg = tmp.path().join(DIR).join(segment_name(1));
        let mut bytes = std::fs::read(&seg).unwrap();
        // Flip one bit in the body of the fifth record.
        bytes[ends[3] as usize + 10] ^= 0x10;
        std::fs::write(&seg, &bytes).unwrap();
        let (series, _, r) = read_all(tmp.path());
        assert_eq!(series.len(), 4);
        assert_eq!(r.dropped_bytes, ends[9] - ends[3]);
        // A length beyond the file is a torn record too.
        bytes[ends[0] as usize..][..4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&seg, &bytes).unwrap();
        let (series, _, r) = read_all(tmp.path());
        assert_eq!(series.len(), 1);
        assert_eq!(r.dropped_bytes, ends[9] - ends[0]);
    }

    #[test]
    fn a_segment_without_its_whole_magic_is_empty() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(DIR)).unwrap();
        let seg = tmp.path().join(DIR).join(segment_name(4));
        std::fs::write(&seg, &MAGIC[..3]).unwrap();
        let (_, _, r) = read_all(tmp.path());
        assert_eq!(r, Replayed::default());
        std::fs::write(&seg, b"garbage!").unwrap();
        let (_, _, r) = read_all(tmp.path());
        assert_eq!(r.dropped_bytes, 8);
        // New records go after the existing segments.
        let (w, _) = write_batches(tmp.path(), 1);
        assert_eq!(w.seq, 5);
    }
}
