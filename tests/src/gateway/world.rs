//! Test kit: the streaming world most gateway tests start from (verification, an RFB
//! upstream, an organization with an API key and a ready browser session, and a gateway).

use gateway::config::Config;

use super::{Closed, RecordingUpstream, TestGateway, UpstreamMode};
use crate::verification::TestVerification;

/// The browser-session path prefix of the VNC channel (PROTOCOL §2).
pub const BROWSER_PATH: &str = "/v1/stream/vnc/browser_session/";

/// A streaming world: real verification (SQLite), a recording RFB upstream, an organization
/// with an API key, a browser session whose VNC address is the upstream, and a gateway.
pub struct StreamWorld {
    /// The verification service the gateway asks.
    pub verification: TestVerification,
    /// The gateway under test.
    pub gateway: TestGateway,
    /// The session's RFB upstream.
    pub upstream: RecordingUpstream,
    /// The organization id.
    pub org: String,
    /// An API key of the organization.
    pub key: String,
    /// A ready browser session of the organization.
    pub session: String,
}

impl StreamWorld {
    /// A world with the test gateway configuration.
    pub async fn start(mode: UpstreamMode) -> Self {
        Self::start_with(mode, |_| {}).await
    }

    /// A world whose gateway configuration `tweak` adjusts (from [`Config::for_tests`]).
    pub async fn start_with(mode: UpstreamMode, tweak: impl FnOnce(&mut Config)) -> Self {
        let verification = TestVerification::spawn_sqlite().await;
        let upstream = RecordingUpstream::start(mode).await;
        let org = verification.create_org("org").await;
        let key = verification.create_api_key(&org).await;
        let session = verification
            .create_browser_session(&org, Some(&upstream.vnc_url()), Some("http://127.0.0.1:9"))
            .await;
        let mut config = Config::for_tests(verification.url.clone());
        tweak(&mut config);
        let gateway = TestGateway::spawn_with(config).await;
        Self {
            verification,
            gateway,
            upstream,
            org,
            key,
            session,
        }
    }

    /// The VNC path of the world's browser session.
    pub fn path(&self) -> String {
        format!("{BROWSER_PATH}{}", self.session)
    }

    /// Connects a VNC socket to `path?query` and waits for its close.
    pub async fn close_of(&self, path: &str, query: &str) -> Closed {
        self.gateway.connect_vnc(path, query).await.closed().await
    }
}
