//! Device certificates for TAK clients and sensors: one certificate authority per deployment
//! ([`ca`]), a certificate per device ([`issue`]) with what a TAK user imports ([`package`]),
//! the certificates and enrolment codes the deployment issued, in the store ([`registry`]),
//! revocation that also cuts open connections ([`revoke`]), and TAK's certificate enrolment
//! over HTTPS ([`enroll`]).
//!
//! A certificate's subject names who it stands for: `O` = organisation, `OU` = role, `CN` =
//! device (a sensor's certificate: `OU=sensor`, `CN` = the sensor's id, `O` = the organisation
//! that owns the sensor). The CoT TLS listener accepts a client certificate only if the CA
//! verifies it **and** its serial is in the registry, not revoked, with the same subject: a
//! certificate the CA key signed outside `limes cert` is refused.

pub mod ca;
pub mod enroll;
pub mod issue;
pub mod package;
pub mod registry;
pub mod revoke;

use std::path::{Path, PathBuf};

use crate::auth::Role;
use crate::store::StoreError;

/// Days a device certificate is valid by default.
pub const DEVICE_DAYS: u32 = 365;

/// The password of the CA truststore in data packages. It protects nothing (the truststore
/// holds only the public CA certificate); TAK clients expect one, and this is TAK's customary one.
pub const TRUSTSTORE_PASSWORD: &str = "atakatak";

/// Something went wrong issuing, storing or reading certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A file exists but holds something else.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Making a key or certificate failed.
    #[error("certificate: {0}")]
    Cert(String),
    /// A request was refused; the message is for the caller.
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for PkiError {
    fn from(e: rusqlite::Error) -> Self {
        PkiError::Store(StoreError::Db(e))
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn cert_err(e: impl std::fmt::Display) -> PkiError {
    PkiError::Cert(e.to_string())
}

/// Where a deployment's CA and server certificate live: `DATA/pki/` unless given.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The CA certificate, PEM.
    pub ca_cert: PathBuf,
    /// The CA private key, PEM (mode 0600).
    pub ca_key: PathBuf,
    /// The server's certificate chain, PEM.
    pub server_cert: PathBuf,
    /// The server's private key, PEM (mode 0600).
    pub server_key: PathBuf,
}

impl Paths {
    /// The default places under a data directory.
    pub fn in_data(data: &Path) -> Self {
        let d = data.join("pki");
        Self {
            ca_cert: d.join("ca.pem"),
            ca_key: d.join("ca.key"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
        }
    }

    /// The defaults with any of the four replaced.
    pub fn with(
        data: &Path,
        ca_cert: Option<&Path>,
        ca_key: Option<&Path>,
        server_cert: Option<&Path>,
        server_key: Option<&Path>,
    ) -> Self {
        let d = Self::in_data(data);
        let pick =
            |given: Option<&Path>, default: PathBuf| given.map_or(default, Path::to_path_buf);
        Self {
            ca_cert: pick(ca_cert, d.ca_cert),
            ca_key: pick(ca_key, d.ca_key),
            server_cert: pick(server_cert, d.server_cert),
            server_key: pick(server_key, d.server_key),
        }
    }
}

/// Who a certificate stands for: its subject `O`, `OU` and `CN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// Organisation id (`O`).
    pub org: String,
    /// Role (`OU`).
    pub role: Role,
    /// Device name, or the sensor's id (`CN`).
    pub name: String,
}

impl Subject {
    /// The subject of a DER certificate and its serial (lowercase hex), if the subject has
    /// exactly one `O`, one `OU` naming a role and one `CN`.
    pub fn of_cert(der: &[u8]) -> Option<(Subject, String)> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let s = cert.subject();
        let subject = Subject {
            org: only(s.iter_organization())?,
            role: Role::parse(&only(s.iter_organizational_unit())?)?,
            name: only(s.iter_common_name())?,
        };
        Some((subject, hex::encode(cert.raw_serial())))
    }
}

fn only<'a, 'b: 'a>(
    mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'b>>,
) -> Option<String> {
    let first = it.next()?.as_str().ok()?.to_string();
    it.next().is_none().then_some(first)
}

/// Checks a device or enrolment name: 1 to 64 characters of letters, digits, `.`, `_`, `-`
/// (it becomes a file name, a CN and a TAK user name).
pub fn check_name(name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(PkiError::Refused(format!(
            "name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-' (not first)"
        )))
    }
}

/// Checks that a certificate may be issued for `org`, `role` and `name` on `site`: the
/// organisation exists; a sensor certificate names a site sensor that `org` owns; no
/// certificate is issued for the deployment-wide owner role.
pub fn check_subject(site: &limes_core::site::Site, s: &Subject) -> Result<(), PkiError> {
    check_name(&s.name)?;
    if !site.orgs.iter().any(|o| o.id == s.org) {
        let known: Vec<&str> = site.orgs.iter().map(|o| o.id.as_str()).collect();
        return Err(PkiError::Refused(format!(
            "no organisation {:?} in {}; known: {known:?}",
            s.org, site.name
        )));
    }
    match s.role {
        Role::Owner => Err(PkiError::Refused(
            "no certificate is issued for the owner role; a device administers at most its own organisation".into(),
        )),
        Role::Sensor => {
            let Some(sensor) = site.sensors.iter().find(|x| x.id == s.name) else {
                return Err(PkiError::Refused(format!(
                    "a sensor certificate's name is the sensor's id; {:?} is no sensor of {}",
                    s.name, site.name
                )));
            };
            if sensor.org.as_deref() != Some(s.org.as_str()) {
                return Err(PkiError::Refused(format!(
                    "sensor {:?} belongs to {:?}, not {:?}",
                    s.name, sensor.org, s.org
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The first host name or address of the server's certificate: where TAK clients connect,
/// unless told otherwise.
pub fn server_host(paths: &Paths) -> Option<String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use x509_parser::extensions::GeneralName;
    let der =
        tokio_rustls::rustls::pki_types::CertificateDer::from_pem_file(&paths.server_cert).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::DNSName(d) => Some((*d).to_string()),
        GeneralName::IPAddress(b) => match b.len() {
            4 => <[u8; 4]>::try_from(*b)
                .ok()
                .map(|a| std::net::IpAddr::from(a).to_string()),
            16 => <[u8; 16]>::try_from(*b)
                .ok()
                .map(|a| std::net::IpAddr::from(a).to_string()),
            _ => None,
        },
        _ => None,
    })
}
