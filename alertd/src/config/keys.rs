//! A pre-pass that finds *every* unknown key in the sections alertd types, before the typed
//! (serde) parse, which can only report the first error it meets. The allowed keys come from the
//! typed structs themselves (their serde field lists), so the two passes cannot disagree.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::raw;

/// A YAML node with the positions of its keys; scalars are not kept.
#[derive(Debug)]
enum Node {
    Scalar,
    Seq,
    Map(Vec<(Spanned<String>, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Node::Seq)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    entries.push((k, map.next_value::<Node>()?));
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

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
        ("global", fields_of::<raw::RawGlobal>()),
        ("global.http_config", fields_of::<raw::RawHttpConfig>()),
        (
            "global.http_config.authorization",
            fields_of::<raw::RawAuthorization>(),
        ),
        (
            "global.http_config.basic_auth",
            fields_of::<raw::RawBasicAuth>(),
        ),
        (
            "global.http_config.tls_config",
            fields_of::<raw::RawTlsConfig>(),
        ),
        ("storage", fields_of::<raw::RawStorage>()),
        ("api", fields_of::<raw::RawApi>()),
        ("api.tls_config", fields_of::<raw::RawServerTls>()),
        ("api.ping_rate_limit", fields_of::<raw::RawPingRateLimit>()),
        ("api.connections", fields_of::<raw::RawConnections>()),
        ("api.limits", fields_of::<raw::RawApiLimits>()),
        ("watchdog", fields_of::<raw::RawWatchdog>()),
    ]
}

/// Every unknown key in `text` with its position and message; empty when the text cannot be
/// read as YAML at all (the typed parse reports that).
pub(crate) fn unknown_keys(text: &str) -> Vec<(Location, String)> {
    let Ok(root) = serde_saphyr::from_str::<Node>(text) else {
        return Vec::new();
    };
    let schema = schema();
    let mut out = Vec::new();
    walk(&root, "", &schema, &mut out);
    out
}

fn walk(
    node: &Node,
    path: &str,
    schema: &[(&str, &'static [&'static str])],
    out: &mut Vec<(Location, String)>,
) {
    let Node::Map(entries) = node else { return };
    let Some((_, allowed)) = schema.iter().find(|(p, _)| *p == path) else {
        return;
    };
    for (key, child) in entries {
        if !allowed.contains(&key.value.as_str()) {
            let msg = if path.is_empty() {
                format!(
                    "unknown top-level key `{}`; allowed keys: {}",
                    key.value,
                    allowed.join(", ")
                )
            } else {
                format!(
                    "unknown key `{}` in `{path}`; allowed keys: {}",
                    key.value,
                    allowed.join(", ")
                )
            };
            out.push((key.referenced, msg));
            continue;
        }
        let child_path = if path.is_empty() {
            key.value.clone()
        } else {
            format!("{path}.{}", key.value)
        };
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
        assert!(fields_of::<raw::RawAuthorization>().contains(&"type"));
    }
}
