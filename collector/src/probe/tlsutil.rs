//! TLS for probes: the handshake accepts any certificate chain (while still checking the
//! handshake signatures), and the chain is verified separately afterwards at the injected clock's
//! time — so an expired or untrusted certificate still reports its expiry dates.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use model::Clock;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::TlsConfig;

/// Handshake verifier that accepts every chain but checks the handshake signatures.
#[derive(Debug)]
struct AcceptChain(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A prepared TLS client: handshake config plus the separate chain verifier.
#[derive(Debug, Clone)]
pub(crate) struct TlsClient {
    config: Arc<ClientConfig>,
    verifier: Option<Arc<WebPkiServerVerifier>>,
    /// Overrides the SNI / verified name.
    pub server_name: Option<String>,
    clock: Arc<dyn Clock>,
}

/// What a completed handshake showed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TlsInfo {
    /// `TLS 1.2`, `TLS 1.3` (blackbox's `probe_tls_version_info` values).
    pub version: String,
    /// `not_after` of every presented certificate, seconds since the epoch, leaf first.
    pub expiries: Vec<f64>,
    /// `Ok` when the chain verified (or verification is skipped), else why not.
    pub verified: Result<(), String>,
    /// Whether verification was skipped (`insecure_skip_verify`).
    pub skipped: bool,
    /// The leaf certificate as blackbox's `probe_ssl_last_chain_info` labels it.
    pub leaf: Option<LeafInfo>,
}

/// The leaf certificate's identity, in blackbox_exporter's (Go's) notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeafInfo {
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint_sha256: String,
    /// Subject as Go's `pkix.Name.String` writes it (`CN=a,O=b`).
    pub subject: String,
    /// Issuer, likewise.
    pub issuer: String,
    /// DNS subject alternative names, comma-separated.
    pub subjectalternative: String,
}

impl TlsInfo {
    /// The earliest expiry of the presented chain.
    pub(crate) fn earliest_expiry(&self) -> Option<f64> {
        self.expiries.iter().copied().reduce(f64::min)
    }
}

fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The verifier over the Mozilla roots, built once and shared by every probe without `ca_file`.
fn default_verifier() -> Result<Arc<WebPkiServerVerifier>, String> {
    static V: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();
    V.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| format!("tls_config: {e}"))
    })
    .clone()
}

/// Handshake configs without a client certificate, shared per ALPN list (thousands of probes
/// must not each hold their own).
fn shared_config(alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, String> {
    type Cache = Mutex<HashMap<Vec<Vec<u8>>, Arc<ClientConfig>>>;
    static C: OnceLock<Cache> = OnceLock::new();
    let key: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
    let mut cache = C
        .get_or_init(Cache::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(c) = cache.get(&key) {
        return Ok(c.clone());
    }
    let mut config = handshake_builder()?.with_no_client_auth();
    config.alpn_protocols = key.clone();
    let config = Arc::new(config);
    cache.insert(key, config.clone());
    Ok(config)
}

fn handshake_builder(
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, String> {
    let provider = provider();
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls_config: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptChain(provider))))
}

fn load_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{what} {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} {}: {e}", path.display()))
}

impl TlsClient {
    /// Builds a client from a Prometheus-style `tls_config` (files are read now).
    pub(crate) fn new(
        cfg: Option<&TlsConfig>,
        alpn: &[&[u8]],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let default = TlsConfig::default();
        let cfg = cfg.unwrap_or(&default);
        let verifier = match (&cfg.ca_file, cfg.insecure_skip_verify) {
            (_, true) => None,
            (None, false) => Some(default_verifier()?),
            (Some(path), false) => {
                let certs = load_certs(path, "ca_file")?;
                if certs.is_empty() {
                    return Err(format!("ca_file {}: no certificate found", path.display()));
                }
                let mut roots = RootCertStore::empty();
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                }
                Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| format!("tls_config: {e}"))?,
                )
            }
        };
        let config = match (&cfg.cert_file, &cfg.key_file) {
            (Some(c), Some(k)) => {
                let certs = load_certs(c, "cert_file")?;
                let key = PrivateKeyDer::from_pem_file(k)
                    .map_err(|e| format!("key_file {}: {e}", k.display()))?;
                let mut config = handshake_builder()?
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| format!("client certificate: {e}"))?;
                config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
                Arc::new(config)
            }
            (None, None) => shared_config(alpn)?,
            _ => return Err("cert_file and key_file must be set together".to_string()),
        };
        Ok(TlsClient {
            config,
            verifier,
            server_name: cfg.server_name.clone(),
            clock,
        })
    }

    /// Performs the handshake over `io` for `host` (or the configured server name) and verifies
    /// the chain separately. Errors are handshake failures.
    pub(crate) async fn connect<IO>(
        &self,
        host: &str,
        io: IO,
    ) -> Result<(tokio_rustls::client::TlsStream<IO>, TlsInfo), String>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|e| format!("invalid server name {name:?}: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let stream = connector
            .connect(server_name.clone(), io)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let (_, conn) = stream.get_ref();
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".to_string(),
        };
        let certs: Vec<CertificateDer<'static>> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let expiries = certs.iter().filter_map(|c| not_after(c)).collect();
        let verified = match (&self.verifier, certs.split_first()) {
            (None, _) => Ok(()),
            (Some(_), None) => Err("server sent no certificate".to_string()),
            (Some(v), Some((leaf, rest))) => {
                let now_ms = u64::try_from(self.clock.now_ms()).unwrap_or(0);
                let now = UnixTime::since_unix_epoch(std::time::Duration::from_millis(now_ms));
                v.verify_server_cert(leaf, rest, &server_name, &[], now)
                    .map(|_| ())
                    .map_err(|e| format!("certificate verification failed: {e}"))
            }
        };
        let info = TlsInfo {
            version,
            expiries,
            verified,
            skipped: self.verifier.is_none(),
            leaf: certs.first().and_then(leaf_info),
        };
        Ok((stream, info))
    }
}

/// `notAfter` of a DER certificate in seconds since the epoch.
pub(crate) fn not_after(der: &CertificateDer<'_>) -> Option<f64> {
    x509_parser::parse_x509_certificate(der.as_ref())
        .ok()
        .map(|(_, c)| c.validity().not_after.timestamp() as f64)
}

/// The leaf's identity labels (`None` when the certificate does not parse).
pub(crate) fn leaf_info(der: &CertificateDer<'_>) -> Option<LeafInfo> {
    let (_, c) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    let fingerprint_sha256 = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = c.subject_alternative_name() {
        for n in &ext.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                sans.push(d.to_string());
            }
        }
    }
    Some(LeafInfo {
        fingerprint_sha256,
        subject: go_name(c.subject()),
        issuer: go_name(c.issuer()),
        subjectalternative: sans.join(","),
    })
}

/// A distinguished name as Go's `pkix.Name.String()` writes it: the attributes Go knows in its
/// fixed order (C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER; values of one type in
/// one multi-valued RDN), other attributes before them as `OID=#<DER hex>`, and the whole
/// sequence reversed, `,`-separated, values escaped as RFC 2253.
pub(crate) fn go_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    const KNOWN: [(&str, &str); 9] = [
        ("2.5.4.6", "C"),
        ("2.5.4.8", "ST"),
        ("2.5.4.7", "L"),
        ("2.5.4.9", "STREET"),
        ("2.5.4.17", "POSTALCODE"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.3", "CN"),
        ("2.5.4.5", "SERIALNUMBER"),
    ];
    let mut known: Vec<Vec<String>> = vec![Vec::new(); KNOWN.len()];
    let mut rdns: Vec<String> = Vec::new();
    for atv in name.iter_attributes() {
        let oid = atv.attr_type().to_id_string();
        let value = atv
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|_| String::from_utf8_lossy(atv.attr_value().data).into_owned());
        match KNOWN.iter().position(|(o, _)| *o == oid) {
            Some(i) => known[i].push(value),
            None => rdns.push(format!("{oid}=#{}", der_string_hex(&value))),
        }
    }
    for (i, values) in known.iter().enumerate() {
        if !values.is_empty() {
            let t = KNOWN[i].1;
            let parts: Vec<String> = values
                .iter()
                .map(|v| format!("{t}={}", go_escape(v)))
                .collect();
            rdns.push(parts.join("+"));
        }
    }
    rdns.reverse();
    rdns.join(",")
}

/// Go's `asn1.Marshal` of a string (PrintableString if it can be, else UTF8String), in hex.
fn der_string_hex(v: &str) -> String {
    let printable = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let mut der = vec![if printable { 0x13 } else { 0x0c }];
    let len = v.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        der.push(0x80 | bytes.len() as u8);
        der.extend(bytes);
    }
    der.extend(v.as_bytes());
    der.iter().map(|b| format!("{b:02x}")).collect()
}

fn go_escape(v: &str) -> String {
    let n = v.chars().count();
    let mut out = String::with_capacity(v.len());
    for (k, c) in v.chars().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k + 1 == n,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Pushes the certificate series shared by the `http` and `tls` probes.
pub(crate) fn push_tls_series(b: &mut super::SeriesBuf<'_>, info: &TlsInfo) {
    if let Some(e) = info.earliest_expiry() {
        b.push("probe_ssl_earliest_cert_expiry", &[], e);
        // One presented chain: its last expiry is when the chain as a whole stops verifying.
        b.push("probe_ssl_last_chain_expiry_timestamp_seconds", &[], e);
    }
    b.push("probe_tls_version_info", &[("version", &info.version)], 1.0);
    if let Some(l) = &info.leaf {
        b.push(
            "probe_ssl_last_chain_info",
            &[
                ("fingerprint_sha256", &l.fingerprint_sha256),
                ("subject", &l.subject),
                ("issuer", &l.issuer),
                ("subjectalternative", &l.subjectalternative),
            ],
            1.0,
        );
    }
    if !info.skipped {
        b.push(
            "probe_ssl_chain_valid",
            &[],
            if info.verified.is_ok() { 1.0 } else { 0.0 },
        );
    }
}
