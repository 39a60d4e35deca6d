//! Authenticate and CreateStreamTicket: API keys, bearer JWTs, one-use tickets, service token.

use proto::verification::v1 as pb;
use proto::verification::v1::authenticate_request::Credential;
use tonic::Code;
use verification::domain::credentials::{sign_bearer, Claims};

use super::{entity, expect_code, live_session};
use crate::common::{TestApp, TestDb, JWT_SECRET};

async fn authenticate(
    app: &TestApp,
    credential: Credential,
) -> Result<pb::AuthenticateResponse, tonic::Status> {
    let request = pb::AuthenticateRequest {
        credential: Some(credential),
    };
    app.client()
        .authenticate(request)
        .await
        .map(|r| r.into_inner())
}

async fn ticket(
    app: &TestApp,
    org: &str,
    kind: pb::EntityKind,
    id: &str,
    scope: pb::Scope,
) -> Result<pb::CreateStreamTicketResponse, tonic::Status> {
    let request = pb::CreateStreamTicketRequest {
        organization_id: org.into(),
        entity: Some(entity(kind, id)),
        scope: scope as i32,
        revocable: String::new(),
    };
    app.client()
        .create_stream_ticket(request)
        .await
        .map(|r| r.into_inner())
}

pub async fn api_keys_authenticate_until_revoked(db: TestDb) {
    // Arrange
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let key = app.admin.create_api_key(&org).await.unwrap();
    // Act / Assert
    let who = authenticate(&app, Credential::ApiKey(key.clone()))
        .await
        .unwrap();
    assert_eq!(who.organization_id, org);
    assert_eq!(who.credential_kind(), pb::CredentialKind::ApiKey);
    assert!(who.ticket.is_none() && who.expires_at.is_none());
    expect_code(
        authenticate(&app, Credential::ApiKey("bsk_wrong".into())).await,
        Code::Unauthenticated,
    );
    app.admin.revoke_api_key(&key).await.unwrap();
    expect_code(
        authenticate(&app, Credential::ApiKey(key)).await,
        Code::Unauthenticated,
    );
}

pub async fn bearer_tokens_need_the_secret_and_an_unexpired_exp(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let now = chrono::Utc::now().timestamp();
    let good = sign_bearer(
        &Claims {
            sub: org.clone(),
            exp: now + 300,
        },
        JWT_SECRET.as_bytes(),
    );
    let who = authenticate(&app, Credential::BearerToken(format!("Bearer {good}")))
        .await
        .unwrap();
    assert_eq!(who.organization_id, org);
    assert_eq!(who.credential_kind(), pb::CredentialKind::Bearer);
    assert_eq!(who.expires_at.unwrap().seconds, now + 300);
    assert!(
        authenticate(&app, Credential::BearerToken(good))
            .await
            .is_ok(),
        "prefix is optional"
    );

    let expired = sign_bearer(
        &Claims {
            sub: org.clone(),
            exp: now - 120,
        },
        JWT_SECRET.as_bytes(),
    );
    expect_code(
        authenticate(&app, Credential::BearerToken(expired)).await,
        Code::Unauthenticated,
    );
    let forged = sign_bearer(
        &Claims {
            sub: org,
            exp: now + 300,
        },
        b"another-secret",
    );
    expect_code(
        authenticate(&app, Credential::BearerToken(forged)).await,
        Code::Unauthenticated,
    );
    let unknown_org = sign_bearer(
        &Claims {
            sub: "org_nobody".into(),
            exp: now + 300,
        },
        JWT_SECRET.as_bytes(),
    );
    expect_code(
        authenticate(&app, Credential::BearerToken(unknown_org)).await,
        Code::Unauthenticated,
    );
}

pub async fn authenticate_without_a_credential_is_invalid_argument(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let request = pb::AuthenticateRequest { credential: None };
    expect_code(
        app.client().authenticate(request).await,
        Code::InvalidArgument,
    );
    let huge = "k".repeat(10_000);
    expect_code(
        authenticate(&app, Credential::ApiKey(huge)).await,
        Code::InvalidArgument,
    );
}

pub async fn a_ticket_opens_exactly_once_and_names_its_entity_and_scope(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let minted = ticket(
        &app,
        &org,
        pb::EntityKind::BrowserSession,
        &session,
        pb::Scope::View,
    )
    .await
    .unwrap();
    let expires = minted.expires_at.unwrap().seconds - chrono::Utc::now().timestamp();
    assert!(
        (55..=61).contains(&expires),
        "default TTL is 60 s, got {expires}"
    );
    assert!(
        !minted.ticket.contains(['+', '/', '=']),
        "URL-safe without padding"
    );

    let who = authenticate(&app, Credential::Ticket(minted.ticket.clone()))
        .await
        .unwrap();
    assert_eq!(who.organization_id, org);
    assert_eq!(who.credential_kind(), pb::CredentialKind::Ticket);
    let grant = who.ticket.unwrap();
    assert_eq!(
        grant.entity.clone().unwrap(),
        entity(pb::EntityKind::BrowserSession, &session)
    );
    assert_eq!(grant.scope(), pb::Scope::View);
    expect_code(
        authenticate(&app, Credential::Ticket(minted.ticket)).await,
        Code::Unauthenticated,
    );

    // A ticket bound to one entity never names another: the gateway compares the grant.
    let other = live_session(&app, &org).await;
    let minted = ticket(
        &app,
        &org,
        pb::EntityKind::BrowserSession,
        &other,
        pb::Scope::Control,
    )
    .await
    .unwrap();
    let grant = authenticate(&app, Credential::Ticket(minted.ticket))
        .await
        .unwrap()
        .ticket
        .unwrap();
    assert_ne!(grant.entity.clone().unwrap().id, session);
    assert_eq!(grant.scope(), pb::Scope::Control);
}

pub async fn an_expired_ticket_is_refused(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| {
        c.ticket_ttl = std::time::Duration::from_millis(200)
    })
    .await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let minted = ticket(
        &app,
        &org,
        pb::EntityKind::BrowserSession,
        &session,
        pb::Scope::View,
    )
    .await
    .unwrap();
    // Expiry is the behaviour under test: wait past it.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    expect_code(
        authenticate(&app, Credential::Ticket(minted.ticket)).await,
        Code::Unauthenticated,
    );
}

pub async fn tickets_are_minted_only_for_entities_of_the_organization(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let acme = app.admin.create_org("acme").await.unwrap();
    let other = app.admin.create_org("other").await.unwrap();
    let session = live_session(&app, &acme).await;
    let theirs = ticket(
        &app,
        &other,
        pb::EntityKind::BrowserSession,
        &session,
        pb::Scope::View,
    )
    .await;
    let missing = ticket(
        &app,
        &other,
        pb::EntityKind::BrowserSession,
        "pbs_missing",
        pb::Scope::View,
    )
    .await;
    assert_eq!(
        expect_code(theirs, Code::NotFound),
        expect_code(missing, Code::NotFound)
    );
    let run = app
        .admin
        .create_workflow_run(&acme, Some(&session), "running")
        .await
        .unwrap();
    assert!(ticket(
        &app,
        &acme,
        pb::EntityKind::WorkflowRun,
        &run,
        pb::Scope::Control
    )
    .await
    .is_ok());
    let unspecified = ticket(
        &app,
        &acme,
        pb::EntityKind::BrowserSession,
        &session,
        pb::Scope::Unspecified,
    )
    .await;
    expect_code(unspecified, Code::InvalidArgument);
    let wrong_prefix = ticket(&app, &acme, pb::EntityKind::Task, &session, pb::Scope::View).await;
    expect_code(wrong_prefix, Code::InvalidArgument);
}

pub async fn the_service_token_is_required_when_configured(db: TestDb) {
    let app =
        TestApp::spawn_with(&db, |c| c.service_token = Some("s3cret".to_owned().into())).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let key = app.admin.create_api_key(&org).await.unwrap();
    expect_code(
        authenticate(&app, Credential::ApiKey(key.clone())).await,
        Code::Unauthenticated,
    );
    let channel = crate::common::channel(app.addr).await;
    let token =
        service_kit::service_token::AttachToken::new(Some(&"s3cret".to_owned().into())).unwrap();
    let mut client = pb::verification_client::VerificationClient::with_interceptor(channel, token);
    let request = pb::AuthenticateRequest {
        credential: Some(Credential::ApiKey(key)),
    };
    assert_eq!(
        client
            .authenticate(request)
            .await
            .unwrap()
            .into_inner()
            .organization_id,
        org
    );
}

pub async fn concurrent_uses_of_one_ticket_let_exactly_one_through(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let minted = ticket(
        &app,
        &org,
        pb::EntityKind::BrowserSession,
        &session,
        pb::Scope::Control,
    )
    .await
    .unwrap();
    let attempts = (0..8).map(|_| {
        let mut client = app.client();
        let credential = Credential::Ticket(minted.ticket.clone());
        tokio::spawn(async move {
            client
                .authenticate(pb::AuthenticateRequest {
                    credential: Some(credential),
                })
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let codes: Vec<Code> = results
        .into_iter()
        .map(|r| r.unwrap().map(|_| Code::Ok).unwrap_or_else(|s| s.code()))
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Code::Ok).count(),
        1,
        "{codes:?}"
    );
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::Ok | Code::Unauthenticated)),
        "{codes:?}"
    );
}
