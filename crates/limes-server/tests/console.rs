//! The console's server side, in process: people sign in (argon2id, session cookie), and every
//! refusal the issue names — wrong password, repeated failures, an expired session, a viewer
//! trying to change something, a forged cross-site request — is clear and changes nothing; the
//! audit log names the user; the site's geometry is released per organisation; history keeps
//! facility states for the time slider.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use limes_server::auth::Role;
use limes_server::console::users;
use limes_server::{ServeConfig, Server};
use reqwest::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const PW: &str = "a long enough password";

struct T {
    _dir: tempfile::TempDir,
    server: Server,
    base: String,
    http: reqwest::Client,
}

async fn start(ttl_s: f64) -> T {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let site = dir.path().join("ain-issa.toml");
    std::fs::copy(root.join("sites/ain-issa.toml"), &site).expect("site");
    let mut cfg =
        ServeConfig::new(site.display().to_string(), dir.path().join("data")).on_free_ports();
    cfg.no_cot = true;
    cfg.cot = None;
    cfg.console.session_hours = ttl_s / 3600.0;
    let server = Server::start(cfg).await.expect("server starts");
    let st = &server.state.store;
    for (name, org, role) in [
        ("op1", "ibf", Role::Operator),
        ("view1", "ibf", Role::Viewer),
        ("hum1", "humanitarian", Role::Viewer),
        ("tr1", "turkey", Role::Operator),
    ] {
        users::add(st, name, org, role, PW, "test")
            .await
            .expect("user");
    }
    let base = format!("http://{}", server.http);
    T {
        _dir: dir,
        server,
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// A signed-in page: its cookie and CSRF token.
struct Page {
    cookie: String,
    csrf: String,
}

impl T {
    async fn sign_in(&self, user: &str, pw: &str) -> (u16, Value, Option<String>) {
        let r = self
            .http
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({ "user": user, "password": pw }))
            .send()
            .await
            .unwrap();
        let cookie = r
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_string());
        (
            r.status().as_u16(),
            r.json().await.unwrap_or(Value::Null),
            cookie,
        )
    }

    async fn page(&self, user: &str) -> Page {
        let (st, body, cookie) = self.sign_in(user, PW).await;
        assert_eq!(st, 200, "{body}");
        let cookie = cookie.expect("a cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        Page {
            cookie: cookie.split(';').next().unwrap().to_string(),
            csrf: body["csrf"].as_str().unwrap().to_string(),
        }
    }

    async fn get(&self, p: &Page, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &p.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, p: &Page, path: &str, body: Value, extra: HeaderMap) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &p.cookie)
            .headers(extra)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn guards(&self, p: &Page) -> u64 {
        let (st, v) = self.get(p, "/api/v1/facilities").await;
        assert_eq!(st, 200, "{v}");
        v["facilities"][0]["guards"].as_u64().unwrap()
    }

    async fn audit(&self) -> Vec<Value> {
        let db = self.server.state.store.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let c = rusqlite::Connection::open(db).unwrap();
            limes_server::audit::list(&c, 0, 100_000, None)
                .unwrap()
                .into_iter()
                .map(|e| serde_json::to_value(e).unwrap())
                .collect()
        })
        .await
        .unwrap()
    }
}

fn csrf(p: &Page) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-csrf-token", HeaderValue::from_str(&p.csrf).unwrap());
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_changes_a_facility_and_the_audit_names_them() {
    let t = start(3600.0).await;
    let p = t.page("op1").await;
    let (st, who) = t.get(&p, "/api/v1/session").await;
    assert_eq!(st, 200);
    assert_eq!(
        (
            who["user"].as_str(),
            who["org"].as_str(),
            who["role"].as_str()
        ),
        (Some("op1"), Some("ibf"), Some("operator"))
    );
    let (st, v) = t
        .post(
            &p,
            "/api/v1/facilities/ain-issa-annex",
            json!({ "guards": 12 }),
            csrf(&p),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(t.guards(&p).await, 12);
    assert_eq!(v["changed_by"], "ibf/user:op1");
    let audit = t.audit().await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "facility.update" && e["actor"] == "ibf/user:op1"));
    assert!(audit
        .iter()
        .any(|e| e["action"] == "session.open" && e["actor"] == "ibf/user:op1"));
    // Signing out ends the session on the server, not only in the browser, and the event
    // stream the page holds open with it (it kept delivering before).
    let mut stream = t
        .http
        .get(format!("{}/api/v1/stream", t.base))
        .header(COOKIE, &p.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some(), "the stream opens");
    let r = t
        .http
        .delete(format!("{}/api/v1/session", t.base))
        .header(COOKIE, &p.cookie)
        .headers(csrf(&p))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (st, v) = t.get(&p, "/api/v1/alerts").await;
    assert_eq!(st, 401, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("sign in again"),
        "{v}"
    );
    // The open stream ends: what it still had queued, then its end (a minute is what only a
    // stream that never ends takes).
    tokio::time::timeout(Duration::from_secs(60), async {
        while stream.chunk().await.unwrap().is_some() {}
    })
    .await
    .expect("the stream ended with the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_repeated_failures_lock_the_name() {
    let t = start(3600.0).await;
    let (st, v, cookie) = t.sign_in("op1", "not the password").await;
    assert_eq!(st, 401);
    assert_eq!(v["error"], "wrong user name or password");
    assert!(cookie.is_none());
    // An unknown name gets the very same answer.
    let (st, v2, _) = t.sign_in("nobody", "not the password").await;
    assert_eq!((st, &v2), (401, &v));
    assert!(t.server.state.console.sessions.is_empty());
    for _ in 0..users::FREE_FAILURES {
        t.sign_in("op1", "still wrong").await;
    }
    // Locked: even the right password is refused, with how long to wait.
    let (st, v, cookie) = t.sign_in("op1", PW).await;
    assert_eq!(st, 429, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("too many failed sign-ins"),
        "{v}"
    );
    assert!(cookie.is_none());
    assert!(t.server.state.console.sessions.is_empty());
    // Other names are not locked with it.
    let (st, _, _) = t.sign_in("view1", PW).await;
    assert_eq!(st, 200);
    assert!(t
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "session.lockout"));
}

/// OWASP's device cookies: strangers failing to sign in as an operator lock the name for
/// strangers only; the operator's own browser (which signed in before) still signs in, and
/// fails into a count of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_locked_by_strangers_still_takes_its_own_browsers_sign_in() {
    let t = start(3600.0).await;
    let sign_in = |pw: &'static str, device: Option<String>| {
        let mut r = t
            .http
            .post(format!("{}/api/v1/session", t.base))
            .json(&json!({ "user": "op1", "password": pw }));
        if let Some(d) = device {
            r = r.header(COOKIE, d);
        }
        async move {
            let r = r.send().await.unwrap();
            let device = r
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with("limes_device="))
                .map(|c| c.split(';').next().unwrap_or_default().to_string());
            (r.status().as_u16(), device)
        }
    };
    let (st, device) = sign_in(PW, None).await;
    assert_eq!(st, 200);
    let device = device.expect("a device cookie");
    for _ in 0..=users::FREE_FAILURES {
        sign_in("wrong", None).await;
    }
    assert_eq!(sign_in(PW, None).await.0, 429, "locked for strangers");
    let (st, again) = sign_in(PW, Some(device.clone())).await;
    assert_eq!(st, 200, "the operator's own browser signs in");
    assert!(again.is_none(), "it keeps its device cookie");
    // A forged or another account's device cookie is a stranger's.
    assert_eq!(sign_in(PW, Some("limes_device=00".into())).await.0, 429);
    // The browser's own failures lock the browser.
    for _ in 0..=users::FREE_FAILURES {
        sign_in("wrong", Some(device.clone())).await;
    }
    assert_eq!(sign_in(PW, Some(device)).await.0, 429);
    // The IBF's admin reads the lock-outs of its operator's name.
    let locks: Vec<Value> = t
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "session.lockout")
        .collect();
    assert!(
        locks.len() >= 2 && locks.iter().all(|e| e["actor"] == "ibf/system"),
        "{locks:?}"
    );
    // The owner's account carries an organisation too, whose admins do not read its entries.
    users::add(
        &t.server.state.store,
        "own1",
        "ibf",
        Role::Owner,
        PW,
        "test",
    )
    .await
    .expect("owner");
    for _ in 0..=users::FREE_FAILURES {
        t.sign_in("own1", "wrong").await;
    }
    let owner_locks: Vec<Value> = t
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "session.lockout" && e["object"] == "user/own1")
        .collect();
    assert!(
        !owner_locks.is_empty() && owner_locks.iter().all(|e| e["actor"] == "system"),
        "{owner_locks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused() {
    let t = start(0.0).await;
    let p = t.page("op1").await;
    let (st, v) = t.get(&p, "/api/v1/facilities").await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(v["error"], "your session has expired; sign in again");
    let (st, v) = t
        .post(
            &p,
            "/api/v1/facilities/ain-issa-annex",
            json!({ "guards": 1 }),
            csrf(&p),
        )
        .await;
    assert_eq!(st, 401, "{v}");
    assert!(!t
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "facility.update"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_may_read_but_not_change() {
    let t = start(3600.0).await;
    let p = t.page("view1").await;
    let before = t.guards(&p).await;
    let (st, v) = t
        .post(
            &p,
            "/api/v1/facilities/ain-issa-annex",
            json!({ "guards": 1 }),
            csrf(&p),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"], "your role may not update facilities");
    let (st, v) = t
        .post(&p, "/api/v1/alerts/1/ack", json!({}), csrf(&p))
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"], "your role may not change alerts");
    assert_eq!(t.guards(&p).await, before);
    let (st, v) = t.get(&p, "/api/v1/nuisance/recent?hours=24").await;
    assert_eq!(st, 403, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_cross_site_request_is_refused_and_changes_nothing() {
    let t = start(3600.0).await;
    let p = t.page("op1").await;
    let before = t.guards(&p).await;
    let body = json!({ "guards": 0, "status": "abandoned" });
    // The browser sends the cookie, but the other site cannot read the CSRF token.
    let (st, v) = t
        .post(
            &p,
            "/api/v1/facilities/ain-issa-annex",
            body.clone(),
            HeaderMap::new(),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("CSRF"), "{v}");
    // Even with a token, a request another origin made is refused.
    for (k, val) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let mut h = csrf(&p);
        h.insert(k, HeaderValue::from_static(val));
        let (st, v) = t
            .post(&p, "/api/v1/facilities/ain-issa-annex", body.clone(), h)
            .await;
        assert_eq!(st, 403, "{k}: {v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .starts_with("cross-site request refused"),
            "{v}"
        );
    }
    let mut wrong = csrf(&p);
    wrong.insert("x-csrf-token", HeaderValue::from_static("0000"));
    let (st, _) = t
        .post(&p, "/api/v1/facilities/ain-issa-annex", body.clone(), wrong)
        .await;
    assert_eq!(st, 403);
    assert_eq!(t.guards(&p).await, before);
    // Sign-in itself: not from another origin, and not as a form post.
    let r = t
        .http
        .post(format!("{}/api/v1/session", t.base))
        .header("origin", "http://evil.example")
        .json(&json!({ "user": "op1", "password": PW }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = t
        .http
        .post(format!("{}/api/v1/session", t.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=op1&password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // A sign-in is read before anyone is known: a body past a few KiB is refused, not held.
    let r = t
        .http
        .post(format!("{}/api/v1/session", t.base))
        .header("content-type", "application/json")
        .body(vec![b' '; 64 << 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("sign-in")),
        "{v}"
    );
    assert!(!t
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "facility.update"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_geometry_is_released_per_organisation() {
    let t = start(3600.0).await;
    let ibf = t.page("op1").await;
    let (st, g) = t.get(&ibf, "/api/v1/site").await;
    assert_eq!(st, 200, "{g}");
    assert!(g["sensors"].as_array().unwrap().len() >= 5);
    assert!(g["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["camera"]["range_m"].as_f64().is_some()));
    assert!(!g["fence_zones"].as_array().unwrap().is_empty());
    assert_eq!(g["units"].as_array().unwrap().len(), 2);
    assert!(g["facilities"][0]["gates"].is_array());
    for user in ["hum1", "tr1"] {
        let p = t.page(user).await;
        let (st, g) = t.get(&p, "/api/v1/site").await;
        assert_eq!(st, 200, "{g}");
        for k in ["sensors", "fence_zones", "units"] {
            assert!(g.get(k).is_none(), "{user} was sent {k}: {g}");
        }
        // Not even as a number somewhere else in the reply.
        let text = g.to_string();
        for s in &t.server.state.site.sensors {
            assert!(
                !text.contains(&s.pos.lat.to_string()),
                "{user} got {}'s position: {text}",
                s.id
            );
        }
    }
    // Turkey is released no facilities: no outline either.
    let p = t.page("tr1").await;
    let (_, g) = t.get(&p, "/api/v1/site").await;
    assert!(g["facilities"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_facility_states_released_by_policy() {
    let t = start(3600.0).await;
    let op = t.page("op1").await;
    let t0 = t.server.state.clock.now();
    let (st, _) = t
        .post(
            &op,
            "/api/v1/facilities/ain-issa-annex",
            json!({ "status": "threatened" }),
            csrf(&op),
        )
        .await;
    assert_eq!(st, 200);
    let path = format!("/api/v1/history?at={t0}&span=600");
    let end = Instant::now() + Duration::from_secs(30);
    let w = loop {
        let (st, w) = t.get(&op, &path).await;
        assert_eq!(st, 200, "{w}");
        let seen = w["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["body"]["status"] == "threatened");
        if seen || Instant::now() > end {
            break w;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let changes = w["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["kind"] == "facility" && c["body"]["status"] == "threatened"),
        "{w}"
    );
    // The picture at the start of the window holds the facility as it was then.
    assert_eq!(w["start"]["facilities"][0]["status"], "secure", "{w}");
    // Turkey is released no facilities: its history has none either.
    let tr = t.page("tr1").await;
    let (st, w) = t.get(&tr, &path).await;
    assert_eq!(st, 200);
    assert!(w["changes"].as_array().unwrap().is_empty(), "{w}");
    assert!(
        w["start"]["facilities"].as_array().unwrap().is_empty(),
        "{w}"
    );
    let (st, v) = t.get(&op, "/api/v1/history?at=1&span=99999").await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["details"]["field"], "span");
}
