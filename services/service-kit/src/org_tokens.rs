//! Organization-scoped caller tokens (`--org-tokens FILE`): a backend that calls the
//! cdp-executor or the gateway's control gRPC for its own organizations presents one of these
//! instead of the service token, and may then name only those organizations; the service
//! token stays for the services themselves, which act for whichever organization a user
//! authenticated as.
//!
//! The file holds one token per line, `<token> <org_id>[,<org_id>…]`; blank lines and lines
//! starting with `#` are skipped. It is read and checked when the flag is parsed.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tonic::{Request, Status};

/// Largest token file, in bytes.
const MAX_FILE: u64 = 1 << 20;
/// Shortest token accepted: a guessable token would open its organizations.
const MIN_TOKEN: usize = 16;

/// The tokens of a `--org-tokens` file, each with the organizations it may act for.
#[derive(Clone, Default)]
pub struct OrgTokens {
    by_token: Arc<HashMap<String, Arc<[String]>>>,
}

impl fmt::Debug for OrgTokens {
    // Never the tokens themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgTokens")
            .field("tokens", &self.by_token.len())
            .finish()
    }
}

impl OrgTokens {
    /// Reads a token file; an error names the file and the line, never the token.
    pub fn load(path: &Path) -> Result<Self, String> {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        if size > MAX_FILE {
            return Err(format!("{} is over {MAX_FILE} bytes", path.display()));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|(line, why)| format!("{}:{line}: {why}", path.display()))
    }

    /// Parses the file's text: `Err((line number, why))`.
    pub fn parse(text: &str) -> Result<Self, (usize, &'static str)> {
        let mut by_token = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            let (token, orgs) = line
                .split_once(char::is_whitespace)
                .ok_or((number, "expected `<token> <org_id>[,<org_id>…]`"))?;
            if token.len() < MIN_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err((number, "a token is at least 16 visible ASCII characters"));
            }
            let orgs: Vec<String> = orgs
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
            if orgs.is_empty() {
                return Err((number, "a token needs at least one organization"));
            }
            if by_token.insert(token.to_owned(), orgs.into()).is_some() {
                return Err((number, "a token appears twice"));
            }
        }
        Ok(Self {
            by_token: Arc::new(by_token),
        })
    }

    /// The organizations of `token`, when it is one of these.
    pub fn organizations(&self, token: &str) -> Option<Arc<[String]>> {
        self.by_token.get(token).cloned()
    }

    /// Whether the file held no token.
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

/// `value_parser` of the `--org-tokens` flags.
pub fn parse_org_tokens(s: &str) -> Result<OrgTokens, String> {
    OrgTokens::load(Path::new(s))
}

/// Who made a call, as the token check found it (a request extension set by
/// [`crate::service_token::RequireToken`]).
#[derive(Debug, Clone)]
pub enum Caller {
    /// The service token, or no check configured: acts for any organization.
    Service,
    /// An organization token: acts for these organizations only.
    Organizations(Arc<[String]>),
}

impl Caller {
    /// Whether the caller may act for `organization_id`.
    pub fn may_act_for(&self, organization_id: &str) -> bool {
        match self {
            Caller::Service => true,
            Caller::Organizations(orgs) => orgs.iter().any(|o| o == organization_id),
        }
    }

    /// Checks that the caller of `request` may act for `organization_id`: PERMISSION_DENIED
    /// otherwise. A request that passed no token check (in-process) acts as the service.
    pub fn check<T>(request: &Request<T>, organization_id: &str) -> Result<(), Status> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .unwrap_or(&Caller::Service);
        if caller.may_act_for(organization_id) {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "this caller may not act for that organization",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_maps_tokens_to_organizations_and_names_bad_lines() {
        // Arrange
        let text =
            "# backends\n\nagent-token-0123456789 org_a, org_b\nother-token-0123456789 org_c\n";
        // Act
        let tokens = OrgTokens::parse(text).unwrap();
        // Assert
        let a = tokens.organizations("agent-token-0123456789").unwrap();
        assert_eq!(&a[..], ["org_a", "org_b"]);
        assert!(tokens.organizations("org_a").is_none());
        assert_eq!(OrgTokens::parse("short org_a").unwrap_err().0, 1);
        assert_eq!(
            OrgTokens::parse("\nlong-enough-token-123\n").unwrap_err(),
            (2, "expected `<token> <org_id>[,<org_id>…]`")
        );
        let twice = "long-enough-token-123 org_a\nlong-enough-token-123 org_b\n";
        assert_eq!(OrgTokens::parse(twice).unwrap_err().0, 2);
        assert!(format!("{tokens:?}").contains("tokens: 2"));
        assert!(!format!("{tokens:?}").contains("agent-token"));
    }

    #[test]
    fn an_organization_caller_acts_only_for_its_organizations() {
        let caller = Caller::Organizations(vec!["org_a".to_owned()].into());
        assert!(caller.may_act_for("org_a"));
        assert!(!caller.may_act_for("org_b"));
        assert!(Caller::Service.may_act_for("org_b"));
    }
}
