//! The configuration as written: what serde reads, with source positions kept for validation.
//! Values that need checking (durations, addresses, URLs) stay strings here so that
//! [`super::validate`] can report every bad one, not only the first.

use std::collections::BTreeMap;
use std::fmt;

use std::marker::PhantomData;

use model::config::Segment;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use collector::config::{HeartbeatConfig, ProbeConfig, ScrapeConfig};
use model::global::Global;
use model::secret::Secret;
use notifier::config::{
    Escalation, InhibitRule, NamedTimeInterval, OncallSchedule, Receiver, ResponseTarget, Route,
};

/// Top-level keys alertd knows.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "global",
    "storage",
    "api",
    "probes",
    "scrape_configs",
    "heartbeats",
    "remote_write",
    "rule_files",
    "rule_source",
    "route",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "escalations",
    "oncall_schedules",
    "response_targets",
    "watchdog",
    "templates",
];

/// A list section: where its key is, and its items.
pub(crate) type Section<T> = (Option<Location>, Option<Vec<T>>);

/// What is left out of the nodes that failed their schema check (already reported): the node
/// is a section (`("global", None)`) or a list item (`("probes", Some(1))`), the tree holds
/// paths below it (`interval`, `http.method`, `webhook_configs[0].url`).
pub(crate) type Drops = BTreeMap<(String, Option<usize>), DropTree>;

/// Keys left out of a node and of the mappings and lists below it: each path inserted ends in
/// a key, which is hidden from the node's type with its value (so its default applies); the
/// keys and list items on the way are read with what is below them left out.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct DropTree {
    /// This key is left out whole.
    whole: bool,
    /// What is left out below (by key or list index).
    below: BTreeMap<Segment, DropTree>,
}

impl DropTree {
    /// Nothing is left out.
    pub fn is_empty(&self) -> bool {
        !self.whole && self.below.is_empty()
    }

    /// Leaves out the key at `path` (relative to this node; it ends in a key).
    pub fn insert(&mut self, path: &[Segment]) {
        match path.split_first() {
            None => {
                self.whole = true;
                self.below.clear();
            }
            Some((seg, rest)) => self.below.entry(seg.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path`, or a key on its way, is left out.
    pub fn covers(&self, path: &[Segment]) -> bool {
        if self.whole {
            return true;
        }
        match path.split_first() {
            None => false,
            Some((seg, rest)) => self.below.get(seg).is_some_and(|t| t.covers(rest)),
        }
    }

    fn key(&self, k: &str) -> Option<&DropTree> {
        self.below.get(&Segment::Key(k.to_string()))
    }

    fn item(&self, i: usize) -> Option<&DropTree> {
        self.below.get(&Segment::Index(i))
    }

    /// Whether this node's own keys need looking at (some are left out, or have something
    /// left out below them).
    fn has_keys(&self) -> bool {
        self.below.keys().any(|s| matches!(s, Segment::Key(_)))
    }
}

/// No drops.
static NO_DROPS: DropTree = DropTree {
    whole: false,
    below: BTreeMap::new(),
};

/// The whole file.
#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub global: Option<Global>,
    pub storage: Option<Spanned<RawStorage>>,
    pub api: Option<Spanned<RawApi>>,
    pub probes: Section<ProbeConfig>,
    pub scrape_configs: Section<ScrapeConfig>,
    pub heartbeats: Section<HeartbeatConfig>,
    pub remote_write: Section<remote::RemoteWriteConfig>,
    pub rule_files: Section<String>,
    pub rule_source: Option<evaluator::SourceConfig>,
    pub route: (Option<Location>, Option<Route>),
    pub receivers: Section<Receiver>,
    pub inhibit_rules: Section<InhibitRule>,
    pub time_intervals: Section<NamedTimeInterval>,
    pub mute_time_intervals: Section<NamedTimeInterval>,
    pub escalations: Section<Escalation>,
    pub oncall_schedules: Section<OncallSchedule>,
    pub response_targets: Section<ResponseTarget>,
    pub watchdog: Option<Spanned<RawWatchdog>>,
    pub templates: Section<String>,
    /// Unknown top-level keys with their positions (all of them are reported).
    pub unknown: Vec<(String, Location)>,
}

impl<'de> Deserialize<'de> for RawConfig {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawSeed {
            skip: &[],
            drops: &Drops::new(),
        }
        .deserialize(d)
    }
}

/// Reads the whole file except the top-level sections in `skip` (read as absent) and the keys
/// in `drops`: what is left to validate once those failed their own parse.
pub(crate) struct RawSeed<'a> {
    pub skip: &'a [String],
    pub drops: &'a Drops,
}

impl<'de> DeserializeSeed<'de> for RawSeed<'_> {
    type Value = RawConfig;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawConfig, D::Error> {
        struct V<'a>(&'a [String], &'a Drops);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = RawConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping with the top-level keys ")?;
                f.write_str(&TOP_LEVEL_KEYS.join(", "))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawConfig, E> {
                Ok(RawConfig::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawConfig, A::Error> {
                let mut cfg = RawConfig::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let at = key.referenced;
                    if self.0.contains(&key.value) {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    let drops = self.1;
                    let section = key.value.clone();
                    match key.value.as_str() {
                        "global" => cfg.global = node(&mut map, drops, &section)?,
                        "storage" => cfg.storage = map.next_value()?,
                        "api" => cfg.api = map.next_value()?,
                        "probes" => cfg.probes = (Some(at), list(&mut map, drops, &section)?),
                        "scrape_configs" => {
                            cfg.scrape_configs = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "heartbeats" => {
                            cfg.heartbeats = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "remote_write" => {
                            cfg.remote_write = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "rule_files" => {
                            cfg.rule_files = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "rule_source" => cfg.rule_source = map.next_value()?,
                        "route" => cfg.route = (Some(at), node(&mut map, drops, &section)?),
                        "receivers" => cfg.receivers = (Some(at), list(&mut map, drops, &section)?),
                        "inhibit_rules" => {
                            cfg.inhibit_rules = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "time_intervals" => {
                            cfg.time_intervals = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "mute_time_intervals" => {
                            cfg.mute_time_intervals = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "escalations" => {
                            cfg.escalations = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "oncall_schedules" => {
                            cfg.oncall_schedules = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "response_targets" => {
                            cfg.response_targets = (Some(at), list(&mut map, drops, &section)?)
                        }
                        "watchdog" => cfg.watchdog = map.next_value()?,
                        "templates" => cfg.templates = (Some(at), list(&mut map, drops, &section)?),
                        other => {
                            map.next_value::<IgnoredAny>()?;
                            cfg.unknown.push((other.to_string(), at));
                        }
                    }
                }
                Ok(cfg)
            }
        }
        d.deserialize_map(V(self.skip, self.drops))
    }
}

/// Reads only one top-level section of the file (or, for a list section, only its item
/// `item`) as its type, ignoring everything else: so that one section's schema error does not
/// hide another's. The error, if any, is serde-saphyr's (with its position).
pub(crate) fn check_section(
    text: &str,
    section: &str,
    item: Option<usize>,
    drop: &DropTree,
) -> Result<(), serde_saphyr::Error> {
    fn check<T: DeserializeOwned>(
        text: &str,
        section: &str,
        item: Option<usize>,
        drop: &DropTree,
    ) -> Result<(), serde_saphyr::Error> {
        serde_saphyr::with_deserializer_from_str(text, |d| {
            Only::<T> {
                section,
                item,
                drop,
                ty: PhantomData,
            }
            .deserialize(d)
        })
    }
    match section {
        "global" => check::<Global>(text, section, item, drop),
        "storage" => check::<RawStorage>(text, section, item, drop),
        "api" => check::<RawApi>(text, section, item, drop),
        "watchdog" => check::<RawWatchdog>(text, section, item, drop),
        "route" => check::<Route>(text, section, item, drop),
        "probes" => check::<ProbeConfig>(text, section, item, drop),
        "scrape_configs" => check::<ScrapeConfig>(text, section, item, drop),
        "heartbeats" => check::<HeartbeatConfig>(text, section, item, drop),
        "remote_write" => check::<remote::RemoteWriteConfig>(text, section, item, drop),
        "rule_files" | "templates" => check::<String>(text, section, item, drop),
        "rule_source" => check::<evaluator::SourceConfig>(text, section, item, drop),
        "receivers" => check::<Receiver>(text, section, item, drop),
        "inhibit_rules" => check::<InhibitRule>(text, section, item, drop),
        "time_intervals" | "mute_time_intervals" => {
            check::<NamedTimeInterval>(text, section, item, drop)
        }
        "escalations" => check::<Escalation>(text, section, item, drop),
        "oncall_schedules" => check::<OncallSchedule>(text, section, item, drop),
        "response_targets" => check::<ResponseTarget>(text, section, item, drop),
        _ => Ok(()),
    }
}

/// Whether `section` is read with its failing keys left out ([`Drops`]): `global`, `route`
/// and the list sections. A schema error in another section leaves that section out whole.
pub(crate) fn drop_aware(section: &str) -> bool {
    matches!(section, "global" | "route") || LIST_SECTIONS.contains(&section)
}

/// The top-level sections that hold a list.
pub(crate) const LIST_SECTIONS: &[&str] = &[
    "probes",
    "scrape_configs",
    "heartbeats",
    "remote_write",
    "rule_files",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "escalations",
    "oncall_schedules",
    "response_targets",
    "templates",
];

struct Only<'a, T> {
    section: &'a str,
    item: Option<usize>,
    drop: &'a DropTree,
    ty: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Only<'_, T> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Only<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key != self.section {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match self.item {
                // A list section without items (`[]`, null, or not a list): read as a list.
                None if LIST_SECTIONS.contains(&self.section) => {
                    map.next_value::<Option<Vec<T>>>()?;
                }
                None => {
                    map.next_value_seed(NodeSeed::<Option<T>> {
                        drop: self.drop,
                        ty: PhantomData,
                    })?;
                }
                Some(i) => map.next_value_seed(Item::<T> {
                    index: i,
                    drop: self.drop,
                    ty: PhantomData,
                })?,
            }
        }
        Ok(())
    }
}

/// Reads item `index` of a list as `T` without the keys in `drop`, skipping the others.
struct Item<'a, T> {
    index: usize,
    drop: &'a DropTree,
    ty: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Item<'_, T> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Item<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let more = if i == self.index {
                seq.next_element_seed(NodeSeed::<T> {
                    drop: self.drop,
                    ty: PhantomData,
                })?
                .is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// `storage:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub path: Option<Spanned<String>>,
    pub engine: Option<Spanned<String>>,
    pub retention: Option<Spanned<String>>,
    pub rollup_retention: Option<Spanned<String>>,
    pub checkpoint_interval: Option<Spanned<String>>,
    pub wal_fsync_interval: Option<Spanned<String>>,
}

/// `watchdog:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWatchdog {
    pub url: Option<Spanned<Secret>>,
    pub url_file: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}

/// `api:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    pub listen: Option<Spanned<String>>,
    pub tokens_file: Option<Spanned<String>>,
    pub auth_reads: Option<Spanned<bool>>,
    pub public_status: Option<Spanned<bool>>,
    pub max_body_bytes: Option<Spanned<u64>>,
    pub tls_config: Option<Spanned<RawServerTls>>,
    pub ping_rate_limit: Option<Spanned<RawPingRateLimit>>,
    pub connections: Option<Spanned<RawConnections>>,
    pub limits: Option<Spanned<RawApiLimits>>,
}

/// `api.connections:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConnections {
    pub max: Option<Spanned<u64>>,
    pub reserved_fds: Option<Spanned<u64>>,
    pub header_read_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
}

/// `api.limits:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApiLimits {
    pub alerts_per_request: Option<Spanned<u64>>,
    pub labels_per_alert: Option<Spanned<u64>>,
    pub label_name_bytes: Option<Spanned<u64>>,
    pub label_value_bytes: Option<Spanned<u64>>,
    pub annotation_bytes: Option<Spanned<u64>>,
    pub api_alerts: Option<Spanned<u64>>,
    pub status_page_rows: Option<Spanned<u64>>,
}

/// `api.ping_rate_limit:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPingRateLimit {
    pub enabled: Option<Spanned<bool>>,
    pub per_second: Option<Spanned<u64>>,
    pub burst: Option<Spanned<u64>>,
    pub max_clients: Option<Spanned<u64>>,
}

/// `api.tls_config:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServerTls {
    pub cert_file: Option<Spanned<String>>,
    pub key_file: Option<Spanned<String>>,
}

/// The next value of `map`, section `section`, without its dropped keys.
fn node<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    map: &mut A,
    drops: &Drops,
    section: &str,
) -> Result<T, A::Error> {
    map.next_value_seed(NodeSeed::<T>::new(drops, section, None))
}

/// The next value of `map`, list section `section`, each item without its dropped keys.
fn list<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    map: &mut A,
    drops: &Drops,
    section: &str,
) -> Result<Option<Vec<T>>, A::Error> {
    map.next_value_seed(ListSeed::<T>::new(drops, section))
}

/// Reads a node as `T` without what `drop` leaves out.
pub(crate) struct NodeSeed<'a, T> {
    drop: &'a DropTree,
    ty: PhantomData<T>,
}

impl<'a, T> NodeSeed<'a, T> {
    /// The seed of `section` (or its item `item`), leaving out what `drops` holds for it.
    pub fn new(drops: &'a Drops, section: &str, item: Option<usize>) -> Self {
        NodeSeed {
            drop: drops.get(&(section.to_string(), item)).unwrap_or(&NO_DROPS),
            ty: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for NodeSeed<'_, T> {
    type Value = T;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(Without {
            inner: d,
            drop: self.drop,
        })
    }
}

/// Reads a list section (or its absence) item by item, each without its dropped keys.
pub(crate) struct ListSeed<'a, T> {
    drops: &'a Drops,
    section: String,
    ty: PhantomData<T>,
}

impl<'a, T> ListSeed<'a, T> {
    /// The seed of list section `section`.
    pub fn new(drops: &'a Drops, section: &str) -> Self {
        ListSeed {
            drops,
            section: section.to_string(),
            ty: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ListSeed<'_, T> {
    type Value = Option<Vec<T>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListSeed<'_, T> {
    type Value = Option<Vec<T>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let seed = NodeSeed::<T>::new(self.drops, &self.section, Some(out.len()));
            match seq.next_element_seed(seed)? {
                Some(v) => out.push(v),
                None => return Ok(Some(out)),
            }
        }
    }
}

/// A deserializer that hides what `drop` leaves out of the node it reads: the keys left out
/// whole, and, through the values of keys and list items with something left out below them,
/// deeper keys. Everything else is read by the YAML deserializer itself, positions intact.
struct Without<'a, D> {
    inner: D,
    drop: &'a DropTree,
}

/// Forwards `deserialize_*` methods whose value cannot be a mapping unchanged.
macro_rules! forward {
    ($($m:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $m<V: Visitor<'de>>(self, $($arg: $ty,)* v: V) -> Result<V::Value, D::Error> {
            self.inner.$m($($arg,)* v)
        }
    )*};
}

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for Without<'_, D> {
    type Error = D::Error;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(Filter {
            inner: v,
            drop: self.drop,
        })
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_option(Filter {
            inner: v,
            drop: self.drop,
        })
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(Filter {
            inner: v,
            drop: self.drop,
        })
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_seq(Filter {
            inner: v,
            drop: self.drop,
        })
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_newtype_struct(
            name,
            Filter {
                inner: v,
                drop: self.drop,
            },
        )
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            Filter {
                inner: v,
                drop: self.drop,
            },
        )
    }
    forward! {
        deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32();
        deserialize_i64(); deserialize_i128(); deserialize_u8(); deserialize_u16();
        deserialize_u32(); deserialize_u64(); deserialize_u128(); deserialize_f32();
        deserialize_f64(); deserialize_char(); deserialize_str(); deserialize_string();
        deserialize_bytes(); deserialize_byte_buf(); deserialize_unit();
        deserialize_identifier(); deserialize_ignored_any();
        deserialize_unit_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }
}

/// The visitor of [`Without`]: hands the mapping on without the dropped keys.
struct Filter<'a, V> {
    inner: V,
    drop: &'a DropTree,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Filter<'_, V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(FilterMap {
            inner: map,
            drop: self.drop,
            current: None,
        })
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Without {
            inner: d,
            drop: self.drop,
        })
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }
    fn visit_bool<E: de::Error>(self, x: bool) -> Result<V::Value, E> {
        self.inner.visit_bool(x)
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<V::Value, E> {
        self.inner.visit_i64(x)
    }
    fn visit_i128<E: de::Error>(self, x: i128) -> Result<V::Value, E> {
        self.inner.visit_i128(x)
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<V::Value, E> {
        self.inner.visit_u64(x)
    }
    fn visit_u128<E: de::Error>(self, x: u128) -> Result<V::Value, E> {
        self.inner.visit_u128(x)
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<V::Value, E> {
        self.inner.visit_f64(x)
    }
    fn visit_str<E: de::Error>(self, x: &str) -> Result<V::Value, E> {
        self.inner.visit_str(x)
    }
    fn visit_borrowed_str<E: de::Error>(self, x: &'de str) -> Result<V::Value, E> {
        self.inner.visit_borrowed_str(x)
    }
    fn visit_string<E: de::Error>(self, x: String) -> Result<V::Value, E> {
        self.inner.visit_string(x)
    }
    fn visit_bytes<E: de::Error>(self, x: &[u8]) -> Result<V::Value, E> {
        self.inner.visit_bytes(x)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(FilterSeq {
            inner: seq,
            drop: self.drop,
            next: 0,
        })
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Without {
            inner: d,
            drop: self.drop,
        })
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, e: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(e)
    }
}

/// A mapping without the keys left out whole (their values are skipped), the values of keys
/// with something left out below them read through [`Without`].
struct FilterMap<'a, A> {
    inner: A,
    drop: &'a DropTree,
    /// What is left out below the key just read.
    current: Option<&'a DropTree>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for FilterMap<'_, A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.current = None;
        if !self.drop.has_keys() {
            return self.inner.next_key_seed(seed);
        }
        while let Some(key) = self.inner.next_key::<String>()? {
            match self.drop.key(&key) {
                Some(t) if t.whole => {
                    self.inner.next_value::<IgnoredAny>()?;
                    continue;
                }
                below => self.current = below.filter(|t| !t.is_empty()),
            }
            return seed
                .deserialize(de::value::StringDeserializer::<A::Error>::new(key))
                .map(Some);
        }
        Ok(None)
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        match self.current.take() {
            Some(drop) => self.inner.next_value_seed(WithoutSeed { seed, drop }),
            None => self.inner.next_value_seed(seed),
        }
    }
}

/// A list whose items with something left out below them are read through [`Without`].
struct FilterSeq<'a, A> {
    inner: A,
    drop: &'a DropTree,
    next: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for FilterSeq<'_, A> {
    type Error = A::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let i = self.next;
        self.next += 1;
        match self.drop.item(i).filter(|t| !t.is_empty()) {
            Some(drop) => self.inner.next_element_seed(WithoutSeed { seed, drop }),
            None => self.inner.next_element_seed(seed),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A seed whose value is read through [`Without`].
struct WithoutSeed<'a, S> {
    seed: S,
    drop: &'a DropTree,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for WithoutSeed<'_, S> {
    type Value = S::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Without {
            inner: d,
            drop: self.drop,
        })
    }
}
