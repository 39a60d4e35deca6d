//! `--upstream-ca`: extra PEM root certificates for `wss://` upstreams, read and checked when
//! the flag is parsed so a bad file stops startup with its path (the VNC dialer's TLS uses them).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Most extra root certificates read from one `--upstream-ca` file.
const MAX_EXTRA_ROOTS: usize = 256;
/// Largest `--upstream-ca` file, in bytes.
const MAX_CA_FILE: u64 = 4 << 20;

/// Extra PEM root certificates for `wss://` upstreams, read once when the flag is parsed.
#[derive(Clone)]
pub struct UpstreamCa {
    path: PathBuf,
    roots: Arc<Vec<CertificateDer<'static>>>,
}

impl fmt::Debug for UpstreamCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamCa")
            .field("path", &self.path)
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl UpstreamCa {
    /// Reads every certificate of a PEM file; at least one, at most 256.
    pub fn load(path: &Path) -> Result<Self, String> {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        if size > MAX_CA_FILE {
            return Err(format!("{} is over {MAX_CA_FILE} bytes", path.display()));
        }
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let roots = CertificateDer::pem_slice_iter(&pem)
            .take(MAX_EXTRA_ROOTS + 1)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{} is not PEM certificates: {e}", path.display()))?;
        if roots.is_empty() || roots.len() > MAX_EXTRA_ROOTS {
            return Err(format!(
                "{} must hold 1 to {MAX_EXTRA_ROOTS} certificates",
                path.display()
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            roots: Arc::new(roots),
        })
    }

    /// How many certificates the file held.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// The certificates, in file order.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// Whether the file held none (never true for a loaded file).
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

/// The `--upstream-ca` value parser.
pub fn parse_upstream_ca(s: &str) -> Result<UpstreamCa, String> {
    UpstreamCa::load(Path::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let error = UpstreamCa::load(&path).unwrap_err();
        assert!(error.contains("ca.pem"), "{error}");
        assert!(UpstreamCa::load(&dir.path().join("missing.pem")).is_err());
    }
}
