//! The OpenAPI document is generated from the handlers and their routes, validates as OpenAPI
//! 3.1 with a third-party validator, and describes the ingest body so generated clients keep it
//! (JSON: a record or an array of records with `items`; NDJSON as text).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::path::{Path, PathBuf};

fn pydeps() -> PathBuf {
    let dir = std::env::var_os("LIMES_PYDEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pydeps"));
    assert!(
        dir.join(".installed").exists(),
        "the Python test packages are not installed in {}: run the tests with `cargo xtask test`",
        dir.display()
    );
    dir
}

#[test]
fn the_document_validates_and_keeps_the_ingest_body() {
    let doc = limes_server::api::openapi::document();
    let json = doc.to_json().expect("json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("parses");
    assert_eq!(v["openapi"], "3.1.0");
    let ingest = &v["paths"]["/api/v1/ingest"]["post"]["requestBody"]["content"];
    assert_eq!(
        ingest["application/json"]["schema"]["$ref"], "#/components/schemas/IngestBody",
        "{ingest}"
    );
    assert!(ingest["application/x-ndjson"].is_object(), "{ingest}");
    let body = &v["components"]["schemas"]["IngestBody"]["oneOf"];
    assert_eq!(
        body[1]["items"]["$ref"], "#/components/schemas/SensorRecord",
        "{body}"
    );
    for p in [
        "/api/v1/alerts/{id}/cap",
        "/api/v1/cap/feed",
        "/api/v1/stream",
        "/api/v1/tokens",
        "/api/v1/events",
        "/api/v1/events/{id}",
        "/healthz",
    ] {
        assert!(v["paths"][p].is_object(), "{p} is documented");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("openapi.json");
    std::fs::write(&f, &json).expect("write");
    let out = std::process::Command::new("python3")
        .env("PYTHONPATH", pydeps())
        .args(["-m", "openapi_spec_validator"])
        .arg(&f)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
