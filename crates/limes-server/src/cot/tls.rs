//! CoT over TLS with client certificates: the server's certificate and key, and the CA whose
//! client certificates it accepts. A client certificate's common name names the caller: an
//! organisation's `cert_cn` (a TAK client of that organisation, viewer role) or a site sensor's
//! id (a sensor). Anything else is refused after the handshake.

use limes_core::site::Site;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::auth::{Principal, Role};

/// The files TLS needs.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Server certificate chain, PEM.
    pub cert: PathBuf,
    /// Server private key, PEM.
    pub key: PathBuf,
    /// CA certificate(s) that sign client certificates, PEM.
    pub client_ca: PathBuf,
}

/// TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("{file}: {message}")]
    Pem {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn pem_err(file: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        file: file.to_path_buf(),
        message: e.to_string(),
    }
}

/// Builds the acceptor: TLS 1.2/1.3, client certificates required and verified against the CA.
pub fn acceptor(f: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&f.cert)
        .map_err(|e| pem_err(&f.cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(&f.cert, e))?;
    let key = PrivateKeyDer::from_pem_file(&f.key).map_err(|e| pem_err(&f.key, e))?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&f.client_ca).map_err(|e| pem_err(&f.client_ca, e))? {
        let c = c.map_err(|e| pem_err(&f.client_ca, e))?;
        roots.add(c).map_err(|e| pem_err(&f.client_ca, e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// The common name of a DER certificate.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    Some(cn)
}

/// Who a verified client certificate's common name stands for.
pub fn principal(site: &Site, cn: &str) -> Option<Principal> {
    if let Some(o) = site.orgs.iter().find(|o| o.cert_cn.as_deref() == Some(cn)) {
        return Some(Principal {
            org: o.id.clone(),
            role: Role::Viewer,
            via: format!("cert:{cn}"),
            sensor: None,
        });
    }
    let s = site.sensors.iter().find(|s| s.id == cn)?;
    Some(Principal {
        org: s.org.clone()?,
        role: Role::Sensor,
        via: format!("cert:{cn}"),
        sensor: Some(cn.to_string()),
    })
}
