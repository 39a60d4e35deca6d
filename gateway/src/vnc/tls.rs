//! TLS towards `wss://` websockify upstreams: rustls (ring), trusting the system's roots plus
//! the operator's extra roots (`--upstream-ca`). The TCP connection is made to the resolved,
//! allow-listed address first; TLS then runs over it with SNI and certificate checks for the
//! URL's host, so the name is never resolved twice.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use service_kit::ca_file::CaFile;

/// The system's roots, read once per process (unreadable ones are skipped and logged).
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!(error.message = %error, "a system root certificate was not loaded");
        }
        found.certs
    })
}

/// The client configuration for `wss://` upstreams: system roots plus `extra`.
pub fn client_config(extra: Option<&CaFile>) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut store = RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(native_roots().iter().cloned());
    tracing::trace!(roots.added = added, roots.ignored = ignored, "system roots");
    if let Some(extra) = extra {
        let (added, ignored) = store.add_parsable_certificates(extra.roots().iter().cloned());
        if ignored > 0 {
            tracing::warn!(
                roots.added = added,
                roots.ignored = ignored,
                "some --upstream-ca certificates are unusable"
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
