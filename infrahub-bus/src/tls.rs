//! The rustls client configuration toward the broker, from [`BusTlsConfig`].

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{BusTlsConfig, Error, ErrorKind, Result};

/// The client configuration `tls` asks for, with rustls's `ring` provider (chosen explicitly:
/// the drivers link more than one provider, so rustls cannot pick one by itself).
pub(crate) fn client_config(tls: &BusTlsConfig) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::with_source(ErrorKind::Tls, "cannot set up TLS", err))?;
    let config = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(tls)?)
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The CA certificates of `tls.ca_file`, or the system's when it is unset.
fn root_store(tls: &BusTlsConfig) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            let shown = path.display();
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|err| {
                    Error::with_source(
                        ErrorKind::Tls,
                        format!("cannot read the broker CA file `{shown}`"),
                        err,
                    )
                })?;
            if certificates.is_empty() {
                return Err(Error::new(
                    ErrorKind::Tls,
                    format!("no PEM certificate in the broker CA file `{shown}`"),
                ));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|err| {
                    Error::with_source(
                        ErrorKind::Tls,
                        format!("unusable certificate in the broker CA file `{shown}`"),
                        err,
                    )
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(Error::new(
                    ErrorKind::Tls,
                    "no system CA certificates found: set the broker's tls.ca_file",
                ));
            }
        }
    }
    Ok(roots)
}

/// Makes sure rustls has a process-wide crypto provider: a driver that builds a TLS
/// configuration by itself (async-nats, when a server demands TLS the bus did not ask for)
/// needs one, and rustls cannot pick one when both `ring` and `aws-lc-rs` are linked. Installs
/// `ring` unless the process chose a provider.
#[cfg(feature = "nats")]
pub(crate) fn ensure_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Whether `error` (or one of its causes) is a rustls error, and its text.
pub(crate) fn tls_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        if let Some(rustls_error) = err.downcast_ref::<rustls::Error>() {
            return Some(rustls_error.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(rustls_error) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(rustls_error.to_string());
        }
        current = err.source();
    }
    None
}

/// The message of a refused TLS handshake with the broker at `endpoint`.
pub(crate) fn handshake_error(endpoint: &str, detail: &str) -> Error {
    let hint = if detail.contains("UnknownIssuer") || detail.contains("unknown issuer") {
        ": the certificate is not signed by a trusted CA (set tls.ca_file to the broker's CA)"
    } else if detail.contains("NotValidForName") || detail.contains("not valid for name") {
        ": the certificate does not name this address"
    } else if detail.contains("InvalidContentType") || detail.contains("corrupt message") {
        ": the server does not speak TLS on this port (disable tls or use its TLS port)"
    } else {
        ""
    };
    Error::new(
        ErrorKind::Tls,
        format!("TLS handshake with the message broker at {endpoint} failed: {detail}{hint}"),
    )
}

/// `tls.insecure`: any certificate and name is accepted (signatures are still checked).
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_a_tls_error() {
        let tls = BusTlsConfig {
            enabled: true,
            ca_file: Some("/nonexistent/ca.pem".into()),
            insecure: false,
        };
        let err = client_config(&tls).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn insecure_needs_no_roots() {
        let tls = BusTlsConfig {
            enabled: true,
            ca_file: None,
            insecure: true,
        };
        assert!(client_config(&tls).is_ok());
    }
}
