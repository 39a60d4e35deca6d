//! Organization-scoped caller tokens (`--org-tokens`): a backend holding one may name only
//! its organizations on the cdp-executor and on the gateway's control gRPC
//! (PERMISSION_DENIED otherwise), while the service token still acts for every organization
//! and a call without a token is UNAUTHENTICATED. Real verification and a real executor.

use integration_tests::executor::{ExecutorOptions, TestExecutor};
use integration_tests::gateway::TestGateway;
use integration_tests::verification::TestVerification;
use proto::cdp::v1::cdp_executor_client::CdpExecutorClient;
use proto::cdp::v1::{BrowserTarget, GetUrlRequest};
use proto::control::v1::control_client::ControlClient;
use proto::control::v1::{GetControlRequest, WatchControlRequest};
use secrecy::SecretString;
use service_kit::org_tokens::OrgTokens;
use service_kit::service_token::AttachToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Code;

const SERVICE_TOKEN: &str = "service-token-8c2d41f0";
const AGENT_TOKEN: &str = "agent-token-of-org-a-77e1";

/// A channel to `url` whose calls carry `token` (or none).
async fn channel(url: &str, token: Option<&str>) -> InterceptedService<Channel, AttachToken> {
    let channel = Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let secret = token.map(|t| SecretString::from(t.to_owned()));
    InterceptedService::new(channel, AttachToken::new(secret.as_ref()).unwrap())
}

fn get_url(org: &str, session: &str) -> GetUrlRequest {
    GetUrlRequest {
        target: Some(BrowserTarget {
            organization_id: org.into(),
            browser_session_id: session.into(),
            cdp_url: String::new(),
        }),
    }
}

/// The code a call failed with, `None` when it succeeded.
fn code<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Option<Code> {
    answer.err().map(|status| status.code())
}

#[tokio::test]
async fn an_org_token_acts_for_its_organizations_only() {
    // Arrange
    let v = TestVerification::spawn_sqlite_with(|c| {
        c.service_token = Some(SERVICE_TOKEN.to_owned().into());
    })
    .await;
    let (org_a, org_b) = (v.create_org("a").await, v.create_org("b").await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("org-tokens");
    std::fs::write(&file, format!("# agents\n{AGENT_TOKEN} {org_a}\n")).unwrap();
    let executor = TestExecutor::spawn(
        &v.url,
        ExecutorOptions {
            service_token: Some(SERVICE_TOKEN.into()),
            extra_args: vec!["--org-tokens".into(), file.display().to_string()],
            ..ExecutorOptions::default()
        },
    )
    .await;
    let mut config = gateway::config::Config::for_tests(v.url.clone());
    config.service_token = Some(SERVICE_TOKEN.to_owned().into());
    config.org_tokens = Some(OrgTokens::load(&file).unwrap());
    let gateway = TestGateway::spawn_with(config).await;
    let control_url = format!("http://{}", gateway.grpc_addr);
    let mut agent = CdpExecutorClient::new(channel(&executor.url, Some(AGENT_TOKEN)).await);
    let mut service = CdpExecutorClient::new(channel(&executor.url, Some(SERVICE_TOKEN)).await);
    let mut anonymous = CdpExecutorClient::new(channel(&executor.url, None).await);
    let mut agent_control = ControlClient::new(channel(&control_url, Some(AGENT_TOKEN)).await);
    // Act
    let other_org = code(agent.get_url(get_url(&org_b, "pbs_x")).await);
    let own_org = code(agent.get_url(get_url(&org_a, "pbs_x")).await);
    let by_service = code(service.get_url(get_url(&org_b, "pbs_x")).await);
    let no_token = code(anonymous.get_url(get_url(&org_a, "pbs_x")).await);
    let control_other = code(
        agent_control
            .get_control(GetControlRequest {
                organization_id: org_b.clone(),
                browser_session_id: "pbs_x".into(),
            })
            .await,
    );
    let control_own = code(
        agent_control
            .get_control(GetControlRequest {
                organization_id: org_a.clone(),
                browser_session_id: "pbs_x".into(),
            })
            .await,
    );
    let watch_other = code(
        agent_control
            .watch_control(WatchControlRequest {
                organization_id: org_b.clone(),
                browser_session_id: "pbs_x".into(),
            })
            .await,
    );
    // Assert
    assert_eq!(other_org, Some(Code::PermissionDenied));
    assert_eq!(own_org, Some(Code::NotFound), "verification was asked");
    assert_eq!(
        by_service,
        Some(Code::NotFound),
        "the service token acts for all"
    );
    assert_eq!(no_token, Some(Code::Unauthenticated));
    assert_eq!(control_other, Some(Code::PermissionDenied));
    assert_eq!(control_own, None, "its own session's control state");
    assert_eq!(watch_other, Some(Code::PermissionDenied));
}
