//! Backups of the store: `POST /api/alertd/v1/snapshot` while the daemon runs, and
//! `alertd snapshot --config FILE --out DIR` when it does not.
//!
//! A snapshot is a store directory of its own (a consistent copy made by
//! [`store::Store::backup_to`]): restore by pointing `storage.path` at it (or copying it to
//! the data directory) and starting alertd.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use crate::api::error::ApiError;
use crate::config::StorageConfig;
use crate::daemon::App;

/// Where the daemon writes snapshots: `snapshots/` inside the data directory (the one
/// directory a hardened service may write to; see `deploy/alertd.service`).
pub(crate) const SNAPSHOT_DIR: &str = "snapshots";

/// The answer of a successful snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SnapshotInfo {
    /// The snapshot's directory.
    pub path: PathBuf,
    /// Its engine (`redb` or `sled`).
    pub engine: String,
    /// Entries copied.
    pub entries: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

impl From<store::BackupReport> for SnapshotInfo {
    fn from(r: store::BackupReport) -> Self {
        SnapshotInfo {
            path: r.path,
            engine: r.engine.as_str().to_string(),
            entries: r.entries,
            bytes: r.bytes,
        }
    }
}

/// Why an offline snapshot failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    /// A running alertd (or another process) holds the store.
    #[error(
        "the store at {} is in use (is alertd running?); take the snapshot through the running \
         daemon instead: curl -X POST http://<api.listen>/api/alertd/v1/snapshot",
        path.display()
    )]
    InUse {
        /// The store directory.
        path: PathBuf,
    },
    /// There is no store at the configured path.
    #[error("no store at {}: nothing to snapshot", path.display())]
    NoStore {
        /// The store directory.
        path: PathBuf,
    },
    /// The store failed.
    #[error("store at {}: {source}", path.display())]
    Store {
        /// The store directory.
        path: PathBuf,
        /// The error.
        source: store::StoreError,
    },
}

/// The admin routes (merged into the API router by [`crate::http::router`]).
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/alertd/v1/snapshot", post(snapshot))
}

/// A fresh snapshot directory under `data_dir/snapshots/`, named after the UTC time
/// `now_ms` (`20261123T074500Z`, then `-2`, `-3`, … when taken within the same second).
pub(crate) fn snapshot_path(data_dir: &Path, now_ms: i64) -> PathBuf {
    let name = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    let base = data_dir.join(SNAPSHOT_DIR);
    let mut path = base.join(&name);
    let mut n = 2;
    while path.exists() || partial(&path).exists() {
        path = base.join(format!("{name}-{n}"));
        n += 1;
    }
    path
}

fn partial(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

/// `POST /api/alertd/v1/snapshot`: writes a snapshot of the running store under the data
/// directory and answers `{"path", "engine", "entries", "bytes"}`; `{"error"}` with 500 when it
/// fails. The copy runs on a blocking thread; the store keeps serving meanwhile.
async fn snapshot(State(app): State<Arc<App>>) -> Response {
    let store = app.pipeline().store().clone();
    let now = app.clock().now_ms();
    let dest = snapshot_path(app.pipeline().storage_dir(), now);
    let result = tokio::task::spawn_blocking(move || store.backup_to(&dest)).await;
    match result {
        Ok(Ok(report)) => {
            tracing::info!(path = %report.path.display(), entries = report.entries, bytes = report.bytes, "store snapshot written");
            (StatusCode::OK, Json(SnapshotInfo::from(report))).into_response()
        }
        Ok(Err(e)) => {
            tracing::error!("store snapshot failed: {e}");
            ApiError::own(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("snapshot failed: {e}"),
            )
            .into_response()
        }
        Err(e) => ApiError::own(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("snapshot failed: {e}"),
        )
        .into_response(),
    }
}

/// `alertd snapshot`: opens the store of `storage` (refused while a daemon holds it), writes a
/// snapshot to `out` (which must not exist) and closes the store.
pub(crate) fn snapshot_offline(
    storage: &StorageConfig,
    out: &Path,
) -> Result<SnapshotInfo, SnapshotError> {
    let path = storage.path.clone();
    let has_store = path.join(store::engine::REDB_FILE).exists() || path.join("conf").exists();
    if !has_store {
        return Err(SnapshotError::NoStore { path });
    }
    let opts = store::StoreOptions {
        path: path.clone(),
        engine: storage.engine,
        retention_raw: storage.retention,
        retention_rollups: storage.rollup_retention,
        // No background checkpoints in a short-lived offline run.
        checkpoint_interval: model::Duration::ZERO,
        wal_fsync_interval: storage.wal_fsync_interval,
    };
    let s = store::Store::open(opts).map_err(|source| match &source {
        store::StoreError::Engine { message, .. }
            if message.contains("already open") || message.contains("acquire lock") =>
        {
            SnapshotError::InUse { path: path.clone() }
        }
        _ => SnapshotError::Store {
            path: path.clone(),
            source,
        },
    })?;
    let report = s.backup_to(out).map_err(|source| SnapshotError::Store {
        path: path.clone(),
        source,
    })?;
    s.close()
        .map_err(|source| SnapshotError::Store { path, source })?;
    Ok(report.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_are_utc_times_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        // 2023-11-14T22:13:20Z
        let p = snapshot_path(dir.path(), 1_700_000_000_123);
        assert_eq!(p, dir.path().join("snapshots/20231114T221320Z"));
        std::fs::create_dir_all(&p).unwrap();
        let q = snapshot_path(dir.path(), 1_700_000_000_999);
        assert_eq!(q, dir.path().join("snapshots/20231114T221320Z-2"));
        std::fs::create_dir_all(partial(&q)).unwrap();
        assert_eq!(
            snapshot_path(dir.path(), 1_700_000_000_000),
            dir.path().join("snapshots/20231114T221320Z-3")
        );
    }

    #[test]
    fn offline_snapshot_refuses_a_missing_store_and_one_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let storage = StorageConfig {
            path: dir.path().join("data"),
            ..crate::config::Config::default().storage
        };
        match snapshot_offline(&storage, &dir.path().join("out")) {
            Err(e @ SnapshotError::NoStore { .. }) => {
                assert!(e.to_string().contains("nothing to snapshot"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        // The store held open (as by a running daemon).
        let held = store::Store::open(store::StoreOptions {
            path: storage.path.clone(),
            engine: storage.engine,
            ..store::StoreOptions::default()
        })
        .unwrap();
        match snapshot_offline(&storage, &dir.path().join("out")) {
            Err(e @ SnapshotError::InUse { .. }) => {
                assert!(e.to_string().contains("is alertd running?"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        held.close().unwrap();
        drop(held);
        let info = snapshot_offline(&storage, &dir.path().join("out")).unwrap();
        assert_eq!(info.path, dir.path().join("out"));
        assert_eq!(info.engine, "redb");
        assert!(dir
            .path()
            .join("out")
            .join(store::engine::REDB_FILE)
            .exists());
    }
}
