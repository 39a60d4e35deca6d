//! A PEM file of extra root certificates named by a flag (`--upstream-ca`, `--grpc-ca`,
//! `--bus-ca`): read and parsed once when the flag is parsed, so a missing, oversized or
//! malformed file stops startup with its path rather than failing the first dial.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Most certificates read from one CA file.
const MAX_ROOTS: usize = 256;
/// Largest CA file, in bytes.
const MAX_CA_FILE: u64 = 4 << 20;

/// The certificates of a CA file, as PEM text (for clients that take PEM: tonic, redis) and
/// as DER (for rustls). Shown in logs by its path only.
#[derive(Clone)]
pub struct CaFile {
    path: PathBuf,
    pem: Arc<Vec<u8>>,
    roots: Arc<Vec<CertificateDer<'static>>>,
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl CaFile {
    /// Reads every certificate of a PEM file (at most 4 MiB): at least one, at most 256.
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
            .take(MAX_ROOTS + 1)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{} is not PEM certificates: {e}", path.display()))?;
        if roots.is_empty() || roots.len() > MAX_ROOTS {
            return Err(format!(
                "{} must hold 1 to {MAX_ROOTS} certificates",
                path.display()
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            pem: Arc::new(pem),
            roots: Arc::new(roots),
        })
    }

    /// The file's PEM text.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The certificates, in file order.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }
}

/// `value_parser` of the CA flags.
pub fn parse_ca_file(s: &str) -> Result<CaFile, String> {
    CaFile::load(Path::new(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_a_certificate_is_refused_with_its_path() {
        // Arrange
        let dir = std::env::temp_dir().join(format!("ca-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, b"not a certificate").unwrap();
        // Act
        let refused = parse_ca_file(empty.to_str().unwrap()).unwrap_err();
        let missing = parse_ca_file(dir.join("missing.pem").to_str().unwrap()).unwrap_err();
        // Assert
        assert!(refused.contains("empty.pem"), "{refused}");
        assert!(missing.contains("missing.pem"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
