//! CoT over TLS: a client certificate signed by the configured CA authenticates a TAK client of
//! the organisation whose `cert_cn` it carries (it gets a pong and its released picture) or a
//! sensor named by its CN (its events are stored); a certificate from another CA is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    let pem = params.self_signed(&key).expect("ca").pem();
    Ca { params, key, pem }
}

/// A certificate and key signed by `ca`, with common name `cn`.
fn leaf(ca: &Ca, cn: &str, server: bool) -> (String, String) {
    let mut p = CertificateParams::new(if server {
        vec!["localhost".to_string()]
    } else {
        Vec::new()
    })
    .expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    if server {
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    }
    let key = KeyPair::generate().expect("key");
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = p.signed_by(&key, &issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

fn client_config(server_ca: &str, cert: &str, key: &str) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(server_ca.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .map(|c| c.expect("pem"))
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client cert"),
    )
}

fn event(uid: &str, kind: &str, t: f64, extra: &str) -> String {
    let iso = chrono::DateTime::from_timestamp_micros((t * 1e6) as i64)
        .expect("t")
        .to_rfc3339();
    format!(
        r#"<event version="2.0" uid="{uid}" type="{kind}" how="m-g" time="{iso}" start="{iso}" stale="{iso}"><point lat="36.3851" lon="38.8770" hae="0" ce="5" le="9999999"/><detail>{extra}</detail></event>"#
    )
}

async fn connect(
    addr: std::net::SocketAddr,
    cfg: Arc<ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(cfg)
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

/// Reads until every one of `needles` appears or the stream ends; returns what was read.
async fn read_until(s: &mut (impl AsyncReadExt + Unpin), needles: &[&str]) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if needles.iter().all(|n| text.contains(n)) {
                    break;
                }
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_authenticate_cot_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let site = dir.path().join("ain-issa.toml");
    let _ = root;
    let text = limes_core::site::SITES
        .iter()
        .find(|(n, _)| *n == "ain-issa")
        .expect("shipped")
        .1;
    std::fs::write(&site, text).expect("site");
    let (ca1, rogue) = (ca("Limes test CA"), ca("Someone else"));
    let (server_cert, server_key) = leaf(&ca1, "limes", true);
    let files = limes_server::cot::tls::TlsFiles {
        cert: dir.path().join("server.pem"),
        key: dir.path().join("server.key"),
        client_ca: dir.path().join("ca.pem"),
    };
    let _ = &files;
    std::fs::write(&files.cert, &server_cert).expect("write");
    std::fs::write(&files.key, &server_key).expect("write");
    std::fs::write(&files.client_ca, &ca1.pem).expect("write");
    let mut cfg =
        limes_server::ServeConfig::new(site.display().to_string(), dir.path().join("data"))
            .on_free_ports();
    cfg.no_cot = true;
    cfg.cot_tls = Some("127.0.0.1:0".parse().expect("addr"));
    cfg.tls_cert = Some(files.cert.clone());
    cfg.tls_key = Some(files.key.clone());
    cfg.tls_client_ca = Some(files.client_ca.clone());
    let server = limes_server::Server::start(cfg)
        .await
        .expect("server starts");
    let addr = server.cot_tls.expect("TLS bound");
    let now = limes_server::clock::wall_now();

    // A TAK client of ibf (its certificate's CN is ibf's cert_cn): no token needed.
    let (c, k) = leaf(&ca1, "ibf-tak", false);
    let mut s = connect(addr, client_config(&ca1.pem, &c, &k))
        .await
        .expect("handshake");
    s.write_all(event("tak-1", "a-f-G-U-C", now, "").as_bytes())
        .await
        .expect("write");
    s.write_all(event("tak-1-ping", "t-x-c-t", now, "").as_bytes())
        .await
        .expect("write");
    // The pong and the opening picture come from two tasks, in either order.
    let got = read_until(&mut s, &["t-x-c-t-r", "a-n-G-I"]).await;
    assert!(got.contains("t-x-c-t-r"), "pong over TLS: {got}");
    assert!(
        got.contains("a-n-G-I"),
        "ibf is released facility status: {got}"
    );

    // A sensor whose certificate CN is its id: its heartbeat and detection are stored.
    let before = server.state.store.clone();
    let records = move |st: limes_server::store::Store| async move {
        tokio::task::spawn_blocking(move || st.stats_blocking().expect("stats").records)
            .await
            .expect("join")
    };
    let n0 = records(before.clone()).await;
    let (c, k) = leaf(&ca1, "ai-ne-cam", false);
    let mut s = connect(addr, client_config(&ca1.pem, &c, &k))
        .await
        .expect("handshake");
    s.write_all(event("ai-ne-cam", "a-f-G-E-S", now, "").as_bytes())
        .await
        .expect("write");
    s.write_all(event("someone", "a-u-G", now, r#"<limes class="person"/>"#).as_bytes())
        .await
        .expect("write");
    s.flush().await.expect("flush");
    let mut stored = n0;
    for _ in 0..300 {
        stored = records(before.clone()).await;
        if stored >= n0 + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored, n0 + 2, "heartbeat and detection over TLS stored");

    // A certificate from another CA, or one whose CN names nobody, gets nothing.
    let (c, k) = leaf(&rogue, "ibf-tak", false);
    if let Ok(mut s) = connect(addr, client_config(&ca1.pem, &c, &k)).await {
        let _ = s
            .write_all(event("tak-2", "t-x-c-t", now, "").as_bytes())
            .await;
        let got = read_until(&mut s, &["t-x-c-t-r"]).await;
        assert!(
            !got.contains("t-x-c-t-r"),
            "a foreign CA's client was served"
        );
    }
    let (c, k) = leaf(&ca1, "nobody", false);
    if let Ok(mut s) = connect(addr, client_config(&ca1.pem, &c, &k)).await {
        let _ = s
            .write_all(event("tak-3", "t-x-c-t", now, "").as_bytes())
            .await;
        let got = read_until(&mut s, &["t-x-c-t-r"]).await;
        assert!(!got.contains("t-x-c-t-r"), "an unmapped CN was served");
    }
}
