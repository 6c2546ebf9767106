//! Issuing: a device's key, certificate and PKCS#12 file (key, certificate and CA, under a
//! random password shown once), recorded in the registry with its audit entry; and the
//! server's certificate.

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rand::Rng;
use rusqlite::Connection;

use super::ca::{rsa_key, Ca, Profile, SERVER_DAYS};
use super::registry::{self, CertRow};
use super::{cert_err, PkiError, Subject};
use crate::audit::AuditDraft;

/// Letters for passwords and codes people type on a phone: no 0/o, 1/l/i.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A random secret of `n` characters (about 4.95 bits each) in groups of five.
pub fn secret(n: usize) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(n + n / 5);
    for i in 0..n {
        if i > 0 && i % 5 == 0 {
            s.push('-');
        }
        s.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    s
}

/// A device certificate just issued, with everything to hand to its user.
pub struct Issued {
    /// The registry row.
    pub row: CertRow,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// PKCS#12: the private key, the certificate and the CA certificate.
    pub p12: Vec<u8>,
    /// The PKCS#12 file's password (shown once, stored nowhere).
    pub password: String,
}

/// Makes a key and a certificate for `subject`, valid for `days`, and its PKCS#12 file.
/// Nothing is recorded yet: see [`record`].
pub fn device(ca: &Ca, subject: &Subject, days: u32) -> Result<Issued, PkiError> {
    let key = rsa_key()?;
    let signed = ca.sign(&key.pair, Profile::Device(subject), days)?;
    let password = secret(20);
    let p12 = pkcs12(
        &subject.name,
        &key.pkcs8,
        &[signed.der.as_ref(), ca.cert_der().as_ref()],
        &password,
    )?;
    Ok(Issued {
        row: CertRow {
            serial: signed.serial,
            name: subject.name.clone(),
            org: subject.org.clone(),
            role: subject.role,
            issued: chrono::Utc::now().to_rfc3339(),
            expires: signed.expires,
            via: "issue".into(),
            revoked: None,
        },
        cert_pem: signed.pem,
        p12,
        password,
    })
}

/// PKCS#12 with one key and its chain (leaf first), in the legacy encryption (3DES, SHA-1
/// MAC) that every TAK client's platform imports: Apple's keychain reads nothing newer. The
/// random password is what protects it.
pub fn pkcs12(
    alias: &str,
    pkcs8: &[u8],
    chain: &[&[u8]],
    password: &str,
) -> Result<Vec<u8>, PkiError> {
    let certs = chain
        .iter()
        .map(|c| Certificate::from_der(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_err)?;
    let key = PrivateKey::from_der(pkcs8).map_err(cert_err)?;
    let local_id: [u8; 20] = rand::random();
    let mut ks = KeyStore::new();
    ks.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_id.to_vec(), key, certs)),
    );
    write_store(&ks, password)
}

/// PKCS#12 holding only certificates (a truststore), under `password`.
pub fn truststore(alias: &str, der: &[u8], password: &str) -> Result<Vec<u8>, PkiError> {
    let mut ks = KeyStore::new();
    ks.add_entry(
        alias,
        KeyStoreEntry::Certificate(Certificate::from_der(der).map_err(cert_err)?),
    );
    write_store(&ks, password)
}

fn write_store(ks: &KeyStore, password: &str) -> Result<Vec<u8>, PkiError> {
    ks.writer(password)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
        .mac_algorithm(MacAlgorithm::HmacSha1)
        .write()
        .map_err(cert_err)
}

/// Records an issued certificate in the registry with its audit entry (queued for the
/// store's writer), in one transaction; refuses a name an unrevoked certificate carries.
pub fn record(c: &mut Connection, row: &CertRow, actor: &str) -> Result<(), PkiError> {
    let tx = registry::write(c)?;
    registry::check_unused(&tx, &row.name)?;
    registry::insert_cert(&tx, row)?;
    registry::queue_audit(&tx, &issue_audit(row, actor))?;
    tx.commit()?;
    Ok(())
}

/// The audit entry of an issued certificate.
pub fn issue_audit(row: &CertRow, actor: &str) -> AuditDraft {
    AuditDraft::new(
        actor,
        "cert.issue",
        format!("cert/{}", row.serial),
        serde_json::json!({
            "name": row.name,
            "org": row.org,
            "role": row.role,
            "expires": row.expires,
            "via": row.via,
        }),
    )
}

/// A key and certificate for the server (CoT over TLS, enrolment) for `hosts`: the
/// certificate chain (server, then CA) and the key, both PEM.
pub fn server(ca: &Ca, hosts: &[String]) -> Result<(String, String), PkiError> {
    if hosts.is_empty() {
        return Err(PkiError::Refused(
            "name at least one --host: the address TAK clients use to reach the server".into(),
        ));
    }
    let key = rsa_key()?;
    let signed = ca.sign(&key.pair, Profile::Server(hosts), SERVER_DAYS)?;
    Ok((
        format!("{}{}", signed.pem, ca.cert_pem()),
        key.pair.serialize_pem(),
    ))
}
