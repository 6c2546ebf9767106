//! Memory for request bodies is shared out per organisation and per credential: one credential
//! holding the largest body half-sent keeps only itself out. (Apart from `flood.rs`, whose
//! memory bound is measured over its whole process.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use common::site;
use limes_server::{ServeConfig, Server};

/// Bodies count against their credential's and organisation's shares as their bytes arrive:
/// an SDF sensor that has sent all but the last byte of the largest body holds its half of the
/// SDF's share (its next body gets 429), while another SDF credential and another
/// organisation are served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_fills_only_its_own_share_of_body_memory() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServeConfig::new(site(dir.path()), dir.path().join("data")).on_free_ports();
    cfg.max_body_memory_mib = 0;
    let server = Server::start(cfg).await.expect("starts");
    let st = server.state.clone();
    let sdf = common::sensor_token(&server, "budget").await;
    let colleague = common::sensor_token(&server, "colleague").await;
    let ibf = limes_server::auth::create(
        &st.store,
        Some(&st.tokens),
        "ibf",
        limes_server::auth::Role::Sensor,
        "other",
        "test",
    )
    .await
    .expect("token")
    .token;
    let max = limes_server::api::MAX_BODY;
    let mut holder = tokio::net::TcpStream::connect(server.http)
        .await
        .expect("connect");
    let mut sent = format!(
        "POST /api/v1/ingest HTTP/1.1\r\nHost: limes\r\nAuthorization: Bearer {sdf}\r\n\
         Content-Length: {max}\r\n\r\n["
    )
    .into_bytes();
    sent.resize(sent.len() + max - 2, b' ');
    holder
        .write_all(&sent)
        .await
        .expect("all but the last byte");
    let shares = st.limits.body_shares.clone();
    common::wait_until(|| shares.held("sdf") >= max - 1).await;
    // A heartbeat padded to 1 MiB.
    let post = |token: String| {
        let url = format!("http://{}/api/v1/ingest", server.http);
        let mut body = format!(
            r#"{{"type":"heartbeat","sensor":"ai-ne-cam","time":"{}"}}"#,
            limes_core::record::Time(st.clock.now())
        )
        .into_bytes();
        body.resize(1 << 20, b'\n');
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .expect("post");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let (code, text) = post(sdf.clone()).await;
    assert_eq!(code, 429, "{text}");
    assert!(text.contains("share"), "{text}");
    let (code, text) = post(colleague).await;
    assert_eq!(code, 200, "another SDF credential: {text}");
    // The IBF sends for no sensor of this site: its record is refused by name, not for room.
    let (code, text) = post(ibf).await;
    assert_eq!(code, 422, "{text}");
    holder.write_all(b"]").await.expect("last byte");
    let mut reply = [0u8; 12];
    holder.read_exact(&mut reply).await.expect("reply");
    assert_eq!(
        &reply,
        b"HTTP/1.1 200",
        "{}",
        String::from_utf8_lossy(&reply)
    );
    common::wait_until(|| shares.held("sdf") == 0).await;
    let (code, text) = post(sdf).await;
    assert_eq!(code, 200, "{text}");
    drop(holder);
}
