//! TLS helpers shared by the Redis and NATS backends (both use rustls).

use std::path::Path;
#[cfg(feature = "nats")]
use std::sync::Arc;

use crate::config::CacheTlsConfig;
use crate::error::{Error, ErrorKind, Result};

/// Makes sure rustls has a process-wide crypto provider, which both clients build their TLS
/// configuration with. rustls picks one by itself only when exactly one of its providers is
/// linked in; a process that links both (`ring` here, `aws-lc-rs` through another crate) would
/// fail at its first TLS connection. Installs `ring` unless the process chose one.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: a provider is there either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The PEM bytes of the CA file of `tls`, checked to hold at least one certificate.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let pem = std::fs::read(path).map_err(|err| {
        Error::with_source(
            ErrorKind::Tls,
            format!("cannot read the cache TLS CA file `{}`", path.display()),
            err,
        )
    })?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            Error::new(
                ErrorKind::Tls,
                format!(
                    "the cache TLS CA file `{}` is not valid PEM: {err}",
                    path.display()
                ),
            )
        })?;
    if certificates.is_empty() {
        return Err(Error::new(
            ErrorKind::Tls,
            format!(
                "the cache TLS CA file `{}` holds no certificate",
                path.display()
            ),
        ));
    }
    Ok(pem)
}

/// A rustls client configuration for `tls`: the CA file's certificates (or the system's
/// roots) as trust anchors, or no verification at all when `insecure`.
#[cfg(feature = "nats")]
pub(crate) fn client_config(tls: &CacheTlsConfig) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    ensure_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::with_source(ErrorKind::Tls, "cache TLS settings", err))?;
    if tls.insecure {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            let pem = read_ca_file(path)?;
            for certificate in CertificateDer::pem_slice_iter(&pem).flatten() {
                roots.add(certificate).map_err(|err| {
                    Error::with_source(
                        ErrorKind::Tls,
                        format!("a certificate of `{}` is not a valid CA", path.display()),
                        err,
                    )
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Accepts every server certificate (`tls.insecure`), still checking handshake signatures.
#[cfg(feature = "nats")]
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

#[cfg(feature = "nats")]
impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether an error text is a TLS failure (rustls' handshake and certificate errors).
pub(crate) fn looks_like_tls(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "certificate",
        "handshake",
        "tls",
        "ssl",
        "corrupt message",
        "unknownissuer",
        "unknown issuer",
        "invalid peer",
        "alert",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The hint after a TLS failure toward `endpoint`.
pub(crate) fn tls_hint(endpoint: &str, tls: &CacheTlsConfig) -> String {
    if !tls.enabled {
        format!(
            "the cache server at `{endpoint}` may expect TLS: set the cache TLS setting \
             (INFRAHUB_CACHE_TLS_ENABLED)"
        )
    } else if tls.ca_file.is_none() && !tls.insecure {
        format!(
            "the certificate of `{endpoint}` is not signed by a CA of the system: set the cache \
             TLS CA file (INFRAHUB_CACHE_TLS_CA_FILE) to the CA that signed it, or \
             INFRAHUB_CACHE_TLS_INSECURE for tests"
        )
    } else {
        format!(
            "check that `{endpoint}` serves TLS, that the CA file holds the CA that signed its \
             certificate and that the certificate names the address"
        )
    }
}
