//! Verification calls behind viewer links and revocation: mint and revoke a link, mint a
//! ticket from a link's secret, and ask which credentials of open sockets were revoked.

use std::time::Duration;

use proto::verification::v1 as pb;
use secrecy::{ExposeSecret, SecretString};

use super::{grant_from_pb, TicketGrant, Verifier, VerifyError};
use crate::entity::EntityKind;

/// A minted link.
#[derive(Debug, Clone)]
pub struct MintedLink {
    /// `lnk_…`.
    pub link_id: String,
    /// The secret the viewer page exchanges for tickets.
    pub secret: SecretString,
    /// Expiry, RFC 3339.
    pub expires_at: Option<String>,
}

/// A ticket minted from a link.
#[derive(Debug, Clone)]
pub struct LinkTicket {
    /// The ticket.
    pub ticket: SecretString,
    /// Its expiry, RFC 3339.
    pub expires_at: Option<String>,
    /// What it opens.
    pub grant: TicketGrant,
}

/// A verification timestamp as the HTTP answers give it (RFC 3339, seconds, UTC).
pub(crate) fn rfc3339(at: Option<prost_types::Timestamp>) -> Option<String> {
    at.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl Verifier {
    /// Mints a link to an entity of `organization_id` for `ttl`.
    pub async fn create_link(
        &self,
        organization_id: &str,
        kind: EntityKind,
        id: &str,
        view_only: bool,
        ttl: Duration,
    ) -> Result<MintedLink, VerifyError> {
        let scope = if view_only {
            pb::Scope::View
        } else {
            pb::Scope::Control
        };
        let request = pb::CreateStreamLinkRequest {
            organization_id: organization_id.to_owned(),
            entity: Some(pb::EntityRef {
                kind: kind.to_pb() as i32,
                id: id.to_owned(),
            }),
            scope: scope as i32,
            ttl_seconds: ttl.as_secs(),
        };
        let response = self
            .timed(
                "create_stream_link",
                self.client.clone().create_stream_link(request),
            )
            .await?;
        Ok(MintedLink {
            link_id: response.link_id,
            secret: response.secret.into(),
            expires_at: rfc3339(response.expires_at),
        })
    }

    /// Revokes a link of `organization_id`.
    pub async fn revoke_link(
        &self,
        organization_id: &str,
        link_id: &str,
    ) -> Result<(), VerifyError> {
        let request = pb::RevokeStreamLinkRequest {
            organization_id: organization_id.to_owned(),
            link_id: link_id.to_owned(),
        };
        self.timed(
            "revoke_stream_link",
            self.client.clone().revoke_stream_link(request),
        )
        .await?;
        Ok(())
    }

    /// Mints a ticket from a link's secret.
    pub async fn ticket_from_link(&self, secret: &SecretString) -> Result<LinkTicket, VerifyError> {
        let request = pb::CreateStreamTicketFromLinkRequest {
            secret: secret.expose_secret().to_owned(),
        };
        let response = self
            .timed(
                "create_stream_ticket_from_link",
                self.client.clone().create_stream_ticket_from_link(request),
            )
            .await?;
        let grant = response
            .grant
            .and_then(grant_from_pb)
            .ok_or(VerifyError::Unavailable)?;
        Ok(LinkTicket {
            ticket: response.ticket.into(),
            expires_at: rfc3339(response.expires_at),
            grant,
        })
    }

    /// Which of `ids` were revoked.
    pub async fn check_revoked(&self, ids: Vec<String>) -> Result<Vec<String>, VerifyError> {
        let response = self
            .timed(
                "check_revoked",
                self.client
                    .clone()
                    .check_revoked(pb::CheckRevokedRequest { ids }),
            )
            .await?;
        Ok(response.revoked)
    }
}
