//! `api.tls_config`: alertd serves its API over TLS (rustls) with a certificate from PEM files;
//! checked with `openssl s_client`, which verifies the chain against the test CA.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{alertctl, free_port, minimal_config, spawn, wait_for};

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One HTTPS request through `openssl s_client` (verifying the certificate); the response.
fn https_get(port: u16, ca: &str, path: &str) -> Option<String> {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
            "-verify_hostname",
            "localhost",
            "-CAfile",
            ca,
            "-verify_return_error",
            "-quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    child.stdin.take()?.write_all(req.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_api_speaks_tls_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).display().to_string();
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=alertd test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("leaf.csr"),
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-out",
        &p("cert.pem"),
        "-days",
        "1",
        "-extfile",
        &p("leaf.ext"),
    ]);

    let port = free_port();
    let tls = format!(
        "  tls_config: {{ cert_file: {:?}, key_file: {:?} }}\n",
        p("cert.pem"),
        p("key.pem")
    );
    let config = minimal_config(port, "").replace(
        &format!("  listen: 127.0.0.1:{port}\n"),
        &format!("  listen: 127.0.0.1:{port}\n{tls}"),
    );
    assert!(config.contains("tls_config"), "{config}");
    let d = spawn(port, &config, &[]);
    let ok = wait_for(Duration::from_secs(20), || {
        https_get(port, &p("ca.pem"), "/-/healthy").filter(|r| r.starts_with("HTTP/1.1 200"))
    });
    let r = ok.unwrap_or_else(|| panic!("no HTTPS answer\n{}", d.log()));
    assert!(r.contains("alertd is Healthy."), "{r}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    assert!(d
        .http("GET", "/-/healthy")
        .map_or(true, |r| r.status != 200));
    // A client that trusts another CA fails the handshake.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("other.key"),
        "-out",
        &p("other.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=another CA",
    ]);
    assert!(https_get(port, &p("other.pem"), "/-/healthy").is_none());

    // A key that does not match the certificate is a config error with its position.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "api:\n  tls_config: {{ cert_file: {:?}, key_file: {:?} }}\n",
            p("cert.pem"),
            p("ca.key")
        ),
    )
    .unwrap();
    let (code, out, _) = alertctl(&["check", "config", bad.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad.yaml:2:15: `api.tls_config`:") && out.contains("usable certificate"),
        "{out}"
    );
}
