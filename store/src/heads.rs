//! The heads file: every series' in-memory image (see the crate docs), rewritten whole at each
//! checkpoint, outside the engine.
//!
//! Layout: the magic line `alertd-heads/1\n`, then per series `id` and the image's length as
//! varints and the image, then the CRC-32 of everything before it (u32 BE). It is written to
//! `heads.tmp`, synced, renamed over `heads` and the directory synced, so `heads` is always one
//! complete checkpoint.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::keys::{get_varint, put_varint};
use crate::StoreError;

/// The file's name in the store directory.
pub(crate) const FILE: &str = "heads";
const TMP: &str = "heads.tmp";
const MAGIC: &[u8] = b"alertd-heads/1\n";

/// Builds the file's contents from `(id, image)` entries.
#[derive(Debug)]
pub(crate) struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Builder {
            buf: MAGIC.to_vec(),
        }
    }

    /// Appends one series' image, written by `image` into the buffer.
    pub(crate) fn entry(&mut self, id: u64, image: impl FnOnce(&mut Vec<u8>)) {
        let mut img = Vec::new();
        image(&mut img);
        put_varint(&mut self.buf, id);
        put_varint(&mut self.buf, img.len() as u64);
        self.buf.extend_from_slice(&img);
    }

    /// The complete file.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_be_bytes());
        self.buf
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Replaces `dir/heads` with `bytes`, durably (see the module docs).
pub(crate) fn write(dir: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join(TMP);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        let path = dir.join(FILE);
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The contents of `dir/heads` when it exists, checked.
pub(crate) fn read(dir: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let path = dir.join(FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let bad =
        |what: &str| StoreError::Corrupt(format!("{}: {what}", PathBuf::from(&path).display()));
    if bytes.len() < MAGIC.len() + 4 || !bytes.starts_with(MAGIC) {
        return Err(bad("not a heads file of this version"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body).to_be_bytes() != crc {
        return Err(bad("checksum mismatch"));
    }
    Ok(Some(body[MAGIC.len()..].to_vec()))
}

/// Iterates the `(id, image)` entries of what [`read`] returned.
pub(crate) fn entries(body: &[u8]) -> impl Iterator<Item = Result<(u64, &[u8]), StoreError>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= body.len() {
            return None;
        }
        let entry = (|| {
            let id = get_varint(body, &mut pos)?;
            let n = usize::try_from(get_varint(body, &mut pos)?).ok()?;
            let img = body.get(pos..pos.checked_add(n)?)?;
            pos += n;
            Some((id, img))
        })();
        if entry.is_none() {
            pos = body.len();
        }
        Some(entry.ok_or_else(|| StoreError::Corrupt("malformed heads file entry".into())))
    })
}

/// Copies `from/heads` (when it exists) to `to/heads`, durably.
pub(crate) fn copy(from: &Path, to: &Path) -> Result<(), StoreError> {
    let src = from.join(FILE);
    match std::fs::read(&src) {
        Ok(bytes) => write(to, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&src)(e)),
    }
}
