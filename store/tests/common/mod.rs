//! Shared by the store's integration tests: run a test on both engines, and the options of a
//! store without background checkpoints (tests checkpoint by hand).

use std::path::Path;

use model::Duration;
use store::{Engine, StoreOptions};

/// Declares each named `fn(Engine)` as a test on sled and on redb.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(#[test] fn $name() { super::$name(store::Engine::Sled) })*
        }
        mod redb {
            $(#[test] fn $name() { super::$name(store::Engine::Redb) })*
        }
    };
}

/// A store in `path` on `engine` without background checkpoints.
pub fn opts(engine: Engine, path: &Path) -> StoreOptions {
    StoreOptions {
        path: path.to_path_buf(),
        engine,
        checkpoint_interval: Duration::ZERO,
        ..StoreOptions::default()
    }
}
