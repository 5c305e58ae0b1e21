//! The document as a tree of positions: every mapping key and every value with its line and
//! column, read once before the typed parse. It turns a stage's path
//! (`receivers[1].webhook_configs[0].url`) into the position of that node, and the position a
//! YAML error carries into a readable path.

use std::fmt;

use model::config::{ConfigPath, Segment};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// One YAML node with its position; scalars keep no value.
#[derive(Debug)]
pub(crate) struct Node {
    /// Where the value starts.
    pub at: Location,
    /// What it is.
    pub kind: Kind,
}

/// A node's shape.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A scalar or null.
    Scalar,
    /// A list.
    Seq(Vec<Node>),
    /// A mapping: each key as written, the key's position and the value.
    Map(Vec<(String, Location, Node)>),
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Kind, E> {
                Ok(Kind::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = seq.next_element::<Node>()? {
                    items.push(n);
                }
                Ok(Kind::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Spanned<KeyText>>()? {
                    entries.push((k.value.0, k.referenced, map.next_value::<Node>()?));
                }
                Ok(Kind::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Kind>::deserialize(d)?;
        Ok(Node {
            at: s.referenced,
            kind: s.value,
        })
    }
}

/// A mapping key as text, whatever its YAML type (`1: x` has the key `1`).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Node {
    /// The document read from `text` (YAML errors as serde-saphyr reports them).
    pub fn parse(text: &str) -> Result<Node, serde_saphyr::Error> {
        if text.trim().is_empty() {
            return Ok(Node {
                at: Location::UNKNOWN,
                kind: Kind::Scalar,
            });
        }
        serde_saphyr::from_str::<Node>(text)
    }

    fn child(&self, seg: &Segment) -> Option<&Node> {
        match (&self.kind, seg) {
            (Kind::Map(entries), Segment::Key(k)) => {
                entries.iter().find(|(key, _, _)| key == k).map(|e| &e.2)
            }
            (Kind::Seq(items), Segment::Index(i)) => items.get(*i),
            _ => None,
        }
    }

    /// Where the node at `path` is: a scalar's value (`interval: 5x` at `5x`), a list or
    /// mapping at its key (`templates:`), a list item at its item. For a path that leads past
    /// what is written (a missing key), the deepest node that exists on the way, so that
    /// "needs `x`" points at the mapping lacking it.
    pub fn locate(&self, path: &ConfigPath) -> Location {
        let mut node = self;
        let mut at = self.at;
        for seg in path.segments() {
            let key_at = match (&node.kind, seg) {
                (Kind::Map(entries), Segment::Key(k)) => entries
                    .iter()
                    .find(|(key, _, _)| key == k)
                    .map(|(_, key_at, _)| *key_at),
                _ => None,
            };
            match node.child(seg) {
                Some(n) => {
                    node = n;
                    at = match (&n.kind, key_at) {
                        (Kind::Seq(_) | Kind::Map(_), Some(k)) => k,
                        _ if n.at == Location::UNKNOWN => key_at.unwrap_or(at),
                        _ => n.at,
                    };
                }
                None => break,
            }
        }
        at
    }

    /// Where the value at `path` itself starts (a mapping's first key, a list's first item, a
    /// scalar); [`Node::locate`] when the path leads past what is written.
    pub fn value_at(&self, path: &ConfigPath) -> Location {
        let mut node = self;
        for seg in path.segments() {
            match node.child(seg) {
                Some(n) => node = n,
                None => return self.locate(path),
            }
        }
        node.at
    }

    /// The path of the node (or mapping key) written at `at`; else of the last node that
    /// starts before it. The root when nothing matches.
    pub fn path_at(&self, at: Location) -> ConfigPath {
        let mut best = (ConfigPath::root(), Location::UNKNOWN);
        self.walk(&ConfigPath::root(), at, &mut best);
        best.0
    }

    fn walk(&self, here: &ConfigPath, at: Location, best: &mut (ConfigPath, Location)) {
        let before = |l: Location| (l.line(), l.column()) <= (at.line(), at.column());
        let later = |l: Location, b: Location| (l.line(), l.column()) >= (b.line(), b.column());
        let consider = |p: &ConfigPath, l: Location, best: &mut (ConfigPath, Location)| {
            if l != Location::UNKNOWN && before(l) && later(l, best.1) {
                *best = (p.clone(), l);
            }
        };
        consider(here, self.at, best);
        match &self.kind {
            Kind::Scalar => {}
            Kind::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    n.walk(&here.index(i), at, best);
                }
            }
            Kind::Map(entries) => {
                for (k, key_at, n) in entries {
                    let p = here.key(k.clone());
                    consider(&p, *key_at, best);
                    n.walk(&p, at, best);
                }
            }
        }
    }

    /// Whether `path` is written in the document.
    pub fn contains(&self, path: &ConfigPath) -> bool {
        let mut node = self;
        for seg in path.segments() {
            match node.child(seg) {
                Some(n) => node = n,
                None => return false,
            }
        }
        true
    }

    /// Whether the node at `path` is a mapping whose first key is written at `at` (where a
    /// YAML error about the mapping itself, such as a missing key, points in block style).
    pub fn first_key_at(&self, path: &ConfigPath, at: Location) -> bool {
        let mut node = self;
        for seg in path.segments() {
            match node.child(seg) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.entries().first().is_some_and(|e| e.1 == at)
    }

    /// The keys of a mapping with their positions (empty for anything else).
    pub fn entries(&self) -> &[(String, Location, Node)] {
        match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        }
    }

    /// The number of items of a list (0 for anything else).
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Seq(items) => items.len(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "probes:\n  - name: a\n    interval: 5x\n  - name: b\n    http:\n      url: x\nroute:\n  receiver: r\n";

    #[test]
    fn paths_find_their_node_and_positions_their_path() {
        let t = Node::parse(DOC).unwrap();
        let at = t.locate(&"probes[0].interval".into());
        assert_eq!((at.line(), at.column()), (3, 15));
        let at = t.locate(&"probes[1].http.url".into());
        assert_eq!((at.line(), at.column()), (6, 12));
        assert_eq!(t.path_at(at).to_string(), "probes[1].http.url");
        // A missing key: the mapping that lacks it, named by its key.
        let at = t.locate(&"route.group_by".into());
        assert_eq!((at.line(), at.column()), (7, 1));
        // A list item: the item.
        let at = t.locate(&"probes[1]".into());
        assert_eq!((at.line(), at.column()), (4, 5));
        // A key's own position names the key.
        let key = t.entries()[1].1;
        assert_eq!(t.path_at(key).to_string(), "route");
    }
}
