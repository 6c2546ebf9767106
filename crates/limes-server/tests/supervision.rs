//! A dead engine or writer thread is never unnoticed: readiness fails with the reason, ingest is
//! refused instead of acknowledged, `Server::wait` returns the failure (so `limes serve` exits
//! non-zero), and a panic during the start-up replay fails the start instead of hanging it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use common::site;
use limes_server::{ServeConfig, Server};

fn heartbeat(t: f64) -> String {
    format!(
        r#"{{"type":"heartbeat","sensor":"ai-ne-cam","time":"{}"}}"#,
        limes_core::record::Time(t)
    )
}

async fn post(server: &Server, token: &str, body: String) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/ingest", server.http))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

// One test function: fail points are process-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_engine_fails_readiness_refuses_input_and_ends_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ServeConfig::new(site(dir.path()), dir.path().join("data")).on_free_ports();
    let server = Server::start(cfg.clone()).await.expect("starts");
    let st = server.state.clone();
    let token = common::sensor_token(&server, "t").await;
    let (code, v) = post(&server, &token, heartbeat(st.clock.now())).await;
    assert_eq!(code, 200, "{v}");

    fail::cfg("live-records", "panic(injected engine fault)").expect("fail point");
    let (code, _) = post(&server, &token, heartbeat(st.clock.now())).await;
    assert_eq!(
        code, 200,
        "the batch was durable before the engine died on it"
    );
    let reason = server
        .wait()
        .await
        .expect_err("the server reports the failure");
    assert!(
        reason.contains("engine") && reason.contains("injected engine fault"),
        "{reason}"
    );
    let r = reqwest::get(format!("http://{}/readyz", server.ops))
        .await
        .expect("readyz");
    assert_eq!(r.status().as_u16(), 503);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(
        body["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("engine")),
        "{body}"
    );
    let (code, v) = post(&server, &token, heartbeat(st.clock.now())).await;
    assert_eq!(code, 503, "input is refused, not acknowledged: {v}");
    drop(st);
    server.stop().await;

    // The log now holds the record the engine died on: a restart replays into the same fault
    // and must fail to start, not hang.
    let err = Server::start(cfg.clone())
        .await
        .err()
        .expect("the start fails");
    assert!(err.to_string().contains("injected engine fault"), "{err}");
    fail::cfg("live-records", "off").expect("fail point off");
    let server = Server::start(cfg)
        .await
        .expect("starts once the fault is gone");
    server.stop().await;
}
