//! The audit log as partners witness it. A partner keeps a signed checkpoint it was given (by
//! `GET /api/v1/audit/checkpoint`, the event stream or a webhook); then someone with write
//! access to the SQLite file (triggers dropped) truncates the log, replaces its newest entries
//! with forged ones carrying correct chain hashes, or rewrites an entry and re-hashes the chain
//! and the Merkle tree after it. The hash chain alone passes all three; each is caught against
//! the partner's checkpoint: by `limes audit verify --checkpoint` on the file, by the server
//! itself at start-up (it keeps the last checkpoint it signed), and by the partner's
//! `limes audit witness` when the server is started anew on the rewritten log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use limes_server::audit::checkpoint::{parse_hashes, SignedCheckpoint};
use limes_server::audit::{self, merkle, AuditDraft};
use limes_server::auth::{self, Role};
use limes_server::{ServeConfig, Server};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_limes");

async fn limes(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn config(data: &Path, key: &Path) -> ServeConfig {
    let mut cfg = ServeConfig::new("frontier", data.to_path_buf()).on_free_ports();
    cfg.cot = None;
    cfg.no_cot = true;
    cfg.audit_key = Some(key.to_path_buf());
    cfg
}

/// A consistent copy of a data directory's store and last checkpoint (the server may still
/// be closing).
fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let c = Connection::open(from.join("limes.sqlite")).unwrap();
    c.execute(
        "VACUUM INTO ?1",
        params![to.join("limes.sqlite").to_str().unwrap()],
    )
    .unwrap();
    let last = from.join("audit-checkpoint");
    std::fs::copy(&last, to.join("audit-checkpoint")).unwrap();
}

/// Opens a store file as an attacker with file access: the append-only triggers dropped.
fn attacker(db: &Path) -> Connection {
    let c = Connection::open(db).unwrap();
    c.execute_batch(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;
         DROP TRIGGER audit_tree_no_update; DROP TRIGGER audit_tree_no_delete;",
    )
    .unwrap();
    c
}

/// Rebuilds the Merkle tree from the entries as they now are (what a careful attacker does).
fn rebuild_tree(c: &Connection) {
    c.execute("DELETE FROM audit_tree", []).unwrap();
    merkle::catch_up(c).unwrap();
}

fn count(c: &Connection) -> i64 {
    c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .unwrap()
}

/// Drops the newest entries down to `keep`.
fn truncate(c: &Connection, keep: u64) {
    c.execute("DELETE FROM audit WHERE seq > ?1", params![keep as i64])
        .unwrap();
    rebuild_tree(c);
}

/// Replaces the entries from `from` on with forged ones chained correctly, as many as before.
fn forge(c: &Connection, from: u64) {
    let n = count(c);
    truncate(c, from - 1);
    let mut last = audit::last_hash(c).unwrap();
    while count(c) < n {
        let d = AuditDraft::new(
            "system",
            "token.create",
            "org/turkey",
            json!({"role": "owner"}),
        );
        audit::append(c, &mut last, &d).unwrap();
    }
}

/// Changes entry `seq`'s actor and re-hashes the chain after it, then the tree.
fn rewrite(c: &Connection, seq: u64) {
    rewrite_entries(c, seq);
    rebuild_tree(c);
}

/// Changes entry `seq`'s actor and re-hashes the chain after it (the tree left as it was).
fn rewrite_entries(c: &Connection, seq: u64) {
    c.execute(
        "UPDATE audit SET actor = 'sdf/token:99' WHERE seq = ?1",
        params![seq as i64],
    )
    .unwrap();
    let rows: Vec<audit::AuditEntry> = audit::list(c, 0, 1_000_000, None).unwrap();
    let mut prev = audit::GENESIS.to_string();
    for e in rows {
        let h = audit::entry_hash(
            &prev, e.seq, &e.time, &e.actor, &e.action, &e.object, &e.detail,
        );
        c.execute(
            "UPDATE audit SET prev = ?2, hash = ?3 WHERE seq = ?1",
            params![e.seq, prev, h],
        )
        .unwrap();
        prev = h;
    }
}

struct Partner {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Partner {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).await;
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_against_a_checkpoint_a_partner_holds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The signing key lives outside the data directory.
    let key_file = dir.path().join("keys/audit.key");
    let server = Server::start(config(&data, &key_file)).await.unwrap();
    let st = server.state.clone();
    let base = format!("http://{}", server.http);
    let mk = |org: &'static str, role| {
        let st = st.clone();
        async move {
            auth::create(&st.store, Some(&st.tokens), org, role, "", "test")
                .await
                .unwrap()
                .token
        }
    };
    let http = reqwest::Client::new();
    let ibf = Partner {
        http: http.clone(),
        base: base.clone(),
        token: mk("ibf", Role::Admin).await,
    };
    let turkey = Partner {
        http: http.clone(),
        base: base.clone(),
        token: mk("turkey", Role::Viewer).await,
    };
    for _ in 0..3 {
        assert_eq!(ibf.get("/api/v1/facilities").await.status(), 200);
        assert_eq!(turkey.get("/api/v1/tracks").await.status(), 200);
    }

    // The key partners pin, and a checkpoint the Turkish viewer keeps.
    let vkey = turkey.get("/api/v1/audit/key").await.text().await.unwrap();
    let vkey = vkey.trim().to_string();
    assert_eq!(vkey, st.checkpoints.key().verifier_key());
    st.checkpoints.publish(&st.store).await.unwrap();
    let note = turkey
        .get("/api/v1/audit/checkpoint")
        .await
        .text()
        .await
        .unwrap();
    let held = SignedCheckpoint::open(note.as_bytes(), &vkey).unwrap();
    assert!(held.size >= 8, "{held:?}");
    let held_file = dir.path().join("turkey.checkpoint");
    std::fs::write(&held_file, &note).unwrap();

    // The stream opens with the latest checkpoint.
    let mut sse = turkey.get("/api/v1/stream").await;
    let mut text = String::new();
    while !text.contains("event: checkpoint") {
        let chunk = sse.chunk().await.unwrap().expect("the stream goes on");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data_line = text[text.find("event: checkpoint").unwrap()..]
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let ev: Value = serde_json::from_str(data_line).unwrap();
    assert_eq!(ev["note"].as_str().unwrap(), note);
    drop(sse);

    // A webhook carries the latest checkpoint in a header.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap| {
            let tx = tx.clone();
            async move {
                let v = h.get("limes-audit-checkpoint").unwrap().to_str().unwrap();
                tx.send(v.to_string()).await.unwrap();
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, receiver).await.unwrap() });
    st.store
        .change(
            Box::new(move |c| {
                c.execute(
                    "INSERT INTO outbox (org, url, key, body, next_at) VALUES ('turkey', ?1, 'k', '{}', 0)",
                    params![hook],
                )?;
                Ok(Value::Null)
            }),
            None,
        )
        .await
        .unwrap();
    let header = rx.recv().await.unwrap();
    let hooked = base64::engine::general_purpose::STANDARD
        .decode(header)
        .unwrap();
    assert_eq!(
        SignedCheckpoint::open(&hooked, &vkey).unwrap().size,
        st.checkpoints.latest().unwrap().size
    );

    // The log goes on; the next checkpoint is proven to extend the one held.
    assert_eq!(turkey.get("/api/v1/tracks").await.status(), 200);
    let newer = st.checkpoints.publish(&st.store).await.unwrap();
    assert!(newer.size > held.size);
    let (code, a) = turkey
        .json(&format!("/api/v1/audit/consistency?from={}", held.size))
        .await;
    assert_eq!(code, 200, "{a}");
    let proof =
        parse_hashes(&serde_json::from_value::<Vec<String>>(a["proof"].clone()).unwrap()).unwrap();
    let latest =
        SignedCheckpoint::open(a["checkpoint"]["note"].as_str().unwrap().as_bytes(), &vkey)
            .unwrap();
    held.check_extended_by(&latest, &proof).unwrap();
    let (code, _) = turkey
        .json(&format!(
            "/api/v1/audit/consistency?from={}",
            latest.size + 1
        ))
        .await;
    assert_eq!(code, 400);

    // An organisation's admin proves its own entries are in the log everyone witnesses, and
    // cannot tell another organisation's entry from one that does not exist.
    let (_, mine) = ibf.json("/api/v1/audit").await;
    let e = &mine["entries"][0];
    let seq = e["seq"].as_u64().unwrap();
    let (code, inc) = ibf
        .json(&format!("/api/v1/audit/inclusion?seq={seq}"))
        .await;
    assert_eq!(code, 200, "{inc}");
    let leaf = tlog_leaf(&inc["entry"]);
    let cp = SignedCheckpoint::open(
        inc["checkpoint"]["note"].as_str().unwrap().as_bytes(),
        &vkey,
    )
    .unwrap();
    let proof = parse_hashes(&serde_json::from_value::<Vec<String>>(inc["proof"].clone()).unwrap())
        .unwrap();
    cp.check_includes(seq, leaf, &proof).unwrap();
    let turkish = st
        .store
        .read(|c| Ok(audit::list(c, 0, 100, Some("turkey"))?))
        .await
        .unwrap();
    let (code, theirs) = ibf
        .json(&format!("/api/v1/audit/inclusion?seq={}", turkish[0].seq))
        .await;
    let (code2, none) = ibf.json("/api/v1/audit/inclusion?seq=999999").await;
    assert_eq!((code, &theirs), (code2, &none));
    assert_eq!(code, 404);

    // The partner's witness tool agrees with the running server.
    let witness = |held: PathBuf, base: String, token: String, vkey: String| {
        limes(vec![
            "audit".into(),
            "witness".into(),
            "--server".into(),
            base,
            "--token".into(),
            token,
            "--key".into(),
            vkey,
            "--held".into(),
            held.to_str().unwrap().into(),
        ])
    };
    let kept = dir.path().join("turkey-kept.checkpoint");
    std::fs::copy(&held_file, &kept).unwrap();
    let o = witness(
        kept.clone(),
        base.clone(),
        turkey.token.clone(),
        vkey.clone(),
    )
    .await;
    assert!(o.status.success(), "{}", out(&o));
    server.stop().await;

    let verify = |d: &Path| {
        limes(vec![
            "audit".into(),
            "verify".into(),
            "--data".into(),
            d.to_str().unwrap().into(),
            "--checkpoint".into(),
            held_file.to_str().unwrap().into(),
            "--key".into(),
            vkey.clone(),
        ])
    };
    let intact = dir.path().join("intact");
    copy_store(&data, &intact);
    let o = verify(&intact).await;
    assert!(o.status.success(), "{}", out(&o));

    for (case, expect) in [
        ("truncated", "truncated: the checkpoint"),
        ("forged", "do not hash to the root signed"),
        ("rewritten", "do not hash to the root signed"),
        (
            "edited",
            "the stored Merkle tree does not match the entries",
        ),
    ] {
        let d = dir.path().join(case);
        copy_store(&data, &d);
        {
            let c = attacker(&d.join("limes.sqlite"));
            match case {
                "truncated" => truncate(&c, held.size - 3),
                "forged" => forge(&c, held.size - 1),
                "rewritten" => rewrite(&c, 3),
                _ => rewrite_entries(&c, 3),
            }
            // The hash chain alone sees nothing wrong.
            audit::verify(&c).unwrap();
        }
        let o = verify(&d).await;
        assert!(!o.status.success(), "{case}: {}", out(&o));
        assert!(out(&o).contains(expect), "{case}: {}", out(&o));

        if case == "edited" {
            // The stored tree still proves every checkpoint, but the server finds the entries
            // do not match it and signs no more.
            let s = Server::start(config(&d, &key_file)).await.unwrap();
            s.state.checkpoints.check_entries(&s.state.store).await;
            let e = s
                .state
                .checkpoints
                .publish(&s.state.store)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("not signing"), "{e}");
            s.stop().await;
            continue;
        }
        // The server will not sign over it either...
        let e = Server::start(config(&d, &key_file)).await.err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("audit log"), "{case}: {e}");
        // ...and when the attacker also removes its record of the last checkpoint, the
        // partner's check against the checkpoint it kept fails.
        std::fs::remove_file(d.join("audit-checkpoint")).unwrap();
        let s = Server::start(config(&d, &key_file)).await.unwrap();
        let kept = dir.path().join(format!("{case}.checkpoint"));
        std::fs::copy(&held_file, &kept).unwrap();
        let o = witness(
            kept.clone(),
            format!("http://{}", s.http),
            turkey.token.clone(),
            vkey.clone(),
        )
        .await;
        assert!(!o.status.success(), "{case}: {}", out(&o));
        assert!(out(&o).contains("WITNESS FAILED"), "{case}: {}", out(&o));
        // The checkpoint kept is not replaced by the server's.
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), note);
        s.stop().await;
    }
}

/// The leaf hash of an entry as the API shows it (RFC 6962 leaf of the documented encoding).
fn tlog_leaf(e: &Value) -> merkle::Hash {
    let s = |k: &str| e[k].as_str().unwrap().to_string();
    let data = merkle::leaf_data(
        e["seq"].as_i64().unwrap(),
        &s("time"),
        &s("actor"),
        &s("action"),
        &s("object"),
        &s("detail"),
    );
    let mut h = sha256(&[&[0u8][..], &data].concat());
    h.truncate(32);
    merkle::Hash(h.try_into().unwrap())
}

fn sha256(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}
