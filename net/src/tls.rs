//! TLS for PropLedger's clients (JSON-RPC providers over `https://` and `wss://`; PostgreSQL
//! builds its own from the database URL): rustls with ring as its one crypto provider.
//!
//! [`client_config`] trusts Mozilla's root certificates (built in, from `webpki-roots`, so a
//! machine without a system store works the same) and, for permissioned networks and private
//! endpoints, the CA certificates of PEM files the operator names (`--ca-file`).

use std::{path::PathBuf, sync::Arc};

use rustls::{ClientConfig, RootCertStore, crypto::CryptoProvider};
use rustls_pki_types::{CertificateDer, pem::PemObject};

/// Failures building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A CA file could not be read or parsed.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The crypto provider of every TLS connection the node makes.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes [`crypto_provider`] the process's default, for libraries that build their own
/// configuration from it. Harmless when a default is set already.
pub fn install_crypto_provider() {
    let _ = CryptoProvider::install_default(rustls::crypto::ring::default_provider());
}

/// A client configuration trusting Mozilla's roots and the certificates in `ca_files` (PEM,
/// one or more certificates each), offering HTTP/1.1.
pub fn client_config(ca_files: &[PathBuf]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in ca_files {
        let ca_err = |reason: String| TlsError::CaFile {
            path: path.clone(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ca_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_err("no PEM certificate in it".to_owned()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ca_err(format!("not a usable CA certificate: {e}")))?;
        }
    }
    let mut config = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
