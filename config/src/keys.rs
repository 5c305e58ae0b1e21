//! A pre-pass that finds *every* unknown key in the sections alertd types, before the typed
//! (serde) parse, which can only report the first error it meets. The allowed keys come from the
//! typed structs themselves (their serde field lists), so the two passes cannot disagree.

use std::fmt;

use model::config::ConfigPath;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_saphyr::Location;

use super::raw;
use super::tree::Node;

/// The field names serde's derive gives `T` (captured by a deserializer that only records the
/// `fields` argument of `deserialize_struct`).
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Capture<'a>(&'a mut &'static [&'static str]);
    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field list captured")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for Capture<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Capture(&mut fields));
    fields
}

/// Section paths whose keys are checked, with their allowed keys.
fn schema() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("", raw::TOP_LEVEL_KEYS),
        ("global", fields_of::<model::global::Global>()),
        ("global.http_config", fields_of::<model::http::HttpConfig>()),
        (
            "global.http_config.authorization",
            fields_of::<model::http::Authorization>(),
        ),
        (
            "global.http_config.basic_auth",
            fields_of::<model::http::BasicAuth>(),
        ),
        (
            "global.http_config.tls_config",
            fields_of::<model::http::TlsConfig>(),
        ),
        ("storage", fields_of::<raw::RawStorage>()),
        ("api", fields_of::<raw::RawApi>()),
        ("api.tls_config", fields_of::<raw::RawServerTls>()),
        ("api.ping_rate_limit", fields_of::<raw::RawPingRateLimit>()),
        ("api.connections", fields_of::<raw::RawConnections>()),
        ("api.limits", fields_of::<raw::RawApiLimits>()),
        ("watchdog", fields_of::<raw::RawWatchdog>()),
        ("rule_source", fields_of::<evaluator::SourceConfig>()),
    ]
}

/// Every unknown key of the document with its position, path and message.
pub(crate) fn unknown_keys(root: &Node) -> Vec<(Location, ConfigPath, String)> {
    let schema = schema();
    let mut out = Vec::new();
    walk(root, &ConfigPath::root(), &schema, &mut out);
    out
}

fn walk(
    node: &Node,
    path: &ConfigPath,
    schema: &[(&str, &'static [&'static str])],
    out: &mut Vec<(Location, ConfigPath, String)>,
) {
    let dotted = path.to_string();
    let Some((_, allowed)) = schema.iter().find(|(p, _)| *p == dotted) else {
        return;
    };
    for (key, key_at, child) in node.entries() {
        let child_path = path.key(key.clone());
        if !allowed.contains(&key.as_str()) {
            let msg = if path.is_root() {
                format!(
                    "unknown top-level key `{key}`; allowed keys: {}",
                    allowed.join(", ")
                )
            } else {
                format!(
                    "unknown key `{key}` in `{dotted}`; allowed keys: {}",
                    allowed.join(", ")
                )
            };
            out.push((*key_at, child_path, msg));
            continue;
        }
        walk(child, &child_path, schema, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lists_come_from_the_structs() {
        assert_eq!(
            fields_of::<raw::RawStorage>(),
            &[
                "path",
                "engine",
                "retention",
                "rollup_retention",
                "checkpoint_interval",
                "wal_fsync_interval"
            ]
        );
        assert!(fields_of::<model::http::Authorization>().contains(&"type"));
    }
}
