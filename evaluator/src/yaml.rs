//! YAML leniencies Prometheus has (its rule files and promtool's test files are read with Go's
//! `yaml` packages), so files from the field load here as they do there:
//!
//! - only the first document of a multi-document file is read ([`first_document`]);
//! - `null` (or nothing) where a list, map or string is expected is the empty value
//!   ([`null_default`], [`Text`]);
//! - a number or boolean where a string is expected is its text ([`Text`]).

use serde::{Deserialize, Deserializer};

/// The text of the first YAML document of `text`: everything before the second `---` marker
/// (or the first `...` end marker) that follows some content. Line numbers are unchanged.
pub fn first_document(text: &str) -> &str {
    let mut content_seen = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let marker = |m: &str| {
            body.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if marker("...") || (marker("---") && content_seen) {
            return &text[..offset];
        }
        let trimmed = body.trim_start();
        if !marker("---")
            && !trimmed.is_empty()
            && !trimmed.starts_with('#')
            && !body.starts_with('%')
        {
            content_seen = true;
        }
        offset += line.len();
    }
    text
}

/// `#[serde(default, deserialize_with = "null_default")]`: a `null` value is `T::default()`.
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string as Go's YAML decoder fills a `string` field: `null` is `""`, and a number or
/// boolean is its text (`code: 500` is `"500"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            S(String),
            B(bool),
            I(i64),
            U(u64),
            F(f64),
        }
        Ok(Text(match Option::<Scalar>::deserialize(d)? {
            None => String::new(),
            Some(Scalar::S(s)) => s,
            Some(Scalar::B(b)) => b.to_string(),
            Some(Scalar::I(i)) => i.to_string(),
            Some(Scalar::U(u)) => u.to_string(),
            Some(Scalar::F(f)) => f.to_string(),
        }))
    }
}

/// A map of [`Text`] values as plain strings.
pub fn text_map(
    m: std::collections::BTreeMap<String, Text>,
) -> std::collections::BTreeMap<String, String> {
    m.into_iter().map(|(k, v)| (k, v.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn first_document_stops_at_the_second_marker() {
        assert_eq!(first_document("a: 1\n---\nb: 2\n"), "a: 1\n");
        assert_eq!(first_document("---\na: 1\n--- \nb: 2\n"), "---\na: 1\n");
        assert_eq!(first_document("# c\n---\na: 1\n...\n"), "# c\n---\na: 1\n");
        assert_eq!(first_document("a: |\n  ---\n  x\n"), "a: |\n  ---\n  x\n");
        assert_eq!(first_document("a: ---x\n"), "a: ---x\n");
    }

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "null_default")]
        list: Vec<u32>,
        #[serde(default)]
        map: BTreeMap<String, Text>,
    }

    #[test]
    fn nulls_and_numbers_as_go_reads_them() {
        let t: T = serde_saphyr::from_str("list:\nmap: { a: , b: 500, c: true, d: x, e: null }\n")
            .unwrap();
        assert!(t.list.is_empty());
        let m = text_map(t.map);
        assert_eq!(m["a"], "");
        assert_eq!(m["b"], "500");
        assert_eq!(m["c"], "true");
        assert_eq!(m["d"], "x");
        assert_eq!(m["e"], "");
    }
}
