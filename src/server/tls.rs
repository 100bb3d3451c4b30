//! HTTPS: the certificate and key, loaded into a rustls acceptor.
//!
//! rustls with the `ring` provider, through `futures-rustls`, which works
//! on any futures-io stream and therefore on smol's. Loaded once at start,
//! so a missing or malformed file is an error before anything is served.

use std::sync::Arc;

use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::{crypto, ServerConfig};
use futures_rustls::TlsAcceptor;

/// Builds the HTTPS acceptor from PEM files.
pub fn acceptor(cert_path: &str, key_path: &str) -> Result<TlsAcceptor, String> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls_cert {cert_path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("tls_cert {cert_path}: no certificate found"));
    }
    let key =
        PrivateKeyDer::from_pem_file(key_path).map_err(|e| format!("tls_key {key_path}: {e}"))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("tls_cert/tls_key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
