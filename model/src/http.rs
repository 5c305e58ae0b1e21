//! Prometheus's HTTP client settings as written in a configuration (`http_config`,
//! `authorization`, `basic_auth`, `tls_config`): one definition for every section that has them
//! (probes, receivers, `global.http_config`). Secrets have `_file` twins, read with
//! [`crate::secret::read_file`] when used.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::{Secret, SecretSource};

/// `http_config`: how an HTTP client authenticates, verifies TLS and reaches the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Follow redirects (default true).
    pub follow_redirects: Option<bool>,
    /// Allow HTTP/2 (`false` forces HTTP/1.1).
    pub enable_http2: Option<bool>,
    /// `Authorization` header.
    pub authorization: Option<Authorization>,
    /// Basic auth.
    pub basic_auth: Option<BasicAuth>,
    /// Bearer token (older form of `authorization`).
    pub bearer_token: Option<Secret>,
    /// File holding the bearer token (older form).
    pub bearer_token_file: Option<PathBuf>,
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
        bearer_token_file: None,
        tls_config: None,
        proxy_url: None,
    };

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
            (self.bearer_token.is_some() || self.bearer_token_file.is_some()).then(|| {
                Authorization {
                    credentials: self.bearer_token.clone(),
                    credentials_file: self.bearer_token_file.clone(),
                    ..Authorization::default()
                }
            })
        })
    }
}

/// A secret written inline or through its `_file` twin, as one [`SecretSource`] (the inline
/// value wins when both are set; validation refuses that).
fn source(inline: &Option<Secret>, file: &Option<PathBuf>) -> Option<SecretSource> {
    match (inline, file) {
        (Some(s), _) => Some(SecretSource::Inline(s.clone())),
        (None, Some(f)) => Some(SecretSource::File(f.clone())),
        (None, None) => None,
    }
}

impl Authorization {
    /// `credentials` or `credentials_file`.
    pub fn credentials_source(&self) -> Option<SecretSource> {
        source(&self.credentials, &self.credentials_file)
    }
}

impl BasicAuth {
    /// `password` or `password_file`.
    pub fn password_source(&self) -> Option<SecretSource> {
        source(&self.password, &self.password_file)
    }
}

/// `authorization: { type, credentials | credentials_file }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme (default `Bearer`).
    #[serde(default = "default_bearer", rename = "type")]
    pub kind: String,
    /// The credentials inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    /// A file holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            kind: default_bearer(),
            credentials: None,
            credentials_file: None,
        }
    }
}

fn default_bearer() -> String {
    "Bearer".to_string()
}

/// `basic_auth: { username, password | password_file }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The password inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
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
