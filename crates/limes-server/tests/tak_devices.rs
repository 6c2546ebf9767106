//! TAK devices joining safely: TAK certificate enrolment the way ATAK does it (one-time code
//! over HTTP Basic, a CSR as bare base64 DER, the subject taken from the code, not the
//! request; lockout after failures), per-device certificates over CoT TLS (unknown ones
//! refused with an event; revocation cuts an open connection and refuses the next), and
//! plain TCP refusing TAK clients unless allowed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use base64::Engine;
use limes_server::auth::Role;
use limes_server::pki::ca::{rsa_key, write_new, write_private, Ca, Profile};
use limes_server::pki::{enroll, issue, revoke, Paths, Subject};
use limes_server::{ServeConfig, Server};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A site (Ain Issa) and a data directory with the deployment's CA and a server certificate
/// for 127.0.0.1.
fn deployment(dir: &Path) -> (std::path::PathBuf, Paths, Ca) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(dir).expect("dir");
    let site = dir.join("ain-issa.toml");
    std::fs::copy(root.join("sites/ain-issa.toml"), &site).expect("site");
    let paths = Paths::in_data(&dir.join("data"));
    let (ca, made) = Ca::load_or_create(&paths, "test CA").expect("CA");
    assert!(made);
    let (chain, key) = issue::server(&ca, &["127.0.0.1".to_string()]).expect("server cert");
    write_new(&paths.server_cert, chain.as_bytes(), 0o644).expect("write");
    write_private(&paths.server_key, key.as_bytes()).expect("write");
    (site, paths, ca)
}

async fn start(site: &Path, data: &Path, cot: bool, cot_clients: bool) -> Server {
    let mut cfg = ServeConfig::new(site.display().to_string(), data.to_path_buf());
    cfg.cot_tls = Some("127.0.0.1:0".parse().expect("addr"));
    cfg.enroll = Some("127.0.0.1:0".parse().expect("addr"));
    cfg.cot_clients = cot_clients;
    if !cot {
        cfg.cot = None;
    }
    Server::start(cfg.on_free_ports())
        .await
        .expect("server starts")
}

fn subject(org: &str, role: Role, name: &str) -> Subject {
    Subject {
        org: org.into(),
        role,
        name: name.into(),
    }
}

fn https(ca: &Ca) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn client_config(
    ca: &Ca,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("root");
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client cert"),
    )
}

/// The client configuration of an issued device certificate, read back from its PKCS#12.
fn from_p12(ca: &Ca, issued: &issue::Issued) -> Arc<ClientConfig> {
    let ks = p12_keystore::KeyStore::from_pkcs12(
        &issued.p12,
        &issued.password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .expect("the .p12 opens with its password");
    let (_, chain) = ks.private_key_chain().expect("a key with its chain");
    assert_eq!(chain.certs().len(), 2, "device certificate and CA");
    let certs = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::try_from(chain.key().as_der().to_vec()).expect("PKCS#8");
    client_config(ca, certs, key)
}

async fn connect(
    addr: SocketAddr,
    cfg: Arc<ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(cfg)
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
}

fn event(uid: &str, kind: &str, extra: &str) -> String {
    let now = chrono::Utc::now();
    let (t, stale) = (
        now.to_rfc3339(),
        (now + chrono::Duration::minutes(5)).to_rfc3339(),
    );
    format!(
        r#"<event version="2.0" uid="{uid}" type="{kind}" how="h-e" time="{t}" start="{t}" stale="{stale}"><point lat="36.3851" lon="38.8770" hae="0" ce="5" le="9999999"/><detail>{extra}</detail></event>"#
    )
}

/// Reads until every needle has appeared (`Ok`, what was read) or the stream ends (`Err`,
/// what was read). The 60 s bound only keeps a broken server from hanging the test.
async fn read_until(s: &mut (impl AsyncRead + Unpin), needles: &[&str]) -> Result<String, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf))
            .await
            .expect("the server answers or closes within 60 s")
            .unwrap_or(0);
        if n == 0 {
            return Err(String::from_utf8_lossy(&got).into_owned());
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if needles.iter().all(|x| text.contains(x)) {
            return Ok(text.into_owned());
        }
    }
}

/// A CSR as ATAK makes one: an RSA key, CN = the user name plus the O and OU the server's
/// configuration names (here claiming another organisation and role), bare base64 of the DER.
fn atak_csr(cn: &str, o: &str, ou: &str) -> (String, PrivateKeyDer<'static>) {
    let key = rsa_key().expect("key");
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, o);
    p.distinguished_name
        .push(rcgen::DnType::OrganizationalUnitName, ou);
    let csr = p.serialize_request(&key.pair).expect("csr");
    let b64 = base64::engine::general_purpose::STANDARD.encode(csr.der());
    (b64, PrivateKeyDer::try_from(key.pkcs8).expect("pkcs8"))
}

fn sign_url(server: &Server) -> String {
    format!(
        "https://{}/Marti/api/tls/signClient/v2?clientUid=ANDROID-0123456789abcdef&version=5.4.0",
        server.enroll.expect("enroll bound")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_enrolls_the_way_atak_does_and_joins_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (site, _paths, ca) = deployment(dir.path());
    let data = dir.path().join("data");
    let mut db = limes_server::store::open_beside(&data).expect("db");
    let code = enroll::create_code(
        &mut db,
        &subject("sdf", Role::Viewer, "phone-7"),
        24,
        "test",
    )
    .expect("code");
    let server = start(&site, &data, false, false).await;
    let http = https(&ca);
    let base = format!("https://{}", server.enroll.expect("enroll bound"));

    // The configuration needs the credentials too, and names the code's organisation and role.
    let r = http
        .get(format!("{base}/Marti/api/tls/config"))
        .basic_auth("phone-7", Some("not-the-code"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{base}/Marti/api/tls/config"))
        .basic_auth("phone-7", Some(&code.code))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    let xml = r.text().await.expect("body");
    assert!(
        xml.contains(r#"name="O" value="sdf""#) && xml.contains(r#"name="OU" value="viewer""#),
        "{xml}"
    );

    // The request claims ibf's admin role; the certificate says what the code says.
    let (csr, key) = atak_csr("phone-7", "ibf", "admin");
    let r = http
        .post(sign_url(&server))
        .basic_auth("phone-7", Some(&code.code))
        .header("Content-Type", "text/plain")
        .header("Accept", "application/json")
        .body(csr.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    let b64 = |k: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}")))
            .expect("base64 DER")
    };
    let (signed, ca0) = (b64("signedCert"), b64("ca0"));
    assert_eq!(ca0, ca.cert_der().as_ref(), "ca0 is the deployment's CA");
    let (got, serial) = Subject::of_cert(&signed).expect("subject O, OU, CN");
    assert_eq!(got, subject("sdf", Role::Viewer, "phone-7"));

    // The code is used up.
    let r = http
        .post(sign_url(&server))
        .basic_auth("phone-7", Some(&code.code))
        .body(csr)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 401, "a code buys one certificate");

    // The enrolled device joins CoT over TLS as sdf: a pong and sdf's picture.
    let cfg = client_config(
        &ca,
        vec![CertificateDer::from(signed), ca.cert_der().clone()],
        key,
    );
    let mut s = connect(server.cot_tls.expect("TLS bound"), cfg)
        .await
        .expect("handshake");
    s.write_all(event("takPing", "t-x-c-t", "").as_bytes())
        .await
        .expect("write");
    s.write_all(event("ANDROID-0123456789abcdef", "a-f-G-U-C", "").as_bytes())
        .await
        .expect("write");
    let got = read_until(&mut s, &["t-x-c-t-r", "a-n-G-I"]).await;
    assert!(got.is_ok(), "pong and facility status: {got:?}");

    // Enrolment and issue are audited.
    let entries = server
        .state
        .store
        .read(|c| {
            let mut st = c.prepare("SELECT actor, action, object FROM audit")?;
            let rows = st.query_map([], |r| {
                Ok(format!(
                    "{} {} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("audit");
    assert!(
        entries.contains(&format!("sdf/enroll:phone-7 cert.issue cert/{serial}")),
        "{entries:?}"
    );
    drop(s);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_enrolments_lock_the_user_name_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (site, _paths, ca) = deployment(dir.path());
    let data = dir.path().join("data");
    let mut db = limes_server::store::open_beside(&data).expect("db");
    let target = enroll::create_code(&mut db, &subject("ibf", Role::Operator, "phone-8"), 1, "t")
        .expect("code");
    let other = enroll::create_code(&mut db, &subject("ibf", Role::Viewer, "phone-9"), 1, "t")
        .expect("code");
    let server = start(&site, &data, false, false).await;
    let http = https(&ca);
    let (csr, _) = atak_csr("phone-8", "", "");
    let post = |user: &'static str, pass: String| {
        http.post(sign_url(&server))
            .basic_auth(user, Some(pass))
            .body(csr.clone())
            .send()
    };
    for i in 0..enroll::NAME_FAILURES {
        let r = post("phone-8", format!("guess-{i}")).await.expect("POST");
        assert_eq!(r.status(), 401);
    }
    // Locked: even the right code is refused now, and the code is not used up.
    let r = post("phone-8", target.code.clone()).await.expect("POST");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        server.state.metrics.enroll_refused.get(),
        u64::from(enroll::NAME_FAILURES) + 1
    );
    // Another user name from the same address is not locked; asked for XML, the answer is XML.
    let r = http
        .post(sign_url(&server))
        .basic_auth("phone-9", Some(&other.code))
        .header("Accept", "application/xml")
        .body(csr.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let xml = r.text().await.expect("body");
    assert!(
        xml.contains("<enrollment><signedCert>") && xml.contains("<ca>"),
        "{xml}"
    );
    // Malformed requests and unknown paths are refused without signing anything.
    let other2 = enroll::create_code(&mut db, &subject("ibf", Role::Viewer, "phone-10"), 1, "t")
        .expect("code");
    let r = http
        .post(sign_url(&server))
        .basic_auth("phone-10", Some(&other2.code))
        .body("not a request")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 400);
    let big = "A".repeat(enroll::MAX_REQUEST + 1);
    let r = http
        .post(sign_url(&server))
        .basic_auth("phone-10", Some(&other2.code))
        .body(big)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 413);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_cuts_an_open_connection_and_refuses_the_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (site, paths, ca) = deployment(dir.path());
    let data = dir.path().join("data");
    let mut db = limes_server::store::open_beside(&data).expect("db");
    let bob = issue::device(&ca, &subject("ibf", Role::Viewer, "tak-bob"), 30).expect("issue");
    issue::record(&mut db, &bob.row, "test").expect("record");
    let server = start(&site, &data, false, false).await;
    let addr = server.cot_tls.expect("TLS bound");

    let mut s = connect(addr, from_p12(&ca, &bob)).await.expect("handshake");
    s.write_all(event("ANDROID-bob", "a-f-G-U-C", "").as_bytes())
        .await
        .expect("write");
    s.write_all(event("takPing", "t-x-c-t", "").as_bytes())
        .await
        .expect("write");
    read_until(&mut s, &["t-x-c-t-r"]).await.expect("pong");

    // `limes cert revoke` beside the running server: the open connection is told and closed.
    let rows = revoke::revoke(&mut db, "tak-bob", "test").expect("revoke");
    assert_eq!(rows.len(), 1);
    let got = read_until(
        &mut s,
        &["Connection refused: your certificate has been revoked"],
    )
    .await
    .expect("the refusal event");
    assert!(got.contains("b-t-f"), "{got}");
    let end = read_until(&mut s, &["never"]).await;
    assert!(end.is_err(), "the server closes the connection");

    // Connecting again: refused with an event naming the revocation.
    let mut s = connect(addr, from_p12(&ca, &bob)).await.expect("handshake");
    let _ = s
        .write_all(event("ANDROID-bob", "a-f-G-U-C", "").as_bytes())
        .await;
    let got = read_until(&mut s, &["was revoked"]).await.expect("refusal");
    assert!(got.contains("tak-bob"), "{got}");

    // A certificate the CA key signed but the deployment never issued (not in the registry).
    let key = rsa_key().expect("key");
    let rogue = ca
        .sign(
            &key.pair,
            Profile::Device(&subject("ibf", Role::Admin, "rogue")),
            30,
        )
        .expect("sign");
    let cfg = client_config(
        &ca,
        vec![rogue.der.clone(), ca.cert_der().clone()],
        PrivateKeyDer::try_from(key.pkcs8.clone()).expect("key"),
    );
    let mut s = connect(addr, cfg).await.expect("handshake");
    let got = read_until(&mut s, &["was not issued by this deployment"]).await;
    assert!(got.is_ok(), "{got:?}");

    // Another CA's certificate fails the handshake.
    let other = Paths::in_data(&dir.path().join("other"));
    let (other_ca, _) = Ca::load_or_create(&other, "someone else").expect("CA");
    let stranger = issue::device(&other_ca, &subject("ibf", Role::Viewer, "x"), 30).expect("issue");
    let ks = p12_keystore::KeyStore::from_pkcs12(
        &stranger.p12,
        &stranger.password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .expect("p12");
    let (_, chain) = ks.private_key_chain().expect("chain");
    let cfg = client_config(
        &ca,
        vec![CertificateDer::from(chain.certs()[0].as_der().to_vec())],
        PrivateKeyDer::try_from(chain.key().as_der().to_vec()).expect("key"),
    );
    let refused = match connect(addr, cfg).await {
        Err(_) => true,
        Ok(mut s) => read_until(&mut s, &["never"]).await.is_err(),
    };
    assert!(refused, "a certificate of another CA is refused");
    assert!(paths.ca_key.exists());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tcp_tells_tak_clients_to_use_tls_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for allowed in [false, true] {
        let sub = dir.path().join(format!("{allowed}"));
        let (site, _, _) = deployment(&sub);
        let data = sub.join("data");
        let server = start(&site, &data, true, allowed).await;
        let viewer = limes_server::auth::create(
            &server.state.store,
            Some(&server.state.tokens),
            "ibf",
            Role::Viewer,
            "",
            "test",
        )
        .await
        .expect("token");
        let addr = server.cot.expect("plain CoT bound");
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let first = event(
            "ANDROID-plain",
            "a-f-G-U-C",
            &format!(r#"<limes token="{}"/>"#, viewer.token),
        );
        s.write_all(first.as_bytes()).await.expect("write");
        s.write_all(event("takPing", "t-x-c-t", "").as_bytes())
            .await
            .expect("write");
        if allowed {
            read_until(&mut s, &["t-x-c-t-r"])
                .await
                .expect("with --cot-clients a token client is served");
        } else {
            let got = read_until(&mut s, &["connect over TLS"])
                .await
                .expect("a refusal saying to use TLS");
            assert!(got.contains("b-t-f"), "{got}");
            assert!(read_until(&mut s, &["never"]).await.is_err(), "then closed");
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_certificate_speaks_for_its_sensor_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (site, _paths, ca) = deployment(dir.path());
    let loaded = limes_core::site::load(&site).expect("site");
    let sensor = loaded
        .sensors
        .iter()
        .find(|s| s.id == "ai-ne-cam")
        .expect("the annex's north-east camera");
    assert_eq!(sensor.org.as_deref(), Some("sdf"));
    // Only the organisation that owns the sensor gets a certificate for it.
    let wrong =
        limes_server::pki::check_subject(&loaded, &subject("ibf", Role::Sensor, &sensor.id));
    assert!(wrong.is_err(), "{wrong:?}");
    let owner = subject("sdf", Role::Sensor, &sensor.id);
    limes_server::pki::check_subject(&loaded, &owner).expect("the owner may");
    let data = dir.path().join("data");
    let mut db = limes_server::store::open_beside(&data).expect("db");
    let cert = issue::device(&ca, &owner, 30).expect("issue");
    issue::record(&mut db, &cert.row, "test").expect("record");
    let server = start(&site, &data, false, false).await;
    let mut s = connect(server.cot_tls.expect("TLS bound"), from_p12(&ca, &cert))
        .await
        .expect("handshake");
    // A ping first (its uid is not the sensor's; it stores nothing, and is answered), then its heartbeat and a
    // detection (any other uid's `a-…` event is a detection of this sensor).
    s.write_all(event("takPing", "t-x-c-t", "").as_bytes())
        .await
        .expect("write");
    // It is answered, as a TAK server answers a device's pings.
    read_until(&mut s, &["t-x-c-t-r"])
        .await
        .expect("the sensor's ping is answered");
    // A ping under the sensor's own uid is answered and is its heartbeat too.
    s.write_all(event(&sensor.id, "t-x-c-t", "").as_bytes())
        .await
        .expect("write");
    read_until(&mut s, &["t-x-c-t-r"])
        .await
        .expect("the sensor's own ping is answered");
    s.write_all(event(&sensor.id, "a-f-G-E-S", "").as_bytes())
        .await
        .expect("write");
    s.write_all(event("someone", "a-u-G", r#"<limes class="person"/>"#).as_bytes())
        .await
        .expect("write");
    let stored = async {
        while server.state.metrics.ingest_records.get() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), stored)
        .await
        .expect("the sensor's events are stored");
    drop(s);
    server.stop().await;
}

/// A sensor that pings but never reads its replies is still heard: once 4,096 replies wait
/// unread its pings go unanswered (logged once), and what it sends after them is stored, not
/// dropped with a closed connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_that_reads_no_replies_is_still_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (site, _paths, ca) = deployment(dir.path());
    let data = dir.path().join("data");
    let mut db = limes_server::store::open_beside(&data).expect("db");
    let cert = issue::device(&ca, &subject("sdf", Role::Sensor, "ai-ne-cam"), 30).expect("issue");
    issue::record(&mut db, &cert.row, "test").expect("record");
    let server = start(&site, &data, false, false).await;
    let mut s = connect(server.cot_tls.expect("TLS bound"), from_p12(&ca, &cert))
        .await
        .expect("handshake");
    // 60,000 pings (their replies, ~17 MB, outgrow any socket buffer), then a detection.
    let ping = event("takPing", "t-x-c-t", "");
    let pings = ping.repeat(1000);
    for _ in 0..60 {
        s.write_all(pings.as_bytes()).await.expect("write pings");
    }
    s.write_all(event("someone", "a-u-G", r#"<limes class="person"/>"#).as_bytes())
        .await
        .expect("write");
    let m = &server.state.metrics;
    let heard = async {
        while m.ingest_records.get() < 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), heard)
        .await
        .expect("the detection after the pings is stored");
    drop(s);
    server.stop().await;
}

/// The same device certificate connecting again with its uid (a phone back on another
/// network before its old connection is seen to die) takes the uid over and the old
/// connection is closed; before, the device was refused until the server saw the old one die.
/// Another device of the organisation with that uid is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_connecting_again_takes_its_uid_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (site, _paths, ca) = deployment(dir.path());
    let data = dir.path().join("data");
    let mut db = limes_server::store::open_beside(&data).expect("db");
    let bob = issue::device(&ca, &subject("ibf", Role::Viewer, "tak-bob"), 30).expect("issue");
    issue::record(&mut db, &bob.row, "test").expect("record");
    let eve = issue::device(&ca, &subject("ibf", Role::Viewer, "tak-eve"), 30).expect("issue");
    issue::record(&mut db, &eve.row, "test").expect("record");
    let server = start(&site, &data, false, false).await;
    let addr = server.cot_tls.expect("TLS bound");
    let hello = |uid: &str| event(uid, "a-f-G-U-C", "") + &event("takPing", "t-x-c-t", "");
    let mut old = connect(addr, from_p12(&ca, &bob)).await.expect("handshake");
    old.write_all(hello("ANDROID-bob").as_bytes())
        .await
        .expect("write");
    read_until(&mut old, &["t-x-c-t-r"]).await.expect("pong");
    let mut new = connect(addr, from_p12(&ca, &bob)).await.expect("handshake");
    new.write_all(hello("ANDROID-bob").as_bytes())
        .await
        .expect("write");
    read_until(&mut new, &["t-x-c-t-r"])
        .await
        .expect("taken over");
    let end = read_until(&mut old, &["never"]).await;
    assert!(end.is_err(), "the old connection is closed");
    let mut other = connect(addr, from_p12(&ca, &eve)).await.expect("handshake");
    other
        .write_all(hello("ANDROID-bob").as_bytes())
        .await
        .expect("write");
    let got = read_until(&mut other, &["uids must be distinct"]).await;
    assert!(got.is_ok(), "another device is refused: {got:?}");
    server.stop().await;
}
