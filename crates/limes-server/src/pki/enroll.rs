//! TAK certificate enrolment over HTTPS: the endpoints ATAK, WinTAK and iTAK (and pytak's
//! `tak://` enrolment) call with a user name and password to get a signed client certificate.
//!
//! - `GET /Marti/api/tls/config`: the subject names to put in the request (`O`, `OU`).
//! - `POST /Marti/api/tls/signClient/v2?clientUid=…`: a PKCS#10 request (base64 DER, or PEM);
//!   the answer is the signed certificate and the CA, base64 DER, as JSON
//!   (`{"signedCert": …, "ca0": …}`) when the client accepts JSON, `text/plain` or anything,
//!   otherwise as XML (`<enrollment><signedCert>…</signedCert><ca>…</ca></enrollment>`).
//! - `GET /Marti/api/device/profile/enrollment`: no enrolment profile (204).
//!
//! The password is a one-time enrolment code (`limes cert enroll-code`), stored hashed and
//! expiring; it is used up by the certificate it buys. The certificate's subject comes from the
//! code (`O` = organisation, `OU` = role, `CN` = user name), never from the request. Every
//! failed authentication looks the same to the caller (401); after [`NAME_FAILURES`] failures
//! for one user name, or [`ADDRESS_FAILURES`] from one address, further attempts are refused
//! (429) for [`LOCKOUT`], whatever the password.

use crate::xml::escape;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use limes_core::site::Site;
use rusqlite::Connection;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateSigningRequestDer;

use super::ca::{Ca, Profile};
use super::registry::{self, CertRow, CodeRow};
use super::{check_subject, PkiError, Subject, DEVICE_DAYS};
use crate::audit::AuditDraft;
use crate::auth::hash_token;
use crate::http::Peer;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Characters of an enrolment code (about 99 bits).
pub const CODE_CHARS: usize = 20;

/// Hours an enrolment code is valid at most.
pub const MAX_HOURS: u32 = 720;

/// Failed attempts for one user name before it is locked out.
pub const NAME_FAILURES: u32 = 5;

/// Failed attempts from one address before it is locked out.
pub const ADDRESS_FAILURES: u32 = 20;

/// How long a lockout lasts (and the window failures are counted in).
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// User names and addresses whose failures are remembered at most.
const TRACKED: usize = 10_000;

/// Bytes of a certificate request at most.
pub const MAX_REQUEST: usize = 64 * 1024;

/// A code just made: the only time it is shown.
pub struct NewCode {
    /// The user name.
    pub name: String,
    /// The one-time password.
    pub code: String,
    /// When it expires, RFC 3339.
    pub expires: String,
}

/// Makes a one-time enrolment code for `subject`, valid `hours`, replacing an unused one of
/// the same name; queues its audit entry. Refuses a name an unrevoked certificate carries.
pub fn create_code(
    c: &mut Connection,
    subject: &Subject,
    hours: u32,
    actor: &str,
) -> Result<NewCode, PkiError> {
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(PkiError::Refused(format!(
            "an enrolment code is valid from 1 to {MAX_HOURS} hours"
        )));
    }
    let code = super::issue::secret(CODE_CHARS);
    let until = chrono::Utc::now() + chrono::Duration::hours(i64::from(hours));
    let tx = registry::write(c)?;
    registry::check_unused(&tx, &subject.name)?;
    registry::put_code(
        &tx,
        &CodeRow {
            name: subject.name.clone(),
            org: subject.org.clone(),
            role: subject.role,
            hash: hash_token(&code),
            expires: until.timestamp() as f64,
            used: None,
        },
    )?;
    registry::queue_audit(
        &tx,
        &AuditDraft::new(
            actor,
            "cert.enroll_code",
            format!("enroll/{}", subject.name),
            serde_json::json!({ "org": subject.org, "role": subject.role, "expires": until.to_rfc3339() }),
        ),
    )?;
    tx.commit()?;
    Ok(NewCode {
        name: subject.name.clone(),
        code,
        expires: until.to_rfc3339(),
    })
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Who {
    Name(String),
    Address(IpAddr),
}

struct Failures {
    n: u32,
    since: Instant,
}

/// Failed enrolment attempts per user name and per address, bounded in memory.
#[derive(Default)]
pub struct Limiter {
    seen: Mutex<HashMap<Who, Failures>>,
}

impl Limiter {
    fn locked(&self, who: &[Who]) -> bool {
        let Ok(m) = self.seen.lock() else { return true };
        who.iter().any(|w| {
            m.get(w).is_some_and(|f| {
                let max = match w {
                    Who::Name(_) => NAME_FAILURES,
                    Who::Address(_) => ADDRESS_FAILURES,
                };
                f.n >= max && f.since.elapsed() < LOCKOUT
            })
        })
    }

    fn failed(&self, who: &[Who]) {
        let Ok(mut m) = self.seen.lock() else { return };
        if m.len() + who.len() > TRACKED {
            m.retain(|_, f| f.since.elapsed() < LOCKOUT);
            while m.len() + who.len() > TRACKED {
                let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                m.remove(&oldest);
            }
        }
        for w in who {
            let f = m.entry(w.clone()).or_insert(Failures {
                n: 0,
                since: Instant::now(),
            });
            if f.since.elapsed() >= LOCKOUT {
                *f = Failures {
                    n: 0,
                    since: Instant::now(),
                };
            }
            f.n += 1;
        }
    }
}

/// What the enrolment listener needs.
#[derive(Clone)]
pub struct Enrollment {
    /// The store (codes, certificates, audit).
    pub store: Store,
    /// The site (organisations and sensors a certificate may name).
    pub site: Arc<Site>,
    /// The CA that signs.
    pub ca: Arc<Ca>,
    /// Failed attempts.
    pub limiter: Arc<Limiter>,
    /// Metrics.
    pub metrics: Metrics,
}

/// The enrolment routes.
pub fn router(e: Enrollment) -> Router {
    Router::new()
        .route("/Marti/api/tls/config", get(tls_config))
        .route("/Marti/api/tls/signClient/v2", post(sign_client))
        .route(
            "/Marti/api/device/profile/enrollment",
            get(|| async { StatusCode::NO_CONTENT }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            Duration::from_secs(10),
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(e)
}

/// Why a request was refused.
enum Refusal {
    /// Authentication failed (one answer for every reason; the reason is logged).
    Auth,
    /// Locked out.
    Locked,
    /// The request is malformed.
    Bad(String),
    /// The server failed.
    Internal(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Auth => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"limes enrolment\"")],
                "the user name or enrolment code is wrong, used or expired\n",
            )
                .into_response(),
            Refusal::Locked => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, LOCKOUT.as_secs().to_string())],
                "too many failed attempts; try again later\n",
            )
                .into_response(),
            Refusal::Bad(m) => (StatusCode::BAD_REQUEST, format!("{m}\n")).into_response(),
            Refusal::Internal(m) => {
                tracing::error!("enrolment: {m}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server could not sign the request\n",
                )
                    .into_response()
            }
        }
    }
}

/// User name and password of a Basic `Authorization` header.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let (u, p) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

impl Enrollment {
    /// Checks the credentials without using the code up; the code's row when they are good.
    async fn authenticate(&self, peer: IpAddr, headers: &HeaderMap) -> Result<CodeRow, Refusal> {
        let creds = basic(headers);
        let mut who = vec![Who::Address(peer)];
        if let Some((u, _)) = &creds {
            // Valid names are at most 64 characters; longer ones are tracked by their start,
            // so the memory of failures stays bounded whatever the header holds.
            who.push(Who::Name(u.chars().take(64).collect()));
        }
        if self.limiter.locked(&who) {
            self.metrics.enroll_refused.inc();
            tracing::warn!("enrolment from {peer}: locked out after failed attempts");
            return Err(Refusal::Locked);
        }
        let refuse = |why: String| {
            self.limiter.failed(&who);
            self.metrics.enroll_refused.inc();
            tracing::warn!("enrolment from {peer}: refused: {why}");
            Refusal::Auth
        };
        let Some((user, code)) = creds else {
            return Err(refuse("no Basic credentials".into()));
        };
        let name = user.clone();
        let row = self
            .store
            .read(move |c| Ok(registry::code(c, &name)?))
            .await
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        let now = chrono::Utc::now().timestamp() as f64;
        match row {
            None => Err(refuse(format!("no enrolment code for user {user:?}"))),
            Some(r) if r.hash != hash_token(&code) => {
                Err(refuse(format!("wrong code for user {user:?}")))
            }
            Some(r) if r.used.is_some() => Err(refuse(format!(
                "the code of user {user:?} was used at {}",
                r.used.unwrap_or_default()
            ))),
            Some(r) if r.expires <= now => {
                Err(refuse(format!("the code of user {user:?} has expired")))
            }
            Some(r) => Ok(r),
        }
    }
}

async fn tls_config(
    State(e): State<Enrollment>,
    Extension(ConnectInfo(peer)): Extension<Peer>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let r = e.authenticate(peer.ip(), &headers).await?;
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <ns2:certificateConfig xmlns=\"http://bbn.com/marti/xml/config\" xmlns:ns2=\"com.bbn.marti.config\">\
         <nameEntries><nameEntry name=\"O\" value=\"{}\"/><nameEntry name=\"OU\" value=\"{}\"/></nameEntries>\
         <validityDays>{DEVICE_DAYS}</validityDays></ns2:certificateConfig>",
        escape(&r.org),
        r.role.name()
    );
    Ok(([(header::CONTENT_TYPE, "application/xml")], xml).into_response())
}

/// The request's DER: PEM, or base64 of DER (whitespace allowed), as TAK clients send it.
fn request_der(body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let bad = || {
        Refusal::Bad(
            "the body must be a PKCS#10 certificate request: base64 of its DER, or PEM".into(),
        )
    };
    let text = std::str::from_utf8(body).map_err(|_| bad())?;
    if text.contains("-----BEGIN") {
        return CertificateSigningRequestDer::from_pem_slice(body)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| bad());
    }
    let b64: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad())
}

/// The request's public key, if its signature verifies and the key is one TAK clients use:
/// RSA of 2048 bits or more, or EC.
fn public_key(der: &[u8]) -> Result<rcgen::SubjectPublicKeyInfo, Refusal> {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    let (_, req) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .map_err(|e| Refusal::Bad(format!("not a PKCS#10 certificate request: {e}")))?;
    req.verify_signature()
        .map_err(|_| Refusal::Bad("the request's signature does not verify".into()))?;
    let spki = &req.certification_request_info.subject_pki;
    match spki.parsed() {
        Ok(PublicKey::RSA(k)) if k.key_size() >= 2048 => {}
        Ok(PublicKey::EC(_)) => {}
        _ => {
            return Err(Refusal::Bad(
                "the request's key must be RSA of 2048 bits or more, or EC".into(),
            ))
        }
    }
    rcgen::SubjectPublicKeyInfo::from_der(spki.raw)
        .map_err(|e| Refusal::Bad(format!("the request's public key: {e}")))
}

async fn sign_client(
    State(e): State<Enrollment>,
    Extension(ConnectInfo(peer)): Extension<Peer>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let code = e.authenticate(peer.ip(), &headers).await?;
    let key = public_key(&request_der(&body)?)?;
    let subject = Subject {
        org: code.org.clone(),
        role: code.role,
        name: code.name.clone(),
    };
    check_subject(&e.site, &subject).map_err(|err| Refusal::Bad(err.to_string()))?;
    let signed =
        e.ca.sign(&key, Profile::Device(&subject), DEVICE_DAYS)
            .map_err(|err| Refusal::Internal(err.to_string()))?;
    let row = CertRow {
        serial: signed.serial.clone(),
        name: subject.name.clone(),
        org: subject.org.clone(),
        role: subject.role,
        issued: chrono::Utc::now().to_rfc3339(),
        expires: signed.expires.clone(),
        via: "enroll".into(),
        revoked: None,
    };
    let client_uid = q
        .get("clientUid")
        .or_else(|| q.get("clientUID"))
        .map(|u| u.chars().take(128).collect::<String>())
        .unwrap_or_default();
    let mut audit = super::issue::issue_audit(&row, &format!("{}/enroll:{}", row.org, row.name));
    if let Some(o) = audit.detail.as_object_mut() {
        o.insert("client_uid".into(), client_uid.into());
        o.insert("peer".into(), peer.ip().to_string().into());
    }
    let (name, hash, r) = (code.name.clone(), code.hash.clone(), row.clone());
    let now = chrono::Utc::now().timestamp() as f64;
    let stored = e
        .store
        .change(
            Box::new(move |c: &Connection| {
                if !registry::use_code(c, &name, &hash, now)? {
                    return Err(StoreError::Refused("the code was used meanwhile".into()));
                }
                if let Err(err) = registry::check_unused(c, &name) {
                    return Err(StoreError::Refused(err.to_string()));
                }
                registry::insert_cert(c, &r)?;
                Ok(serde_json::Value::Null)
            }),
            audit,
        )
        .await;
    match stored {
        Ok(_) => {}
        Err(StoreError::Refused(why)) => {
            e.metrics.enroll_refused.inc();
            tracing::warn!("enrolment of {} from {peer}: refused: {why}", row.name);
            return Err(Refusal::Auth);
        }
        Err(err) => return Err(Refusal::Internal(err.to_string())),
    }
    tracing::info!(
        "enrolled {} ({}/{}) from {peer}: certificate {}",
        row.name,
        row.org,
        row.role.name(),
        row.serial
    );
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let (cert, ca) = (b64(signed.der.as_ref()), b64(e.ca.cert_der().as_ref()));
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ["json", "text/plain", "*/*"]
        .iter()
        .any(|a| accept.contains(a))
    {
        let body = serde_json::json!({ "signedCert": cert, "ca0": ca });
        return Ok(axum::Json(body).into_response());
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<enrollment><signedCert>{cert}</signedCert><ca>{ca}</ca></enrollment>"
    );
    Ok(([(header::CONTENT_TYPE, "application/xml")], xml).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn failures_of_a_flood_of_names_stay_bounded_and_lock_the_address() {
        let l = Limiter::default();
        let ip = IpAddr::from([127, 0, 0, 1]);
        for i in 0..(TRACKED + 500) {
            l.failed(&[Who::Name(format!("user-{i}"))]);
        }
        assert!(l.seen.lock().unwrap().len() <= TRACKED);
        for i in 0..ADDRESS_FAILURES {
            assert!(!l.locked(&[Who::Address(ip)]), "locked after {i}");
            l.failed(&[Who::Address(ip), Who::Name(format!("x-{i}"))]);
        }
        assert!(l.locked(&[Who::Address(ip), Who::Name("fresh".into())]));
        assert!(l.seen.lock().unwrap().len() <= TRACKED);
    }
}
