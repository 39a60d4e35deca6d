//! CreateStreamLink, CreateStreamTicketFromLink, RevokeStreamLink and CheckRevoked: a link buys
//! tickets of its entity and scope until revoked, tickets name the credential behind them, and
//! one CheckRevoked call names every revoked one (API keys too).

use proto::verification::v1 as pb;
use proto::verification::v1::authenticate_request::Credential;
use tonic::Code;

use super::{entity, expect_code, live_session};
use crate::common::{TestApp, TestDb};

fn link_request(
    org: &str,
    session: &str,
    scope: pb::Scope,
    ttl: u64,
) -> pb::CreateStreamLinkRequest {
    pb::CreateStreamLinkRequest {
        organization_id: org.into(),
        entity: Some(entity(pb::EntityKind::BrowserSession, session)),
        scope: scope as i32,
        ttl_seconds: ttl,
    }
}

async fn revoked(app: &TestApp, ids: &[&str]) -> Vec<String> {
    let ids = ids.iter().map(|s| s.to_string()).collect();
    let mut revoked = app
        .client()
        .check_revoked(pb::CheckRevokedRequest { ids })
        .await
        .unwrap()
        .into_inner()
        .revoked;
    revoked.sort();
    revoked
}

async fn from_link(
    app: &TestApp,
    secret: &str,
) -> Result<pb::CreateStreamTicketFromLinkResponse, tonic::Status> {
    app.client()
        .create_stream_ticket_from_link(pb::CreateStreamTicketFromLinkRequest {
            secret: secret.into(),
        })
        .await
        .map(|r| r.into_inner())
}

pub async fn a_link_mints_tickets_of_its_scope_until_revoked_and_check_revoked_names_it(
    db: TestDb,
) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let link = app
        .client()
        .create_stream_link(link_request(&org, &session, pb::Scope::View, 600))
        .await
        .unwrap()
        .into_inner();
    assert!(link.link_id.starts_with("lnk_") && link.secret.starts_with("bsl_"));
    let minted = from_link(&app, &link.secret).await.unwrap();
    assert_eq!(minted.organization_id, org);
    let grant = minted.grant.unwrap();
    assert_eq!(grant.scope, pb::Scope::View as i32);
    assert_eq!(grant.entity.unwrap().id, session);
    // The ticket names the link as the credential behind it.
    let who = app
        .client()
        .authenticate(pb::AuthenticateRequest {
            credential: Some(Credential::Ticket(minted.ticket)),
        })
        .await
        .unwrap()
        .into_inner();
    let id = format!("link:{}", link.link_id);
    assert_eq!(who.revocable, id);
    assert!(revoked(&app, &[&id]).await.is_empty());
    app.client()
        .revoke_stream_link(pb::RevokeStreamLinkRequest {
            organization_id: org.clone(),
            link_id: link.link_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        revoked(&app, &[&id, "link:lnk_gone", "bogus"]).await,
        ["bogus", &id, "link:lnk_gone"]
    );
    expect_code(from_link(&app, &link.secret).await, Code::Unauthenticated);
    expect_code(
        app.client()
            .revoke_stream_link(pb::RevokeStreamLinkRequest {
                organization_id: org,
                link_id: link.link_id,
            })
            .await,
        Code::NotFound,
    );
}

pub async fn tickets_minted_with_an_api_key_are_revoked_with_it(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let session = live_session(&app, &org).await;
    let key = app.admin.create_api_key(&org).await.unwrap();
    let who = app
        .client()
        .authenticate(pb::AuthenticateRequest {
            credential: Some(Credential::ApiKey(key.clone())),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(who.revocable.starts_with("key:") && who.revocable.len() == 4 + 64);
    assert!(!who.revocable.contains(&key), "never the key itself");
    let ticket = app
        .client()
        .create_stream_ticket(pb::CreateStreamTicketRequest {
            organization_id: org.clone(),
            entity: Some(entity(pb::EntityKind::BrowserSession, &session)),
            scope: pb::Scope::Control as i32,
            revocable: who.revocable.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let by_ticket = app
        .client()
        .authenticate(pb::AuthenticateRequest {
            credential: Some(Credential::Ticket(ticket.ticket)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_ticket.revocable, who.revocable);
    assert!(revoked(&app, &[&who.revocable]).await.is_empty());
    app.admin.revoke_api_key(&key).await.unwrap();
    assert_eq!(
        revoked(&app, &[&who.revocable]).await,
        [who.revocable.as_str()]
    );
    // A malformed origin is refused at minting.
    expect_code(
        app.client()
            .create_stream_ticket(pb::CreateStreamTicketRequest {
                organization_id: org,
                entity: Some(entity(pb::EntityKind::BrowserSession, &session)),
                scope: pb::Scope::Control as i32,
                revocable: "key:not-hex".into(),
            })
            .await,
        Code::InvalidArgument,
    );
}

pub async fn links_are_bounded_and_scoped_to_their_organization(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let org = app.admin.create_org("acme").await.unwrap();
    let other = app.admin.create_org("other").await.unwrap();
    let session = live_session(&app, &org).await;
    for ttl in [0, 7 * 24 * 3600 + 1] {
        expect_code(
            app.client()
                .create_stream_link(link_request(&org, &session, pb::Scope::Control, ttl))
                .await,
            Code::InvalidArgument,
        );
    }
    expect_code(
        app.client()
            .create_stream_link(link_request(&other, &session, pb::Scope::Control, 60))
            .await,
        Code::NotFound,
    );
    let link = app
        .client()
        .create_stream_link(link_request(&org, &session, pb::Scope::Control, 60))
        .await
        .unwrap()
        .into_inner();
    // Another organization cannot revoke it.
    expect_code(
        app.client()
            .revoke_stream_link(pb::RevokeStreamLinkRequest {
                organization_id: other,
                link_id: link.link_id,
            })
            .await,
        Code::NotFound,
    );
    expect_code(from_link(&app, "bsl_unknown").await, Code::Unauthenticated);
    let too_many = pb::CheckRevokedRequest {
        ids: vec!["link:x".into(); 10_001],
    };
    expect_code(
        app.client().check_revoked(too_many).await,
        Code::InvalidArgument,
    );
}
