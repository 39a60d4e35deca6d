//! Domain types and pure rules of verification: identifiers parsed at the edge, credentials
//! (generation and hashing), and the liveness rule of browser sessions, tasks and workflow runs.
//! No I/O here: the store reads rows, these functions judge them.

pub mod credentials;
pub mod ids;
pub mod liveness;

pub use ids::{EntityId, EntityKind, EntityRef, OrgId, Scope};
pub use liveness::{Reason, SessionSnapshot, Verdict};
