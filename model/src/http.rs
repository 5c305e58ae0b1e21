//! Prometheus's HTTP client settings as written in a configuration (`http_config`,
//! `authorization`, `basic_auth`, `tls_config`): one definition for every section that has them
//! (probes, receivers, `global.http_config`, `remote_write`, rule sources).
//!
//! Every secret (`bearer_token`, `authorization.credentials`, `basic_auth.password`) is one
//! [`SecretSource`] read from its key or its `_file` twin by [`crate::secret::TwinSeed`], the
//! reader `global`'s secrets use too: both set is an error at the second one written, an empty
//! `_file` an error at its value. [`SecretSource::resolve`] reads a file when the secret is used.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::secret::{serialize_twin, twin_base, Secret, SecretSource, TwinSeed};

/// `http_config`: how an HTTP client authenticates, verifies TLS and reaches the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpConfig {
    /// Follow redirects (default true).
    pub follow_redirects: Option<bool>,
    /// Allow HTTP/2 (`false` forces HTTP/1.1).
    pub enable_http2: Option<bool>,
    /// `Authorization` header.
    pub authorization: Option<Authorization>,
    /// Basic auth.
    pub basic_auth: Option<BasicAuth>,
    /// Bearer token, the older form of `authorization` (`bearer_token` or `bearer_token_file`).
    pub bearer_token: Option<SecretSource>,
    /// TLS settings.
    pub tls_config: Option<TlsConfig>,
    /// HTTP proxy for every request (`http://user:pass@proxy:3128`; a secret: it may hold a
    /// password).
    pub proxy_url: Option<Secret>,
}

impl HttpConfig {
    /// Nothing set: every default.
    pub const NONE: HttpConfig = HttpConfig {
        follow_redirects: None,
        enable_http2: None,
        authorization: None,
        basic_auth: None,
        bearer_token: None,
        tls_config: None,
        proxy_url: None,
    };

    /// The keys `http_config` accepts.
    pub const KEYS: &'static [&'static str] = &[
        "follow_redirects",
        "enable_http2",
        "authorization",
        "basic_auth",
        "bearer_token",
        "bearer_token_file",
        "tls_config",
        "proxy_url",
    ];

    /// Whether redirects are followed (default true).
    pub fn follows_redirects(&self) -> bool {
        self.follow_redirects.unwrap_or(true)
    }

    /// Whether HTTP/2 may be used (default true).
    pub fn http2(&self) -> bool {
        self.enable_http2.unwrap_or(true)
    }

    /// The TLS settings (defaults when unset).
    pub fn tls(&self) -> TlsConfig {
        self.tls_config.clone().unwrap_or_default()
    }

    /// The `Authorization` header to send: `authorization`, or else the older `bearer_token` /
    /// `bearer_token_file`, which Prometheus reads as `authorization` of type Bearer.
    pub fn effective_authorization(&self) -> Option<Authorization> {
        self.authorization.clone().or_else(|| {
            self.bearer_token.as_ref().map(|t| Authorization {
                credentials: Some(t.clone()),
                ..Authorization::default()
            })
        })
    }
}

/// `authorization: { type, credentials | credentials_file }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// The scheme (default `Bearer`).
    pub kind: String,
    /// The credentials (`credentials` or `credentials_file`).
    pub credentials: Option<SecretSource>,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            kind: "Bearer".to_string(),
            credentials: None,
        }
    }
}

impl Authorization {
    /// The keys `authorization` accepts.
    pub const KEYS: &'static [&'static str] = &["type", "credentials", "credentials_file"];
}

/// `basic_auth: { username, password | password_file }`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password (`password` or `password_file`).
    pub password: Option<SecretSource>,
}

impl BasicAuth {
    /// The keys `basic_auth` accepts.
    pub const KEYS: &'static [&'static str] = &["username", "password", "password_file"];
}

/// `tls_config`: the CAs to trust, a client certificate, the name to verify.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the CA certificates to trust (default: the Mozilla root set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM client key (with `cert_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Name sent as SNI and verified against the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Accept any certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Reads a twin key's value into `slot` (see [`TwinSeed`]).
fn read_twin<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
    slot: &mut Option<SecretSource>,
) -> Result<(), A::Error> {
    let seed = TwinSeed {
        prefix: "",
        key,
        set: slot.is_some(),
    };
    if let Some(v) = map.next_value_seed(seed)? {
        *slot = Some(v);
    }
    Ok(())
}

impl<'de> Deserialize<'de> for HttpConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HttpConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of HTTP client settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HttpConfig, A::Error> {
                let mut h = HttpConfig::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "follow_redirects" => h.follow_redirects = map.next_value()?,
                        "enable_http2" => h.enable_http2 = map.next_value()?,
                        "authorization" => h.authorization = map.next_value()?,
                        "basic_auth" => h.basic_auth = map.next_value()?,
                        k if twin_base(k).0 == "bearer_token" => {
                            read_twin(&mut map, k, &mut h.bearer_token)?
                        }
                        "tls_config" => h.tls_config = map.next_value()?,
                        "proxy_url" => h.proxy_url = map.next_value()?,
                        other => return Err(de::Error::unknown_field(other, HttpConfig::KEYS)),
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_struct("HttpConfig", HttpConfig::KEYS, V)
    }
}

impl Serialize for HttpConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(v) = self.follow_redirects {
            m.serialize_entry("follow_redirects", &v)?;
        }
        if let Some(v) = self.enable_http2 {
            m.serialize_entry("enable_http2", &v)?;
        }
        if let Some(v) = &self.authorization {
            m.serialize_entry("authorization", v)?;
        }
        if let Some(v) = &self.basic_auth {
            m.serialize_entry("basic_auth", v)?;
        }
        serialize_twin(&mut m, "bearer_token", &self.bearer_token)?;
        if let Some(v) = &self.tls_config {
            m.serialize_entry("tls_config", v)?;
        }
        if let Some(v) = &self.proxy_url {
            m.serialize_entry("proxy_url", v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Authorization {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Authorization;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping with type and credentials or credentials_file")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Authorization, A::Error> {
                let mut a = Authorization::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "type" => a.kind = map.next_value()?,
                        k if twin_base(k).0 == "credentials" => {
                            read_twin(&mut map, k, &mut a.credentials)?
                        }
                        other => return Err(de::Error::unknown_field(other, Authorization::KEYS)),
                    }
                }
                Ok(a)
            }
        }
        d.deserialize_struct("Authorization", Authorization::KEYS, V)
    }
}

impl Serialize for Authorization {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", &self.kind)?;
        serialize_twin(&mut m, "credentials", &self.credentials)?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for BasicAuth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BasicAuth;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping with username and password or password_file")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BasicAuth, A::Error> {
                let mut b = BasicAuth::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "username" => b.username = map.next_value()?,
                        k if twin_base(k).0 == "password" => {
                            read_twin(&mut map, k, &mut b.password)?
                        }
                        other => return Err(de::Error::unknown_field(other, BasicAuth::KEYS)),
                    }
                }
                Ok(b)
            }
        }
        d.deserialize_struct("BasicAuth", BasicAuth::KEYS, V)
    }
}

impl Serialize for BasicAuth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("username", &self.username)?;
        serialize_twin(&mut m, "password", &self.password)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_take_either_twin_and_refuse_both() {
        let h: HttpConfig = serde_json::from_str(
            r#"{"authorization": {"credentials_file": "/tok"}, "bearer_token": "b"}"#,
        )
        .unwrap();
        let a = h.authorization.as_ref().unwrap();
        assert_eq!(a.kind, "Bearer");
        assert_eq!(a.credentials, Some(SecretSource::File("/tok".into())));
        assert_eq!(h.bearer_token, Some(SecretSource::Inline(Secret::new("b"))));
        // Written back under the key it was read from, the inline secret hidden.
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(
            text,
            r#"{"authorization":{"type":"Bearer","credentials_file":"/tok"},"bearer_token":"<secret>"}"#
        );
        let b: BasicAuth = serde_json::from_str(r#"{"username": "u", "password": "p"}"#).unwrap();
        assert_eq!(b.password, Some(SecretSource::Inline(Secret::new("p"))));
        for (text, want) in [
            (
                r#"{"basic_auth": {"username": "u", "password": "p", "password_file": "/f"}}"#,
                "at most one of `password` and `password_file` may be set",
            ),
            (
                r#"{"authorization": {"credentials_file": "/f", "credentials": "c"}}"#,
                "at most one of `credentials` and `credentials_file` may be set",
            ),
            (
                r#"{"bearer_token": "t", "bearer_token_file": "/f"}"#,
                "at most one of `bearer_token` and `bearer_token_file` may be set",
            ),
            (
                r#"{"bearer_token_file": " "}"#,
                "`bearer_token_file` must not be empty",
            ),
            (r#"{"bearer_tokn": "t"}"#, "unknown field `bearer_tokn`"),
        ] {
            let e = serde_json::from_str::<HttpConfig>(text).unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }
}
