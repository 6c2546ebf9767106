//! The deployment's certificate authority: an RSA key (kept in a file of mode 0600) and its
//! self-signed certificate; it signs device certificates (client authentication) and the
//! server's certificate (server authentication). Keys are RSA 2048, which every TAK client
//! (ATAK, WinTAK, iTAK) and TAK Server use.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, PKCS_RSA_SHA256,
};
use rsa::pkcs8::EncodePrivateKey;
use std::io::Write;
use std::path::Path;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;

use super::{cert_err, io_err, Paths, PkiError, Subject};

/// Years the CA certificate is valid.
const CA_YEARS: i64 = 10;

/// Days a server certificate is valid (Apple's clients refuse TLS server certificates valid
/// for longer than 825 days).
pub const SERVER_DAYS: u32 = 730;

/// A private key: for rcgen (signing) and as PKCS#8 DER (for files and PKCS#12).
pub struct Key {
    /// The key for signing.
    pub pair: KeyPair,
    /// PKCS#8 DER.
    pub pkcs8: Vec<u8>,
}

/// A new RSA 2048 key.
pub fn rsa_key() -> Result<Key, PkiError> {
    let mut rng = rsa::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(cert_err)?;
    let pkcs8 = key.to_pkcs8_der().map_err(cert_err)?.as_bytes().to_vec();
    let pair = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.as_slice().into(), &PKCS_RSA_SHA256)
        .map_err(cert_err)?;
    Ok(Key { pair, pkcs8 })
}

/// What a certificate is for.
pub enum Profile<'a> {
    /// A device (TAK client or sensor): client authentication, subject `O`/`OU`/`CN`.
    Device(&'a Subject),
    /// The server: server authentication for these host names and addresses.
    Server(&'a [String]),
}

/// A certificate just signed.
pub struct Signed {
    /// DER.
    pub der: CertificateDer<'static>,
    /// PEM.
    pub pem: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Last day of validity, RFC 3339.
    pub expires: String,
}

/// The CA: its certificate and key.
pub struct Ca {
    cert: CertificateDer<'static>,
    pem: String,
    key: KeyPair,
}

impl Ca {
    /// Loads the CA from its two files.
    pub fn load(paths: &Paths) -> Result<Ca, PkiError> {
        let pem = std::fs::read_to_string(&paths.ca_cert).map_err(io_err(&paths.ca_cert))?;
        let cert = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::File {
            path: paths.ca_cert.clone(),
            message: format!("not a PEM certificate: {e}"),
        })?;
        let key_pem = std::fs::read_to_string(&paths.ca_key).map_err(io_err(&paths.ca_key))?;
        let key = KeyPair::from_pem_and_sign_algo(&key_pem, &PKCS_RSA_SHA256).map_err(|e| {
            PkiError::File {
                path: paths.ca_key.clone(),
                message: format!("not an RSA private key in PEM: {e}"),
            }
        })?;
        Ok(Ca { cert, pem, key })
    }

    /// Loads the CA, or makes one (named `name`) when neither file exists; `true` when made.
    pub fn load_or_create(paths: &Paths, name: &str) -> Result<(Ca, bool), PkiError> {
        match (paths.ca_cert.exists(), paths.ca_key.exists()) {
            (true, true) => Ok((Self::load(paths)?, false)),
            (false, false) => Ok((Self::create(paths, name)?, true)),
            (cert, _) => Err(PkiError::File {
                path: if cert {
                    paths.ca_key.clone()
                } else {
                    paths.ca_cert.clone()
                },
                message: "missing, while the other half of the CA exists; restore it (a new CA would orphan every certificate issued)".into(),
            }),
        }
    }

    fn create(paths: &Paths, name: &str) -> Result<Ca, PkiError> {
        let key = rsa_key()?;
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.distinguished_name.push(DnType::OrganizationName, "Limes");
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(365 * CA_YEARS);
        p.serial_number = Some(serial());
        let cert = p.self_signed(&key.pair).map_err(cert_err)?;
        write_private(&paths.ca_key, key.pair.serialize_pem().as_bytes())?;
        write_new(&paths.ca_cert, cert.pem().as_bytes(), 0o644)?;
        Ok(Ca {
            pem: cert.pem(),
            cert: cert.der().clone(),
            key: key.pair,
        })
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// Signs a certificate for `public_key`, valid for `days` from now.
    pub fn sign(
        &self,
        public_key: &impl PublicKeyData,
        profile: Profile<'_>,
        days: u32,
    ) -> Result<Signed, PkiError> {
        let issuer = Issuer::from_ca_cert_der(&self.cert, &self.key).map_err(cert_err)?;
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        match profile {
            Profile::Device(s) => {
                p.distinguished_name
                    .push(DnType::CommonName, s.name.as_str());
                p.distinguished_name
                    .push(DnType::OrganizationName, s.org.as_str());
                p.distinguished_name
                    .push(DnType::OrganizationalUnitName, s.role.name());
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
            Profile::Server(hosts) => {
                let first = hosts.first().map(String::as_str).unwrap_or("limes");
                p.distinguished_name.push(DnType::CommonName, first);
                p.distinguished_name.push(DnType::OrganizationName, "Limes");
                for h in hosts {
                    p.subject_alt_names
                        .push(match h.parse::<std::net::IpAddr>() {
                            Ok(ip) => SanType::IpAddress(ip),
                            Err(_) => SanType::DnsName(h.clone().try_into().map_err(cert_err)?),
                        });
                }
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            }
        }
        let now = time::OffsetDateTime::now_utc();
        let until = now + time::Duration::days(i64::from(days.max(1)));
        p.not_before = now - time::Duration::hours(1);
        p.not_after = until;
        p.use_authority_key_identifier_extension = true;
        let serial = serial();
        let hex_serial = hex::encode(serial.to_bytes());
        p.serial_number = Some(serial);
        let cert = p.signed_by(public_key, &issuer).map_err(cert_err)?;
        let expires = chrono::DateTime::from_timestamp(until.unix_timestamp(), 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        Ok(Signed {
            pem: cert.pem(),
            der: cert.der().clone(),
            serial: hex_serial,
            expires,
        })
    }
}

/// 128 random bits, positive and without a leading zero byte (so the DER integer's bytes are
/// exactly these and the hex serial is the same everywhere).
fn serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    b[0] = (b[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&b)
}

/// Writes a file that must not exist yet, with the given mode, creating its folder.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = o.open(path).map_err(io_err(path))?;
    f.write_all(contents).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Writes a secret (a private key, a PKCS#12 file) that only its owner may read: mode 0600.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    write_new(path, contents, 0o600)
}
