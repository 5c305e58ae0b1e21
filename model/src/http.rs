//! Prometheus's HTTP client settings as written in a configuration (`http_config`,
//! `authorization`, `basic_auth`, `tls_config`): one definition for every section that has them
//! (probes, receivers, `global.http_config`). Secrets have `_file` twins, read with
//! [`crate::secret::read_file`] when used.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Secret;

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
