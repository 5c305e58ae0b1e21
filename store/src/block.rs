//! Block files: the chunks of one closed window of every series, written once as one immutable
//! file with its own series index (see the crate docs, "Blocks").
//!
//! File layout (integers big-endian):
//!
//! | part | content |
//! | --- | --- |
//! | header | `ALBK`, version `1` (u8), kind (u8: 0 raw, 1 5 m rollups, 2 1 h rollups), window start (i64), series (u32) |
//! | data | per series, ascending ids: its chunks, each as a varint length and the chunk |
//! | index | per series: id minus the previous id (varint), its data length (varint), CRC-32 of its data (u32) |
//! | footer | index offset (u64), index length (u32), CRC-32 of header and index (u32), `ALBK` |

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::keys::{get_varint, put_varint};
use crate::StoreError;

pub(crate) const DIR: &str = "blocks";
const MAGIC: &[u8; 4] = b"ALBK";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 18;
const FOOTER_LEN: usize = 20;
/// Reads of wanted series closer than this are merged into one read.
const READ_GAP: u64 = 32 << 10;

/// What a block holds: raw chunks or rollup blocks of one resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Raw = 0,
    FiveMinutes = 1,
    OneHour = 2,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Raw, Kind::FiveMinutes, Kind::OneHour];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::FiveMinutes => "5m",
            Kind::OneHour => "1h",
        }
    }

    fn from_u8(b: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(b)).copied()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, what: &str) -> StoreError {
    StoreError::Corrupt(format!("block {}: {what}", path.display()))
}

/// The file name of block `seq` of `kind`'s window `window`.
pub(crate) fn file_name(kind: Kind, window: i64, seq: u32) -> String {
    format!("{}_{window}_{seq}.blk", kind.name())
}

/// (kind, window, seq) of a block file name.
pub(crate) fn parse_name(name: &str) -> Option<(Kind, i64, u32)> {
    let stem = name.strip_suffix(".blk")?;
    let mut parts = stem.splitn(3, '_');
    let name = parts.next()?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == name)?;
    let window = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some((kind, window, seq))
}

/// A series id and its chunks.
pub(crate) type SeriesChunks = (u64, Vec<Vec<u8>>);

/// A committed block on disk.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) kind: Kind,
    pub(crate) window: i64,
    pub(crate) seq: u32,
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    index_off: u64,
    index_len: u32,
}

impl Block {
    /// Opens a committed block: checks its footer (the index is checked at each read).
    pub(crate) fn open(
        path: PathBuf,
        kind: Kind,
        window: i64,
        seq: u32,
    ) -> Result<Block, StoreError> {
        let f = File::open(&path).map_err(io(&path))?;
        let bytes = f.metadata().map_err(io(&path))?.len();
        if bytes < (HEADER_LEN + FOOTER_LEN) as u64 {
            return Err(corrupt(&path, "shorter than its header and footer"));
        }
        let mut foot = [0u8; FOOTER_LEN];
        f.read_exact_at(&mut foot, bytes - FOOTER_LEN as u64)
            .map_err(io(&path))?;
        if &foot[16..20] != MAGIC {
            return Err(corrupt(&path, "bad footer"));
        }
        let index_off = u64::from_be_bytes(foot[0..8].try_into().unwrap_or_default());
        let index_len = u32::from_be_bytes(foot[8..12].try_into().unwrap_or_default());
        if index_off < HEADER_LEN as u64
            || index_off + u64::from(index_len) + FOOTER_LEN as u64 != bytes
        {
            return Err(corrupt(&path, "index out of bounds"));
        }
        Ok(Block {
            kind,
            window,
            seq,
            path,
            bytes,
            index_off,
            index_len,
        })
    }

    /// The chunks of the `wanted` series (ascending ids) held in this block, as `(id, chunks)`.
    /// A damaged index fails the whole block; a series whose data fails its checksum is left
    /// out and named in `damaged`.
    pub(crate) fn read(
        &self,
        wanted: &[u64],
        damaged: &mut Vec<u64>,
    ) -> Result<Vec<SeriesChunks>, StoreError> {
        let path = &self.path;
        let f = File::open(path).map_err(io(path))?;
        let mut head = vec![0u8; HEADER_LEN];
        f.read_exact_at(&mut head, 0).map_err(io(path))?;
        let mut index = vec![0u8; self.index_len as usize];
        f.read_exact_at(&mut index, self.index_off)
            .map_err(io(path))?;
        let mut foot = [0u8; FOOTER_LEN];
        f.read_exact_at(&mut foot, self.bytes - FOOTER_LEN as u64)
            .map_err(io(path))?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.update(&index);
        if crc.finalize().to_be_bytes() != foot[12..16] || &head[0..4] != MAGIC {
            return Err(corrupt(path, "header or index fails its checksum"));
        }
        if head[4] != VERSION || Kind::from_u8(head[5]) != Some(self.kind) {
            return Err(corrupt(path, "unknown version or kind"));
        }
        // The wanted entries: (id, offset, length, crc).
        let mut found = Vec::new();
        let (mut pos, mut id, mut off) = (0usize, 0u64, HEADER_LEN as u64);
        let mut w = 0;
        while pos < index.len() && w < wanted.len() {
            let bad = || corrupt(path, "malformed index");
            id = id.wrapping_add(get_varint(&index, &mut pos).ok_or_else(bad)?);
            let len = get_varint(&index, &mut pos).ok_or_else(bad)?;
            let c = index.get(pos..pos + 4).ok_or_else(bad)?;
            pos += 4;
            while w < wanted.len() && wanted[w] < id {
                w += 1;
            }
            if w < wanted.len() && wanted[w] == id {
                found.push((
                    id,
                    off,
                    len,
                    u32::from_be_bytes(c.try_into().unwrap_or_default()),
                ));
            }
            off = off.checked_add(len).ok_or_else(bad)?;
            if off > self.index_off {
                return Err(bad());
            }
        }
        // Read runs of nearby entries at once.
        let mut out = Vec::with_capacity(found.len());
        let mut i = 0;
        while i < found.len() {
            let start = found[i].1;
            let mut j = i + 1;
            while j < found.len() && found[j].1 <= found[j - 1].1 + found[j - 1].2 + READ_GAP {
                j += 1;
            }
            let end = found[j - 1].1 + found[j - 1].2;
            let mut buf = vec![0u8; (end - start) as usize];
            f.read_exact_at(&mut buf, start).map_err(io(path))?;
            for &(id, off, len, c) in &found[i..j] {
                let data = &buf[(off - start) as usize..(off - start + len) as usize];
                if crc32fast::hash(data) != c {
                    damaged.push(id);
                    continue;
                }
                let mut chunks = Vec::new();
                let mut p = 0;
                while p < data.len() {
                    let n = get_varint(data, &mut p)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| p + n <= data.len());
                    let Some(n) = n else {
                        damaged.push(id);
                        chunks.clear();
                        break;
                    };
                    chunks.push(data[p..p + n].to_vec());
                    p += n;
                }
                if !chunks.is_empty() {
                    out.push((id, chunks));
                }
            }
            i = j;
        }
        Ok(out)
    }
}

/// Writes a block to a temporary file; [`Writer::commit`] makes it durable under its name.
pub(crate) struct Writer {
    /// `None` once committed.
    file: Option<std::io::BufWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
    kind: Kind,
    window: i64,
    seq: u32,
    header: [u8; HEADER_LEN],
    index: Vec<u8>,
    series: u32,
    last_id: u64,
    off: u64,
    entry: Vec<u8>,
}

impl Writer {
    pub(crate) fn create(
        dir: &Path,
        kind: Kind,
        window: i64,
        seq: u32,
    ) -> Result<Writer, StoreError> {
        let blocks = dir.join(DIR);
        std::fs::create_dir_all(&blocks).map_err(io(&blocks))?;
        let path = blocks.join(file_name(kind, window, seq));
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut file = std::io::BufWriter::with_capacity(256 << 10, file);
        let mut header = [0u8; HEADER_LEN];
        header[0..4].copy_from_slice(MAGIC);
        header[4] = VERSION;
        header[5] = kind as u8;
        header[6..14].copy_from_slice(&window.to_be_bytes());
        // The series count (bytes 14..18) is known at the end; the header is rewritten then.
        file.write_all(&header).map_err(io(&tmp))?;
        Ok(Writer {
            file: Some(file),
            tmp,
            path,
            kind,
            window,
            seq,
            header,
            index: Vec::new(),
            series: 0,
            last_id: 0,
            off: HEADER_LEN as u64,
            entry: Vec::new(),
        })
    }

    /// Adds series `id` (ids ascending) with its chunks.
    pub(crate) fn series(&mut self, id: u64, chunks: &[Vec<u8>]) -> Result<(), StoreError> {
        self.entry.clear();
        for c in chunks {
            put_varint(&mut self.entry, c.len() as u64);
            self.entry.extend_from_slice(c);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.write_all(&self.entry).map_err(io(&self.tmp))?;
        put_varint(&mut self.index, id - self.last_id);
        put_varint(&mut self.index, self.entry.len() as u64);
        self.index
            .extend_from_slice(&crc32fast::hash(&self.entry).to_be_bytes());
        self.last_id = id;
        self.series += 1;
        self.off += self.entry.len() as u64;
        Ok(())
    }

    /// Writes the index and footer, syncs, renames the file to its name and syncs the
    /// directory: the block is complete on disk when this returns (and not visible before).
    pub(crate) fn commit(mut self) -> Result<Block, StoreError> {
        let tmp = self.tmp.clone();
        self.header[14..18].copy_from_slice(&self.series.to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&self.header);
        crc.update(&self.index);
        let mut foot = Vec::with_capacity(FOOTER_LEN);
        foot.extend_from_slice(&self.off.to_be_bytes());
        foot.extend_from_slice(&(self.index.len() as u32).to_be_bytes());
        foot.extend_from_slice(&crc.finalize().to_be_bytes());
        foot.extend_from_slice(MAGIC);
        let Some(mut file) = self.file.take() else {
            return Err(corrupt(&tmp, "committed twice"));
        };
        file.write_all(&self.index).map_err(io(&tmp))?;
        file.write_all(&foot).map_err(io(&tmp))?;
        let file = file.into_inner().map_err(|e| StoreError::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.write_all_at(&self.header, 0).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Block::open(self.path.clone(), self.kind, self.window, self.seq)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Abandoned (an error on the way): the temporary file goes; committed ones are renamed.
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        for kind in Kind::ALL {
            for window in [-7_200_000, 0, 1_700_006_400_000] {
                let name = file_name(kind, window, 3);
                assert_eq!(parse_name(&name), Some((kind, window, 3)), "{name}");
            }
        }
        assert_eq!(parse_name("raw_0_0.tmp"), None);
    }
}
