//! Store metadata: format and engine checked on open, older formats upgraded in place.

use std::path::Path;

use crate::engine::{BatchOp, KvEngine};
use crate::{keys, Engine, StoreError};

/// The format this version writes.
pub(crate) const FORMAT: &str = "alertd-store/3";
/// Formats this version opens and upgrades in place: format 1 kept the heads as `H` records in
/// the engine and wrote only version 1 blocks; format 2 wrote version 2 blocks (the decimal
/// mode in one interleaved stream). Blocks of every version are still read, and new ones are
/// written in version 3, so nothing is rewritten on upgrade.
const UPGRADABLE: &[&str] = &["alertd-store/1", "alertd-store/2"];

pub(crate) fn check_meta(engine: &dyn KvEngine, path: &Path) -> Result<(), StoreError> {
    let key = |name: &str| {
        let mut k = vec![keys::META];
        k.extend_from_slice(name.as_bytes());
        k
    };
    match engine.get(&key("format"))? {
        None => {
            let mut any = false;
            engine.scan(&[0], &[0xff], &mut |_, _| {
                any = true;
                false
            })?;
            if any {
                return Err(StoreError::Corrupt(format!(
                    "{} holds data but no store metadata",
                    path.display()
                )));
            }
            engine.write(&[
                BatchOp::Put(key("format"), FORMAT.as_bytes().to_vec()),
                BatchOp::Put(key("engine"), engine.kind().as_str().as_bytes().to_vec()),
            ])
        }
        Some(f) if UPGRADABLE.iter().any(|u| u.as_bytes() == f) => {
            // Blocks and heads of the new format are written from now on.
            engine.write(&[BatchOp::Put(key("format"), FORMAT.as_bytes().to_vec())])?;
            check_meta(engine, path)
        }
        Some(f) if f != FORMAT.as_bytes() => Err(StoreError::FormatVersion {
            path: path.to_path_buf(),
            found: String::from_utf8_lossy(&f).into_owned(),
        }),
        Some(_) => {
            let found = engine.get(&key("engine"))?.unwrap_or_default();
            let found: Engine = String::from_utf8_lossy(&found).parse()?;
            if found != engine.kind() {
                return Err(StoreError::WrongEngine {
                    path: path.to_path_buf(),
                    found,
                    requested: engine.kind(),
                });
            }
            Ok(())
        }
    }
}
