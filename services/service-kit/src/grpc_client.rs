//! Dialling another browser-stream service: an `http://` URL is plaintext gRPC, an `https://`
//! URL is gRPC over TLS (rustls) trusting the system's roots plus the `--grpc-ca` file, with
//! the host name of the URL checked against the certificate.

use anyhow::{bail, Context};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::ca_file::CaFile;

/// An endpoint for `url`: plaintext for `http://`, TLS for `https://` (system roots and `ca`);
/// any other scheme is refused, so a typo cannot silently fall back to plaintext.
pub fn endpoint(url: &str, ca: Option<&CaFile>) -> anyhow::Result<Endpoint> {
    let endpoint = Endpoint::from_shared(url.to_owned()).with_context(|| url.to_owned())?;
    match endpoint.uri().scheme_str() {
        Some("http") => Ok(endpoint),
        Some("https") => {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = ca {
                tls = tls.ca_certificate(Certificate::from_pem(ca.pem()));
            }
            endpoint
                .tls_config(tls)
                .with_context(|| format!("TLS for {url}"))
        }
        _ => bail!("{url}: a service URL starts with http:// or https://"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_are_dialled() {
        // Arrange, Act, Assert
        assert!(endpoint("http://127.0.0.1:50051", None).is_ok());
        assert!(endpoint("https://verification.example:50051", None).is_ok());
        let refused = endpoint("grpc://127.0.0.1:50051", None).unwrap_err();
        assert!(
            refused.to_string().contains("http:// or https://"),
            "{refused}"
        );
    }
}
