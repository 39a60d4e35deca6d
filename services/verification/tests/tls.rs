//! `--tls-cert`/`--tls-key`: the listener serves gRPC over TLS (rustls) and a client that
//! trusts the certificate can call it. The certificate is made by the `openssl` CLI.

mod common;

use std::process::Command;

use proto::verification::v1 as pb;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use common::{TestApp, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_over_tls_when_given_a_certificate() {
    // Arrange: a self-signed certificate for localhost.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            // rustls refuses a CA certificate as the server's own.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let made = match made {
        Ok(made) => made,
        Err(error) => {
            test_kit::skip::skip(&format!("openssl not available: {error}"));
            return;
        }
    };
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let db = TestDb::sqlite().await.unwrap();
    let app = TestApp::spawn_with(&db, |c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await;
    let org = app.admin.create_org("acme").await.unwrap();
    let api_key = app.admin.create_api_key(&org).await.unwrap();
    // Act
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&cert).unwrap()))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{}", app.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::verification_client::VerificationClient::new(channel);
    let credential = pb::authenticate_request::Credential::ApiKey(api_key);
    let who = client
        .authenticate(pb::AuthenticateRequest {
            credential: Some(credential),
        })
        .await
        .unwrap();
    // Assert
    assert_eq!(who.into_inner().organization_id, org);
    let plaintext = Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        let mut client = pb::verification_client::VerificationClient::new(channel);
        let request = pb::AuthenticateRequest { credential: None };
        assert!(
            client.authenticate(request).await.is_err(),
            "plaintext is refused"
        );
    }
}
