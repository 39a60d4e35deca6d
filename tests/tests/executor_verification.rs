//! The executor checks ownership and finds the CDP endpoint through a real verification
//! service: the owner's session works, another organization's is NOT_FOUND, a finished
//! session is FAILED_PRECONDITION, an unknown one NOT_FOUND.

use integration_tests::executor::{ExecutorOptions, TestExecutor};
use integration_tests::node::{chromium_or_skip, Chromium, ChromiumOptions};
use integration_tests::verification::TestVerification;
use proto::cdp::v1::{BrowserTarget, GetUrlRequest};
use tonic::Code;

fn target(org: &str, session: &str) -> Option<BrowserTarget> {
    Some(BrowserTarget {
        organization_id: org.into(),
        browser_session_id: session.into(),
        cdp_url: String::new(),
    })
}

#[tokio::test]
async fn executor_acts_only_on_live_sessions_of_the_callers_organization() {
    if !chromium_or_skip() {
        return;
    }
    let chromium = Chromium::launch(ChromiumOptions::default())
        .await
        .expect("chromium starts");
    let v = TestVerification::spawn_sqlite().await;
    let org = v.create_org("acme").await;
    let other = v.create_org("other").await;
    let pbs = v
        .create_browser_session(&org, None, Some(&chromium.cdp_http_url()))
        .await;
    let exec = TestExecutor::spawn(&v.url, ExecutorOptions::default()).await;
    let mut client = exec.client().await;

    let url = client
        .get_url(GetUrlRequest {
            target: target(&org, &pbs),
        })
        .await
        .unwrap()
        .into_inner()
        .url;
    assert_eq!(url, "about:blank");
    let status = client
        .get_url(GetUrlRequest {
            target: target(&other, &pbs),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .get_url(GetUrlRequest {
            target: target(&org, "pbs_does_not_exist"),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    v.set_status("browser_session", &pbs, "completed").await;
    let status = client
        .get_url(GetUrlRequest {
            target: target(&org, &pbs),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // A session without a CDP address yet is not usable either.
    let unprovisioned = v.create_browser_session(&org, None, None).await;
    let status = client
        .get_url(GetUrlRequest {
            target: target(&org, &unprovisioned),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // An untrusted caller cannot supply its own endpoint.
    let mut own = target(&org, &pbs);
    own.as_mut().unwrap().cdp_url = chromium.cdp_http_url();
    let status = client
        .get_url(GetUrlRequest { target: own })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    exec.shutdown().await;
    v.shutdown().await;
}

#[tokio::test]
async fn the_executor_asks_an_https_verification_when_grpc_ca_trusts_it() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        return integration_tests::node::skip("openssl is not installed");
    }
    // Arrange: verification over TLS with a certificate for localhost from a test CA.
    let dir = tempfile::tempdir().unwrap();
    let v = TestVerification::spawn_sqlite_tls(dir.path()).await;
    let org = v.create_org("acme").await;
    let https = v.https_url();
    let ca = dir.path().join("ca.pem").display().to_string();
    let trusting = ExecutorOptions {
        extra_args: vec!["--grpc-ca".into(), ca],
        ..ExecutorOptions::default()
    };
    let exec = TestExecutor::spawn(&https, trusting).await;
    let untrusting = TestExecutor::spawn(&https, ExecutorOptions::default()).await;
    let unknown = || GetUrlRequest {
        target: target(&org, "pbs_does_not_exist"),
    };
    // Act
    let answered = exec.client().await.get_url(unknown()).await.unwrap_err();
    let unreached = untrusting
        .client()
        .await
        .get_url(unknown())
        .await
        .unwrap_err();
    // Assert
    assert_eq!(
        answered.code(),
        Code::NotFound,
        "verification answered over TLS"
    );
    assert_eq!(
        unreached.code(),
        Code::Unavailable,
        "a certificate no root vouches for is not accepted: {unreached:?}"
    );
}
