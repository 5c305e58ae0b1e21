//! Email over SMTP with lettre: `smarthost` (port 465 means implicit TLS, otherwise STARTTLS is
//! required unless `require_tls: false`), optional AUTH (PLAIN/LOGIN), HTML and plain-text
//! bodies, custom headers, and one thread per alert group (`In-Reply-To`/`References` on a
//! stable id derived from the group key).

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailConfig, Global};
use crate::payload::Notification;
use crate::template;

use super::{read_secret, read_source, BuildError, SendError};

/// Splits `host:port` (IPv6 as `[::1]:25`); `None` when malformed.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    let port: u16 = p.parse().ok()?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h.is_empty() {
        return None;
    }
    Some((h.to_string(), port))
}

/// An email target.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    headers: Vec<(String, String)>,
    subject: Option<String>,
    html: Option<String>,
    text: Option<String>,
    templates: std::sync::Arc<crate::gotemplate::Templates>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

fn invalid(path: &str, message: impl Into<String>) -> BuildError {
    BuildError::Invalid {
        path: path.to_string(),
        message: message.into(),
    }
}

impl Email {
    /// Builds the integration (reads `auth_password_file`).
    pub fn new(
        path: &str,
        c: &EmailConfig,
        g: &Global,
        timeout: std::time::Duration,
        templates: std::sync::Arc<crate::gotemplate::Templates>,
    ) -> Result<Self, BuildError> {
        super::install_crypto_provider();
        let smarthost = c
            .smarthost
            .clone()
            .or_else(|| g.smtp_smarthost.clone())
            .ok_or_else(|| invalid(path, "no smarthost"))?;
        let (host, port) = split_host_port(&smarthost)
            .ok_or_else(|| invalid(path, format!("smarthost {smarthost:?} is not host:port")))?;
        let from_s = c
            .from
            .clone()
            .or_else(|| g.smtp_from.clone())
            .ok_or_else(|| invalid(path, "no from"))?;
        let from: Mailbox = from_s
            .parse()
            .map_err(|e| invalid(&format!("{path}.from"), format!("{from_s:?}: {e}")))?;
        let mut to = Vec::new();
        for t in c.to.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            to.push(
                t.parse::<Mailbox>()
                    .map_err(|e| invalid(&format!("{path}.to"), format!("{t:?}: {e}")))?,
            );
        }
        if to.is_empty() {
            return Err(invalid(&format!("{path}.to"), "no recipient"));
        }
        let mut tls = TlsParameters::builder(
            c.tls_config
                .as_ref()
                .and_then(|t| t.server_name.clone())
                .unwrap_or_else(|| host.clone()),
        );
        if let Some(t) = &c.tls_config {
            tls = tls.dangerous_accept_invalid_certs(t.insecure_skip_verify);
            if let Some(ca) = &t.ca_file {
                let pem = std::fs::read(ca).map_err(|e| BuildError::SecretFile {
                    path: format!("{path}.tls_config.ca_file"),
                    file: ca.display().to_string(),
                    error: e.to_string(),
                })?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| invalid(&format!("{path}.tls_config.ca_file"), e.to_string()))?;
                tls = tls.add_root_certificate(cert);
            }
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| invalid(&format!("{path}.tls_config"), e.to_string()))?;
        let require_tls = c.require_tls.unwrap_or(g.smtp_require_tls);
        let mode = if port == 465 {
            Tls::Wrapper(tls)
        } else if require_tls {
            Tls::Required(tls)
        } else {
            Tls::None
        };
        let hello = c.hello.clone().unwrap_or_else(|| g.smtp_hello.clone());
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(mode)
            .hello_name(ClientId::Domain(hello))
            .timeout(Some(timeout));
        let user = c
            .auth_username
            .clone()
            .or_else(|| g.smtp_auth_username.clone());
        if let Some(user) = user {
            let pw = read_secret(
                path,
                c.auth_password.as_ref(),
                c.auth_password_file.as_ref(),
            )?
            .or(read_source("global", g.smtp_auth_password.as_ref())?)
            .unwrap_or_default();
            b = b.credentials(Credentials::new(user, pw.expose().to_string()));
        }
        let mut headers = Vec::new();
        let mut subject = None;
        for (k, v) in &c.headers {
            match k.to_ascii_lowercase().as_str() {
                "subject" => subject = Some(v.clone()),
                "to" | "from" => {
                    return Err(invalid(
                        &format!("{path}.headers"),
                        "set to/from with the to and from fields",
                    ))
                }
                _ => headers.push((k.clone(), v.clone())),
            }
        }
        Ok(Email {
            transport: b.build(),
            from,
            to,
            headers,
            subject,
            html: c.html.clone(),
            text: c.text.clone(),
            templates,
        })
    }

    /// The message for `n`.
    pub fn message(&self, n: &Notification) -> Result<Message, SendError> {
        let t = &self.templates;
        let subject = t.field("Subject", self.subject.as_deref(), n, || {
            template::subject(n)
        });
        let thread = format!(
            "<{:016x}.{}@alertd>",
            model::Labels::from_pairs([("k", n.group_key.as_str()), ("r", n.receiver.as_str())])
                .fingerprint()
                .0,
            "group"
        );
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .in_reply_to(thread.clone())
            .references(thread);
        for t in &self.to {
            b = b.to(t.clone());
        }
        for (k, v) in &self.headers {
            let name = HeaderName::new_from_ascii(k.clone())
                .map_err(|e| SendError::Permanent(format!("header {k:?}: {e}")))?;
            b = b.raw_header(HeaderValue::new(name, t.field(k, Some(v), n, String::new)));
        }
        let text = t.field("text", self.text.as_deref(), n, || template::email_text(n));
        let html = t.field("html", self.html.as_deref(), n, || template::email_html(n));
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| SendError::Permanent(format!("building the email: {e}")))
    }

    /// Sends the message for `n`.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let m = self.message(n)?;
        match self.transport.send(m).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("smtp: {e}"))),
            Err(e) => Err(SendError::Retryable {
                message: format!("smtp: {e}"),
                retry_after_ms: None,
            }),
        }
    }
}
