//! CoT over TLS with client certificates: the server's certificate and key, and the
//! deployment's CA, whose client certificates the handshake accepts. A certificate's subject
//! names the caller (`O` organisation, `OU` role, `CN` device or sensor id, see [`crate::pki`]);
//! after the handshake it must also be one the deployment issued and has not revoked, or the
//! connection is refused with a CoT event saying why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::api::AppState;
use crate::auth::{Principal, Role};
use crate::pki::{registry, Subject};

/// The files TLS needs.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Server certificate chain, PEM.
    pub cert: PathBuf,
    /// Server private key, PEM.
    pub key: PathBuf,
    /// The deployment's CA certificate (it signs client certificates), PEM.
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

fn server_key(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert, e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
    Ok((certs, key))
}

/// Builds the acceptor: TLS 1.2/1.3, client certificates required and verified against the CA.
pub fn acceptor(f: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (certs, key) = server_key(&f.cert, &f.key)?;
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

/// An acceptor without client certificates (the enrolment listener, where devices get theirs).
pub fn server_only(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (certs, key) = server_key(cert, key)?;
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Who a client certificate stands for, with its serial: the certificate (already verified
/// against the deployment's CA by the handshake) must be in the registry, unrevoked, with the
/// same subject, for an organisation of the site. Otherwise the reason, for the client.
pub async fn identify(st: &AppState, der: &[u8]) -> Result<(Principal, String), String> {
    let Some((subject, serial)) = Subject::of_cert(der) else {
        return Err("the certificate's subject does not name an organisation (O), a role (OU) and a device (CN)".into());
    };
    let s = serial.clone();
    let row = st
        .store
        .read(move |c| Ok(registry::cert(c, &s)?))
        .await
        .map_err(|e| format!("the certificate could not be checked: {e}"))?;
    let Some(row) = row else {
        return Err(format!(
            "certificate {serial} was not issued by this deployment (limes cert issue or enrolment)"
        ));
    };
    if let Some(when) = &row.revoked {
        return Err(format!(
            "the certificate of {} ({serial}) was revoked at {when}",
            row.name
        ));
    }
    if row.subject() != subject {
        return Err(format!(
            "certificate {serial}: its subject does not match the certificate issued"
        ));
    }
    if !st.site.orgs.iter().any(|o| o.id == row.org) {
        return Err(format!("organisation {:?} is not in this site", row.org));
    }
    let principal = Principal {
        org: row.org.clone(),
        role: row.role,
        via: format!("cert:{}", row.name),
        sensor: (row.role == Role::Sensor).then(|| row.name.clone()),
    };
    Ok((principal, serial))
}
