//! The one HTTP client builder of alertd: a `reqwest::Client` from Prometheus's `http_config`
//! settings as written in a configuration ([`model::http::HttpConfig`]): TLS (`ca_file`,
//! `cert_file` + `key_file`, `insecure_skip_verify`), `proxy_url`, `follow_redirects`,
//! `enable_http2`, and the `Authorization` header from `authorization`, `bearer_token` or
//! `basic_auth` (each secret a [`model::secret::SecretSource`], its `_file` read by
//! [`SecretSource::resolve`] when the client is built). Receivers, `remote_write` queues and rule sources all build
//! their clients here.
//!
//! Errors name the key they are about relative to the `http_config` block
//! (`tls_config.ca_file`), never a secret's value or a proxy URL (it may hold a password).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use model::http::HttpConfig;
use model::secret::SecretSource;
use reqwest::header::HeaderValue;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// A file the settings name could not be read.
    #[error("{key}: cannot read {}: {source}", .file.display())]
    ReadFile {
        /// The key naming the file (`tls_config.ca_file`).
        key: &'static str,
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A setting is not usable.
    #[error("{}{message}", if .key.is_empty() { String::new() } else { format!("{}: ", .key) })]
    Invalid {
        /// The key it is about (empty: the client as a whole).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl HttpClientError {
    /// The key the error is about, relative to the `http_config` block (empty: the client as a
    /// whole).
    pub fn key(&self) -> &'static str {
        match self {
            HttpClientError::ReadFile { key, .. } | HttpClientError::Invalid { key, .. } => key,
        }
    }
}

/// Timeouts of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole request, from connecting to the end of the body.
    pub request: Duration,
    /// Establishing the connection.
    pub connect: Duration,
}

impl Timeouts {
    /// `request` for the whole request, at most 10 s of it for connecting.
    pub fn new(request: Duration) -> Self {
        Timeouts {
            request,
            connect: request.min(Duration::from_secs(10)),
        }
    }
}

/// A built client and the `Authorization` header value its settings ask for (marked
/// sensitive: it is never printed).
#[derive(Debug, Clone)]
pub struct Built {
    /// The client (without the `Authorization` header; see [`build_with_auth`]).
    pub client: reqwest::Client,
    /// The header value from `authorization`, `bearer_token` or `basic_auth`, if any.
    pub authorization: Option<HeaderValue>,
}

/// Installs rustls' ring crypto provider as the process default (once): reqwest and lettre
/// both use rustls with ring, and rustls panics when it has to pick between two providers.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds a client from `cfg` (`None`: the defaults). The `Authorization` header is returned
/// apart, for callers that set it per request (some receivers put their own there).
pub fn build(cfg: Option<&HttpConfig>, timeouts: Timeouts) -> Result<Built, HttpClientError> {
    let default = HttpConfig::default();
    let h = cfg.unwrap_or(&default);
    let b = builder(h, timeouts)?;
    let authorization = authorization(h)?;
    let client = b.build().map_err(|e| invalid("", e.to_string()))?;
    Ok(Built {
        client,
        authorization,
    })
}

/// Builds a client from `cfg` that sends the `Authorization` header on every request.
pub fn build_with_auth(
    cfg: Option<&HttpConfig>,
    timeouts: Timeouts,
) -> Result<reqwest::Client, HttpClientError> {
    let default = HttpConfig::default();
    let h = cfg.unwrap_or(&default);
    let mut b = builder(h, timeouts)?;
    if let Some(auth) = authorization(h)? {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        b = b.default_headers(headers);
    }
    b.build().map_err(|e| invalid("", e.to_string()))
}

/// Everything of `h` but the `Authorization` header.
fn builder(h: &HttpConfig, timeouts: Timeouts) -> Result<reqwest::ClientBuilder, HttpClientError> {
    install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeouts.request)
        .connect_timeout(timeouts.connect);
    if h.follow_redirects == Some(false) {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    if h.enable_http2 == Some(false) {
        b = b.http1_only();
    }
    if let Some(p) = &h.proxy_url {
        let proxy = reqwest::Proxy::all(p.expose().trim()).map_err(|e| {
            invalid(
                "proxy_url",
                // Not the URL itself: it may carry a password.
                format!("invalid proxy URL: {}", e.without_url()),
            )
        })?;
        b = b.proxy(proxy);
    }
    if let Some(t) = &h.tls_config {
        if t.insecure_skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(ca) = &t.ca_file {
            let pem = read("tls_config.ca_file", ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| invalid("tls_config.ca_file", e.to_string()))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        match (&t.cert_file, &t.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read("tls_config.cert_file", cert)?;
                pem.push(b'\n');
                pem.extend(read("tls_config.key_file", key)?);
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| invalid("tls_config", e.to_string()))?;
                b = b.identity(id);
            }
            (Some(_), None) => {
                return Err(invalid(
                    "tls_config",
                    "cert_file is set without key_file".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls_config",
                    "key_file is set without cert_file".into(),
                ))
            }
            (None, None) => {}
        }
    }
    Ok(b)
}

fn invalid(key: &'static str, message: String) -> HttpClientError {
    HttpClientError::Invalid { key, message }
}

fn read(key: &'static str, file: &Path) -> Result<Vec<u8>, HttpClientError> {
    std::fs::read(file).map_err(|source| HttpClientError::ReadFile {
        key,
        file: file.to_path_buf(),
        source,
    })
}

/// A secret's value (`key` names its `_file` twin in errors; unset: empty).
fn secret(key: &'static str, source: Option<&SecretSource>) -> Result<String, HttpClientError> {
    match source {
        None => Ok(String::new()),
        Some(s) => {
            s.resolve()
                .map(|s| s.expose().to_string())
                .map_err(|e| HttpClientError::ReadFile {
                    key,
                    file: e.path,
                    source: e.source,
                })
        }
    }
}

/// The `Authorization` header value of `h`: `authorization` first, then the older
/// `bearer_token`, then `basic_auth`.
fn authorization(h: &HttpConfig) -> Result<Option<HeaderValue>, HttpClientError> {
    let value = if let Some(a) = &h.authorization {
        let cred = secret("authorization.credentials_file", a.credentials.as_ref())?;
        format!("{} {cred}", a.kind)
    } else if let Some(t) = &h.bearer_token {
        let cred = secret("bearer_token_file", Some(t))?;
        format!("Bearer {cred}")
    } else if let Some(ba) = &h.basic_auth {
        let pw = secret("basic_auth.password_file", ba.password.as_ref())?;
        let raw = format!("{}:{pw}", ba.username);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    } else {
        return Ok(None);
    };
    let mut v = HeaderValue::from_str(&value).map_err(|_| {
        invalid(
            "authorization",
            "the credentials are not a valid header value".into(),
        )
    })?;
    v.set_sensitive(true);
    Ok(Some(v))
}

/// Reads a response's body, refusing one longer than `limit` bytes (before reading past it).
pub async fn read_body_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BodyError::Read(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a response body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Longer than allowed.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The connection failed while reading.
    #[error("reading the response body: {0}")]
    Read(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::http::{Authorization, BasicAuth, TlsConfig};
    use model::Secret;

    fn t() -> Timeouts {
        Timeouts::new(Duration::from_secs(5))
    }

    #[test]
    fn authorization_from_each_form() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("cred");
        std::fs::write(&f, "s3cret\n").unwrap();
        let h = HttpConfig {
            authorization: Some(Authorization {
                kind: "Bearer".into(),
                credentials: Some(SecretSource::File(f.clone())),
            }),
            ..Default::default()
        };
        let b = build(Some(&h), t()).unwrap();
        let a = b.authorization.unwrap();
        assert_eq!(a.to_str().unwrap(), "Bearer s3cret");
        assert!(a.is_sensitive());
        let h = HttpConfig {
            basic_auth: Some(BasicAuth {
                username: "user".into(),
                password: Some(SecretSource::Inline(Secret::new("pass"))),
            }),
            ..Default::default()
        };
        let b = build(Some(&h), t()).unwrap();
        assert_eq!(
            b.authorization.unwrap().to_str().unwrap(),
            "Basic dXNlcjpwYXNz"
        );
        let h = HttpConfig {
            bearer_token: Some(SecretSource::Inline(Secret::new("tok"))),
            ..Default::default()
        };
        let b = build(Some(&h), t()).unwrap();
        assert_eq!(b.authorization.unwrap().to_str().unwrap(), "Bearer tok");
        assert!(build(None, t()).unwrap().authorization.is_none());
    }

    #[test]
    fn errors_name_the_key_and_not_the_secret() {
        let h = HttpConfig {
            authorization: Some(Authorization {
                kind: "Bearer".into(),
                credentials: Some(SecretSource::File("/nonexistent/cred".into())),
            }),
            ..Default::default()
        };
        let e = build(Some(&h), t()).unwrap_err();
        assert_eq!(e.key(), "authorization.credentials_file");
        assert!(
            e.to_string()
                .starts_with("authorization.credentials_file: cannot read /nonexistent/cred"),
            "{e}"
        );
        let h = HttpConfig {
            proxy_url: Some(Secret::new("ht tp://user:hunter2@[::1")),
            ..Default::default()
        };
        let e = build(Some(&h), t()).unwrap_err();
        assert_eq!(e.key(), "proxy_url");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let h = HttpConfig {
            tls_config: Some(TlsConfig {
                cert_file: Some("/x.pem".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = build(Some(&h), t()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tls_config: cert_file is set without key_file"
        );
        let d = tempfile::tempdir().unwrap();
        let ca = d.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let h = HttpConfig {
            tls_config: Some(TlsConfig {
                ca_file: Some(ca),
                ..Default::default()
            }),
            ..Default::default()
        };
        // reqwest reads no certificate from the file: an empty bundle, not an error.
        let _ = build(Some(&h), t());
    }
}
