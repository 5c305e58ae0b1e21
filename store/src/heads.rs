//! The heads file: every series' in-memory image (see the crate docs), rewritten whole at each
//! checkpoint, outside the engine.
//!
//! Layout: the magic line `alertd-heads/1\n`, then per series `id` and the image's length as
//! varints and the image, then the CRC-32 of everything before it (u32 BE). It is written to
//! `heads.tmp` as the images come, synced, renamed over `heads` and the directory synced, so
//! `heads` is always one complete checkpoint.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::keys::{get_varint, put_varint};
use crate::StoreError;

/// The file's name in the store directory.
pub(crate) const FILE: &str = "heads";
const TMP: &str = "heads.tmp";
const MAGIC: &[u8] = b"alertd-heads/1\n";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a new heads file: entries go to `heads.tmp` as they come, [`Writer::commit`] puts it
/// in place. Dropped without a commit, the temporary file is removed.
pub(crate) struct Writer {
    dir: PathBuf,
    file: Option<BufWriter<File>>,
    crc: crc32fast::Hasher,
    /// Reused for each image.
    image: Vec<u8>,
}

impl Writer {
    /// Starts `dir/heads.tmp`.
    pub(crate) fn create(dir: &Path) -> Result<Writer, StoreError> {
        let tmp = dir.join(TMP);
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut w = Writer {
            dir: dir.to_path_buf(),
            file: Some(BufWriter::with_capacity(1 << 16, file)),
            crc: crc32fast::Hasher::new(),
            image: Vec::new(),
        };
        w.put(MAGIC)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.crc.update(bytes);
        match &mut self.file {
            Some(f) => f.write_all(bytes).map_err(io_err(&self.dir.join(TMP))),
            None => Ok(()),
        }
    }

    /// Appends one series' image, written by `image`.
    pub(crate) fn entry(
        &mut self,
        id: u64,
        image: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StoreError> {
        let mut img = std::mem::take(&mut self.image);
        img.clear();
        image(&mut img);
        let mut prefix = Vec::with_capacity(20);
        put_varint(&mut prefix, id);
        put_varint(&mut prefix, img.len() as u64);
        self.put(&prefix)?;
        let r = self.put(&img);
        self.image = img;
        r
    }

    /// Appends the checksum, syncs the file, renames it over `heads` and syncs the directory.
    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        let crc = self.crc.clone().finalize().to_be_bytes();
        self.put(&crc)?;
        let tmp = self.dir.join(TMP);
        if let Some(f) = self.file.take() {
            let f = f.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        let path = self.dir.join(FILE);
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(self.dir.join(TMP));
        }
    }
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
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
    let mut bytes = bytes;
    bytes.truncate(bytes.len() - 4);
    bytes.drain(..MAGIC.len());
    Ok(Some(bytes))
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
    let (src, dst) = (from.join(FILE), to.join(FILE));
    match std::fs::copy(&src, &dst) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(&src)(e)),
    }
    File::open(&dst)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&dst))?;
    sync_dir(to)
}
