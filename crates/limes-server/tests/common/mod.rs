//! What the server's integration tests share: the shipped Ain Issa site in a file, and a sensor
//! credential.

#![allow(dead_code, clippy::expect_used)]

use limes_server::Server;
use std::path::Path;

/// Writes the shipped Ain Issa site into `dir`; its path.
pub fn site(dir: &Path) -> String {
    let text = limes_core::site::SITES
        .iter()
        .find(|(n, _)| *n == "ain-issa")
        .expect("shipped")
        .1;
    let p = dir.join("ain-issa.toml");
    std::fs::write(&p, text).expect("site");
    p.display().to_string()
}

/// A bearer token of a sensor credential of the SDF named `name`.
pub async fn sensor_token(server: &Server, name: &str) -> String {
    let st = &server.state;
    limes_server::auth::create(
        &st.store,
        Some(&st.tokens),
        "sdf",
        limes_server::auth::Role::Sensor,
        name,
        "test",
    )
    .await
    .expect("token")
    .token
}

/// Waits until `cond` holds (checked every few milliseconds); panics after a minute, which only
/// a broken server takes.
pub async fn wait_until(cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the condition never held"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
