//! Certificates for TLS tests, made by the `openssl` CLI: a test CA and a server certificate
//! it signed, so clients are tested against a chain, as in production.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

async fn openssl(args: &[&str], dir: &Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A test CA (`ca.pem`) and a server certificate it signed for `localhost` and 127.0.0.1
/// (`cert.pem`, `key.pem`), written into `dir`. (A self-signed certificate is a CA certificate,
/// which TLS clients refuse as a server certificate.)
pub async fn certificates(dir: &Path) {
    let rsa = ["-newkey", "rsa:2048", "-nodes"];
    let ca = [
        "req",
        "-x509",
        "-days",
        "1",
        "-subj",
        "/CN=browser-stream test CA",
    ];
    let ca_out = ["-keyout", "ca.key", "-out", "ca.pem"];
    openssl(&[&ca[..], &rsa, &ca_out].concat(), dir).await;
    let csr = [
        "req",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "cert.csr",
    ];
    openssl(&[&csr[..], &rsa].concat(), dir).await;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let sign = [
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ];
    openssl(&sign, dir).await;
}
