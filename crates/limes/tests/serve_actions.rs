//! The release matrix for actions and side channels: organisation × role × endpoint. Partners
//! are adversaries: an admin administers only its own organisation, an operator acts only on
//! alerts released to it in full and writes only the facility fields the policy gives it, a
//! credential sends only for its organisation's sensors, counts and errors say nothing about
//! items not released, and operational metrics are not on the partners' listener. One breakout
//! night is run once in this process; each concern is its own test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::OnceLock;

const ORGS: [&str; 6] = ["ibf", "sdf", "coalition", "turkey", "syria", "humanitarian"];

struct Camp {
    srv: InProc,
    owner: String,
    _dir: tempfile::TempDir,
}

fn camp() -> &'static Camp {
    static C: OnceLock<Camp> = OnceLock::new();
    C.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = camp_site(dir.path(), None);
        let mut cfg =
            limes_server::ServeConfig::new(site.display().to_string(), dir.path().join("data"));
        cfg.clock_speed = 30.0;
        cfg.cot_clients = true;
        let srv = InProc::start(cfg);
        let owner = srv.token("ibf", "owner");
        let sensor = srv.token("sdf", "sensor");
        feed(
            &srv.http,
            &sensor,
            &breakout(),
            &AtomicBool::new(false),
            &AtomicU64::new(0),
        );
        wait_for(60.0, || {
            let (_, v) = srv.get(&owner, "/api/v1/alerts?kind=mass_breakout");
            v["alerts"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
                .then_some(())
        })
        .expect("a breakout");
        Camp {
            srv,
            owner,
            _dir: dir,
        }
    })
}

/// `DELETE /api/v1/tokens/{id}` as `who`: status and body.
fn revoke(c: &Camp, who: &str, id: i64) -> (u16, String) {
    let r = client()
        .delete(format!("{}/api/v1/tokens/{id}", c.srv.http))
        .bearer_auth(who)
        .send()
        .expect("delete");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// The id `org` knows the first alert of `kind` by, if it is released that alert.
fn alert_id(c: &Camp, token: &str, kind: &str) -> Option<String> {
    let (_, v) = c.srv.get(token, &format!("/api/v1/alerts?kind={kind}"));
    v["alerts"][0]["id"].as_str().map(str::to_string)
}

#[test]
fn an_admin_mints_tokens_only_for_its_own_organisation_and_never_an_owner() {
    let c = camp();
    for org in ORGS {
        let admin = c.srv.token(org, "admin");
        for target in ORGS {
            let (st, v) = c.srv.post(
                &admin,
                "/api/v1/tokens",
                json!({"org": target, "role": "viewer"}).to_string(),
            );
            let want = if target == org { 200 } else { 403 };
            assert_eq!(st, want, "{org} admin minting for {target}: {v}");
        }
        let (st, _) = c.srv.post(
            &admin,
            "/api/v1/tokens",
            json!({"org": org, "role": "owner"}).to_string(),
        );
        assert_eq!(st, 403, "{org} admin minting an owner token");
    }
    for role in ["viewer", "operator", "sensor"] {
        let t = c.srv.token("ibf", role);
        let (st, _) = c.srv.post(
            &t,
            "/api/v1/tokens",
            json!({"org": "ibf", "role": "viewer"}).to_string(),
        );
        assert_eq!(st, 403, "a {role} minting a token");
    }
    let (st, v) = c.srv.post(
        &c.owner,
        "/api/v1/tokens",
        json!({"org": "turkey", "role": "admin"}).to_string(),
    );
    assert_eq!(st, 200, "the owner mints for any organisation: {v}");
    // An owner's token carries an organisation too; that organisation's admin cannot revoke
    // it, and gets the answer a missing token gets (it could before).
    let (st, v) = c.srv.post(
        &c.owner,
        "/api/v1/tokens",
        json!({"org": "ibf", "role": "owner"}).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    let (id, spare) = (v["id"].as_i64().expect("id"), v["token"].clone());
    let delete = |who: &str, id: i64| revoke(c, who, id);
    let ibf_admin = c.srv.token("ibf", "admin");
    let refused = delete(&ibf_admin, id);
    assert_eq!(refused.0, 404, "{refused:?}");
    assert_eq!(refused, delete(&ibf_admin, 999_999));
    let spare = spare.as_str().expect("token");
    assert_eq!(c.srv.get(spare, "/api/v1/stats").0, 200, "still valid");
    assert_eq!(delete(&c.owner, id).0, 200, "the owner revokes it");
}

#[test]
fn an_admin_reads_only_its_own_organisations_audit_entries() {
    let c = camp();
    // Give every organisation some reads to be audited.
    for org in ORGS {
        let v = c.srv.token(org, "viewer");
        c.srv.get(&v, "/api/v1/alerts");
    }
    for org in ORGS {
        let admin = c.srv.token(org, "admin");
        let (st, v) = c.srv.get(&admin, "/api/v1/audit?limit=10000");
        assert_eq!(st, 200);
        let entries = v["entries"].as_array().expect("entries");
        assert!(!entries.is_empty(), "{org} sees its own entries");
        for e in entries {
            let actor = e["actor"].as_str().expect("actor");
            assert!(
                actor.starts_with(&format!("{org}/")),
                "{org} admin saw {actor}'s entry: {e}"
            );
        }
    }
    // The owner's entries are not its organisation's admins' to read, though its token
    // carries that organisation (ibf): an ibf admin saw the owner mint a turkey admin.
    let (st, _) = c.srv.post(
        &c.owner,
        "/api/v1/tokens",
        json!({"org": "turkey", "role": "viewer"}).to_string(),
    );
    assert_eq!(st, 200);
    for org in ORGS {
        let (_, v) = c
            .srv
            .get(&c.srv.token(org, "admin"), "/api/v1/audit?limit=10000");
        for e in v["entries"].as_array().expect("entries") {
            if e["action"] == "token.create" {
                assert_eq!(e["object"], format!("org/{org}"), "{org} admin saw {e}");
            }
        }
    }
    let (_, v) = c.srv.get(&c.owner, "/api/v1/audit?limit=10000");
    let actors: std::collections::BTreeSet<&str> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["actor"].as_str()?.split('/').next())
        .collect();
    for org in ORGS {
        assert!(actors.contains(org), "the owner sees {org}'s entries");
    }
    let viewer = c.srv.token("ibf", "operator");
    assert_eq!(c.srv.get(&viewer, "/api/v1/audit").0, 403);
}

#[test]
fn operators_act_only_on_alerts_released_to_them_in_full_and_refusals_look_like_absence() {
    let c = camp();
    let nothing = c.srv.post(
        &c.srv.token("ibf", "operator"),
        "/api/v1/alerts/a00000000000000000000000000000000/ack",
        "",
    );
    assert_eq!(nothing.0, 404);
    for org in ["turkey", "syria", "humanitarian"] {
        // Released to them coarse or as a summary: no action, and the answer is the same as for
        // an alert that does not exist.
        let viewer = c.srv.token(org, "viewer");
        let op = c.srv.token(org, "operator");
        let id = alert_id(c, &viewer, "mass_breakout").expect("released");
        for action in ["ack", "assign", "resolve"] {
            let body = match action {
                "assign" => r#"{"unit":"sdf-ain-issa"}"#,
                "resolve" => r#"{"reason":"confirmed"}"#,
                _ => "",
            };
            let got = c
                .srv
                .post(&op, &format!("/api/v1/alerts/{id}/{action}"), body);
            assert_eq!(got, nothing, "{org} {action} on a coarse alert");
        }
        // Not released at all: its id in another organisation's space, or the owner's id.
        let ibf_id = alert_id(c, &c.owner, "sensor_offline").expect("offline alert");
        let got = c.srv.post(&op, &format!("/api/v1/alerts/{ibf_id}/ack"), "");
        assert_eq!(got, nothing, "{org} acting on another organisation's id");
        let (st, body) = c.srv.get(&viewer, &format!("/api/v1/alerts/{ibf_id}"));
        let (st2, body2) = c
            .srv
            .get(&viewer, "/api/v1/alerts/a00000000000000000000000000000000");
        assert_eq!(
            (st, &body),
            (st2, &body2),
            "{org}: not released looks like absent"
        );
        let (st, t) = c
            .srv
            .get_text(&viewer, &format!("/api/v1/alerts/{ibf_id}/cap?rev=999"));
        let (st2, t2) = c.srv.get_text(
            &viewer,
            "/api/v1/alerts/a00000000000000000000000000000000/cap?rev=999",
        );
        assert_eq!(
            (st, t.as_str()),
            (st2, t2.as_str()),
            "{org}: CAP existence oracle"
        );
        let (st, t) = c
            .srv
            .get_text(&viewer, &format!("/api/v1/alerts/{id}/cap?rev=999"));
        assert_eq!(
            (st, t.as_str()),
            (st2, t2.as_str()),
            "{org}: a revision that does not exist"
        );
        // The probe leaves a trace its own organisation's admin reads (and no other's).
        let (_, a) = c
            .srv
            .get(&c.srv.token(org, "admin"), "/api/v1/audit?limit=10000");
        let probe = format!("POST /api/v1/alerts/{ibf_id}/ack");
        let traced = a["entries"].as_array().expect("entries").iter().any(|e| {
            e["action"] == "refused"
                && e["object"] == probe.as_str()
                && e["actor"]
                    .as_str()
                    .is_some_and(|x| x.starts_with(&format!("{org}/")))
        });
        assert!(traced, "{org}'s admin reads its operator's refused probe");
    }
}

#[test]
fn facility_writes_follow_the_site_policy() {
    let c = camp();
    let path = "/api/v1/facilities/ain-issa-annex";
    let hum = c.srv.token("humanitarian", "operator");
    for (body, field) in [
        (r#"{"status":"secure"}"#, "status"),
        (r#"{"guards":40}"#, "guards"),
    ] {
        let (st, v) = c.srv.post(&hum, path, body);
        assert_eq!(
            (st, v["details"]["field"].clone()),
            (403, json!(field)),
            "{v}"
        );
    }
    let (st, v) = c.srv.post(
        &hum,
        path,
        r#"{"head_count":700,"note":"count at the clinic"}"#,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["population"], 700);
    for org in ["turkey", "syria"] {
        let op = c.srv.token(org, "operator");
        let (st, v) = c.srv.post(&op, path, r#"{"note":"x"}"#);
        assert_eq!(st, 404, "{org}: {v}");
        let (st2, v2) = c
            .srv
            .post(&op, "/api/v1/facilities/no-such-camp", r#"{"note":"x"}"#);
        assert_eq!(
            (st, v),
            (st2, v2),
            "{org}: unreleased facility looks absent"
        );
    }
    let sdf = c.srv.token("sdf", "operator");
    let (st, v) = c
        .srv
        .post(&sdf, path, r#"{"status":"threatened","guards":3}"#);
    assert_eq!(
        (st, v["status"].clone(), v["guards"].clone()),
        (200, json!("threatened"), json!(3)),
        "{v}"
    );
    // Concurrent updates of different fields both land (the writer merges them).
    let a = std::thread::spawn({
        let (http, t) = (c.srv.http.clone(), sdf.clone());
        move || {
            client()
                .post(format!("{http}{path}"))
                .bearer_auth(t)
                .body(r#"{"guards":9}"#)
                .send()
                .expect("post")
                .status()
        }
    });
    let (st, _) = c.srv.post(&hum, path, r#"{"note":"second count"}"#);
    assert_eq!(st, 200);
    assert!(a.join().expect("join").is_success());
    let (_, f) = c.srv.get(&sdf, "/api/v1/facilities");
    let f = &f["facilities"][0];
    assert_eq!(
        (f["guards"].clone(), f["note"].clone()),
        (json!(9), json!("second count")),
        "{f}"
    );
    // Who set it is named by organisation only to the others (never a token or user).
    let (st, _) = c.srv.post(&hum, path, r#"{"note":"third count"}"#);
    assert_eq!(st, 200);
    let (_, f) = c.srv.get(&sdf, "/api/v1/facilities");
    let f = &f["facilities"][0];
    assert_eq!(f["changed_by"], "humanitarian", "{f}");
    let (_, f) = c.srv.get(&hum, "/api/v1/facilities");
    let by = f["facilities"][0]["changed_by"]
        .as_str()
        .unwrap_or_default();
    assert!(by.starts_with("humanitarian/token:"), "its own: {f}");
    // An organisation that may set no field (the coalition), or an update that sets none,
    // changes nothing (it took `changed_by` over before).
    let coalition = c.srv.token("coalition", "operator");
    assert_eq!(c.srv.post(&coalition, path, "{}").0, 403);
    let (st, v) = c.srv.post(&sdf, path, "{}");
    assert_eq!(st, 400, "{v}");
    let (_, f) = c.srv.get(&sdf, "/api/v1/facilities");
    assert_eq!(f["facilities"][0]["changed_by"], "humanitarian", "{f}");
}

#[test]
fn nuisance_counts_cover_only_alerts_released_in_full() {
    let c = camp();
    let op = c.srv.token("ibf", "operator");
    let id = alert_id(c, &op, "sensor_offline").expect("offline alert");
    let (st, v) = c.srv.post(
        &op,
        &format!("/api/v1/alerts/{id}/resolve"),
        r#"{"reason":"sensor_fault"}"#,
    );
    assert_eq!(st, 200, "{v}");
    let rows = |org: &str| {
        let (st, v) = c.srv.get(&c.srv.token(org, "operator"), "/api/v1/nuisance");
        assert_eq!(st, 200);
        v["nuisance"].as_array().expect("rows").clone()
    };
    let ibf = rows("ibf");
    assert!(
        ibf.iter()
            .any(|r| r["scope"] == "sensor" && r["reason"] == "sensor_fault"),
        "{ibf:?}"
    );
    for org in ["turkey", "syria", "humanitarian"] {
        assert!(
            rows(org).is_empty(),
            "{org} sees nuisance counts of alerts it is not released"
        );
    }
}

#[test]
fn statistics_and_metrics_are_not_for_partners() {
    let c = camp();
    for org in ORGS {
        for role in ["viewer", "operator", "admin", "sensor"] {
            let t = c.srv.token(org, role);
            assert_eq!(
                c.srv.get(&t, "/api/v1/stats").0,
                403,
                "{org} {role} read stats"
            );
        }
    }
    assert_eq!(c.srv.get(&c.owner, "/api/v1/stats").0, 200);
    let r = client()
        .get(format!("{}/metrics", c.srv.http))
        .send()
        .expect("get");
    assert_eq!(
        r.status().as_u16(),
        404,
        "metrics on the partners' listener"
    );
    let r = client()
        .get(format!("{}/metrics", c.srv.ops))
        .send()
        .expect("get");
    assert_eq!(
        r.status().as_u16(),
        200,
        "metrics on the operations listener"
    );
}

#[test]
fn a_credential_sends_only_for_its_own_organisations_sensors_and_says_nothing_of_others() {
    let c = camp();
    let now = limes_server::clock::wall_now();
    let rec = |sensor: &str| {
        format!(
            r#"{{"type":"heartbeat","sensor":"{sensor}","time":"{}"}}"#,
            limes_core::record::Time(now)
        )
    };
    let ibf = c.srv.token("ibf", "sensor");
    let (st, v) = c.srv.post(&ibf, "/api/v1/ingest", rec("ai-ne-cam"));
    let (st2, v2) = c.srv.post(&ibf, "/api/v1/ingest", rec("no-such-camera"));
    assert_eq!(st, 422, "ibf sending as the camp's camera: {v}");
    assert_eq!(v["rejected"][0]["field"], "sensor");
    let m1 = v["rejected"][0]["message"]
        .as_str()
        .unwrap_or("")
        .replace("ai-ne-cam", "X");
    let m2 = v2["rejected"][0]["message"]
        .as_str()
        .unwrap_or("")
        .replace("no-such-camera", "X");
    assert_eq!(
        (st, m1),
        (st2, m2),
        "someone else's sensor and no sensor get the same answer"
    );
    let sdf = c.srv.token("sdf", "sensor");
    let (st, v) = c.srv.post(&sdf, "/api/v1/ingest", rec("ai-ne-cam"));
    assert!(
        st == 200 || st == 422 && v["rejected"][0]["field"] == "time",
        "{v}"
    );
    let admin = c.srv.token("turkey", "admin");
    let (st, _) = c.srv.post(&admin, "/api/v1/ingest", rec("ai-ne-cam"));
    assert_eq!(
        st, 422,
        "another organisation's admin sending as the camp's camera"
    );
}

#[test]
fn tak_client_uids_are_scoped_per_organisation() {
    let c = camp();
    let now = limes_core::record::Time(limes_server::clock::wall_now());
    let hello = |token: &str, uid: &str| {
        format!(
            r#"<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" time="{now}" start="{now}" stale="{now}"><point lat="36.39" lon="38.9" hae="0" ce="9999999" le="9999999"/><detail><limes token="{token}"/></detail></event><event version="2.0" uid="{uid}-ping" type="t-x-c-t" how="m-g" time="{now}" start="{now}" stale="{now}"><point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/><detail/></event>"#
        )
    };
    let open_as = |token: &str, uid: &str| {
        let mut s = std::net::TcpStream::connect(c.srv.cot).expect("connect");
        s.write_all(hello(token, uid).as_bytes()).expect("write");
        s
    };
    let open = |org: &str, uid: &str| open_as(&c.srv.token(org, "viewer"), uid);
    let read_pong = |s: &mut std::net::TcpStream| {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("t-x-c-t-r") {
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let mut a = open("ibf", "device-7");
    assert!(read_pong(&mut a).contains("t-x-c-t-r"));
    let mut b = open("turkey", "device-7");
    assert!(
        read_pong(&mut b).contains("t-x-c-t-r"),
        "another organisation's client may use the same uid without locking the first out"
    );
    let mut d = open("ibf", "device-7");
    let mut got = String::new();
    let _ = d.read_to_string(&mut got);
    assert!(
        got.contains("Connection refused") && got.contains("uid"),
        "{got}"
    );
    drop(a);
    drop(b);
    // A token may be shared by many devices (a gateway): connecting again with one does not
    // take a uid over (a device certificate does: tak_devices.rs), so no device can cut a
    // colleague off.
    let phone = c.srv.token("ibf", "viewer");
    let mut first = open_as(&phone, "device-8");
    assert!(read_pong(&mut first).contains("t-x-c-t-r"));
    let mut again = open_as(&phone, "device-8");
    again
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let mut got = String::new();
    let _ = again.read_to_string(&mut got);
    assert!(got.contains("uids must be distinct"), "{got}");
}

#[test]
fn the_life_cycle_runs_in_order_by_operators_and_is_audited_with_who_did_it() {
    let c = camp();
    let viewer = c.srv.token("sdf", "viewer");
    let op = c.srv.token("sdf", "operator");
    let id = alert_id(c, &op, "mass_breakout").expect("breakout");
    let url = |action: &str| format!("/api/v1/alerts/{id}/{action}");
    assert_eq!(
        c.srv.post(&viewer, &url("ack"), "").0,
        403,
        "a viewer may not acknowledge"
    );
    let (st, v) = c.srv.post(&op, &url("ack"), r#"{"note":"seen"}"#);
    assert_eq!(
        (st, v["status"].clone()),
        (200, json!("acknowledged")),
        "{v}"
    );
    assert_eq!(
        c.srv.post(&op, &url("ack"), "").0,
        409,
        "acknowledged twice"
    );
    // A partner given the alert below full sees it "new", and a filter on the status matches
    // what it sees, never the life cycle it is not given (it found "acknowledged" before).
    let mut reduced = 0;
    for org in ORGS {
        let t = c.srv.token(org, "viewer");
        let Some(theirs) = alert_id(c, &t, "mass_breakout") else {
            continue;
        };
        let (_, v) = c.srv.get(&t, &format!("/api/v1/alerts/{theirs}"));
        let seen = v["status"].as_str().expect("a status").to_string();
        reduced += usize::from(seen == "new");
        for status in ["new", "acknowledged"] {
            let (_, l) = c.srv.get(
                &t,
                &format!("/api/v1/alerts?kind=mass_breakout&status={status}"),
            );
            let listed = l["alerts"]
                .as_array()
                .expect("alerts")
                .iter()
                .any(|a| a["id"] == json!(theirs));
            assert_eq!(
                listed,
                seen == status,
                "{org} sees {seen}; ?status={status}"
            );
        }
    }
    assert!(reduced > 0, "some partner is given the breakout below full");
    let (st, v) = c
        .srv
        .post(&op, &url("assign"), r#"{"unit":"no-such-unit"}"#);
    assert_eq!(
        (st, v["details"]["field"].clone()),
        (400, json!("unit")),
        "{v}"
    );
    let (st, v) = c
        .srv
        .post(&op, &url("assign"), r#"{"unit":"sdf-ain-issa"}"#);
    assert_eq!((st, v["unit"].clone()), (200, json!("sdf-ain-issa")), "{v}");
    let (st, v) = c.srv.post(
        &op,
        &url("resolve"),
        r#"{"reason":"confirmed","note":"QRF on scene"}"#,
    );
    assert_eq!((st, v["status"].clone()), (200, json!("resolved")), "{v}");
    assert_eq!(
        c.srv
            .post(&op, &url("assign"), r#"{"unit":"sdf-ain-issa"}"#)
            .0,
        409,
        "nothing after resolved"
    );
    // The picture says resolved (and stays so while the rules revise the alert).
    let (_, v) = c.srv.get(&viewer, &format!("/api/v1/alerts/{id}"));
    assert_eq!(v["status"], "resolved", "{v}");
    let (_, a) = c
        .srv
        .get(&c.srv.token("sdf", "admin"), "/api/v1/audit?limit=10000");
    let mine: Vec<&serde_json::Value> = a["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["object"] == format!("alert/{id}")
                && e["action"]
                    .as_str()
                    .is_some_and(|x| x.starts_with("alert."))
        })
        .collect();
    let actions: Vec<&str> = mine.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["alert.ack", "alert.assign", "alert.resolve"],
        "{mine:?}"
    );
    assert!(mine.iter().all(|e| e["actor"]
        .as_str()
        .is_some_and(|x| x.starts_with("sdf/token:"))));
}

/// What a role may do on one endpoint, for the matrix below.
#[derive(Clone, Copy, Debug)]
enum Needs {
    /// Any valid credential.
    Any,
    /// May send records.
    Ingest,
    /// Viewer and up.
    Read,
    /// Operator and up.
    Operate,
    /// Admin and up.
    Administer,
    /// The deployment's owner only.
    Owner,
}

fn allowed(needs: Needs, role: &str) -> bool {
    let rank = ["sensor", "viewer", "operator", "admin", "owner"]
        .iter()
        .position(|r| *r == role)
        .expect("a role");
    match needs {
        Needs::Any => true,
        Needs::Ingest => matches!(role, "sensor" | "admin" | "owner"),
        Needs::Read => rank >= 1,
        Needs::Operate => rank >= 2,
        Needs::Administer => rank >= 3,
        Needs::Owner => rank == 4,
    }
}

#[test]
fn every_role_of_every_organisation_gets_exactly_its_rights_on_every_endpoint() {
    let c = camp();
    const NONE: &str = "a00000000000000000000000000000000";
    const NO_EVENT: &str = "e00000000000000000000000000000000";
    // (method, path, body, what the role needs, the status when allowed).
    let endpoints: Vec<(&str, String, &str, Needs, u16)> = vec![
        ("GET", "/api/v1/alerts".into(), "", Needs::Read, 200),
        (
            "GET",
            format!("/api/v1/alerts/{NONE}"),
            "",
            Needs::Read,
            404,
        ),
        (
            "GET",
            format!("/api/v1/alerts/{NONE}/cap"),
            "",
            Needs::Read,
            404,
        ),
        ("GET", "/api/v1/cap/feed".into(), "", Needs::Read, 200),
        (
            "POST",
            format!("/api/v1/alerts/{NONE}/ack"),
            "",
            Needs::Operate,
            404,
        ),
        (
            "POST",
            format!("/api/v1/alerts/{NONE}/assign"),
            r#"{"unit":"sdf-ain-issa"}"#,
            Needs::Operate,
            404,
        ),
        (
            "POST",
            format!("/api/v1/alerts/{NONE}/resolve"),
            r#"{"reason":"confirmed"}"#,
            Needs::Operate,
            404,
        ),
        ("GET", "/api/v1/nuisance".into(), "", Needs::Operate, 200),
        ("GET", "/api/v1/events".into(), "", Needs::Read, 200),
        (
            "GET",
            format!("/api/v1/events/{NO_EVENT}"),
            "",
            Needs::Read,
            404,
        ),
        ("GET", "/api/v1/tracks".into(), "", Needs::Read, 200),
        ("GET", "/api/v1/facilities".into(), "", Needs::Read, 200),
        (
            "POST",
            "/api/v1/facilities/no-such-facility".into(),
            r#"{"status":"secure"}"#,
            Needs::Operate,
            404,
        ),
        ("GET", "/api/v1/audit".into(), "", Needs::Administer, 200),
        (
            "GET",
            "/api/v1/audit/checkpoint".into(),
            "",
            Needs::Any,
            200,
        ),
        ("GET", "/api/v1/audit/key".into(), "", Needs::Any, 200),
        ("GET", "/api/v1/stats".into(), "", Needs::Owner, 200),
        (
            "DELETE",
            "/api/v1/tokens/999999".into(),
            "",
            Needs::Administer,
            404,
        ),
        // The console's reads: the site's geometry, history, nuisance over a window.
        ("GET", "/api/v1/site".into(), "", Needs::Read, 200),
        ("GET", "/api/v1/history".into(), "", Needs::Read, 200),
        (
            "GET",
            "/api/v1/nuisance/recent?hours=24".into(),
            "",
            Needs::Operate,
            200,
        ),
        (
            "POST",
            "/api/v1/ingest".into(),
            r#"{"type":"heartbeat","sensor":"no-such-sensor","time":"2019-10-13T12:00:00Z"}"#,
            Needs::Ingest,
            422,
        ),
    ];
    let http = client();
    let mut failures = Vec::new();
    let mut refusals = std::collections::BTreeMap::new();
    for org in ORGS {
        for role in ["sensor", "viewer", "operator", "admin", "owner"] {
            let token = c.srv.token(org, role);
            for (method, path, body, needs, ok) in &endpoints {
                let req = match *method {
                    "GET" => http.get(format!("{}{path}", c.srv.http)),
                    "DELETE" => http.delete(format!("{}{path}", c.srv.http)),
                    _ => http
                        .post(format!("{}{path}", c.srv.http))
                        .header("content-type", "application/json")
                        .body(body.to_string()),
                };
                let r = req.bearer_auth(&token).send().expect("request");
                let st = r.status().as_u16();
                let text = r.text().unwrap_or_default();
                let want = if allowed(*needs, role) { *ok } else { 403 };
                if st != want {
                    failures.push(format!(
                        "{org} {role} {method} {path}: {st} (want {want}) {text}"
                    ));
                }
                if st == 404 {
                    // One text for every absent or unreleased item of a kind.
                    refusals
                        .entry(path.split('/').nth(3).unwrap_or("").to_string())
                        .or_insert_with(std::collections::BTreeSet::new)
                        .insert(text);
                }
            }
            // The event stream opens for readers only; its body is not read here.
            let r = http
                .get(format!("{}/api/v1/stream", c.srv.http))
                .bearer_auth(&token)
                .send()
                .expect("stream");
            let want = if allowed(Needs::Read, role) { 200 } else { 403 };
            if r.status().as_u16() != want {
                failures.push(format!("{org} {role} stream: {}", r.status()));
            }
            // Operational metrics are never on the partners' listener.
            let r = http
                .get(format!("{}/metrics", c.srv.http))
                .bearer_auth(&token)
                .send()
                .expect("metrics");
            if r.status().as_u16() != 404 {
                failures.push(format!("{org} {role} /metrics: {}", r.status()));
            }
        }
    }
    // Without a credential, nothing but the public documents.
    for (method, path, _, _, _) in &endpoints {
        let req = match *method {
            "GET" => http.get(format!("{}{path}", c.srv.http)),
            "DELETE" => http.delete(format!("{}{path}", c.srv.http)),
            _ => http.post(format!("{}{path}", c.srv.http)),
        };
        let st = req.send().expect("request").status().as_u16();
        if st != 401 {
            failures.push(format!("no credential {method} {path}: {st}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (kind, texts) in refusals {
        assert_eq!(
            texts.len(),
            1,
            "{kind}: one 404 text for everyone, got {texts:?}"
        );
    }
}

#[test]
fn a_tak_client_relays_only_its_own_position_never_a_forged_track_or_colleague() {
    let c = camp();
    let now = limes_core::record::Time(limes_server::clock::wall_now());
    let event = |uid: &str, kind: &str, detail: &str| {
        format!(
            r#"<event version="2.0" uid="{uid}" type="{kind}" how="m-g" time="{now}" start="{now}" stale="{now}"><point lat="36.39" lon="38.9" hae="0" ce="10" le="9999999"/><detail>{detail}</detail></event>"#
        )
    };
    let ping = |uid: &str| event(&format!("{uid}-ping"), "t-x-c-t", "");
    let open = |uid: &str| {
        let mut s = std::net::TcpStream::connect(c.srv.cot).expect("connect");
        let token = c.srv.token("ibf", "viewer");
        let hello = event(uid, "a-f-G-U-C", &format!(r#"<limes token="{token}"/>"#));
        s.write_all(format!("{hello}{}", ping(uid)).as_bytes())
            .expect("write");
        s
    };
    let read_until = |s: &mut std::net::TcpStream, what: &str| {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(what) {
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let mut a = open("relay-a");
    assert!(read_until(&mut a, "t-x-c-t-r").contains("t-x-c-t-r"));
    let mut b = open("relay-b");
    assert!(read_until(&mut b, "t-x-c-t-r").contains("t-x-c-t-r"));
    // A forges a server track, a facility and its colleague, then reports its own position.
    let forged = [
        event("limes.ain-issa.track.FAKE", "a-h-G", ""),
        event("limes.ain-issa.facility.ain-issa-annex", "a-n-G-I", ""),
        event("relay-b", "a-f-G-U-C", r#"<contact callsign="SPOOFED"/>"#),
        event("relay-a", "a-f-G-U-C", r#"<contact callsign="MARK-2"/>"#),
    ];
    a.write_all(forged.concat().as_bytes()).expect("write");
    let got = read_until(&mut b, "MARK-2");
    assert!(got.contains("MARK-2"), "A's own position reaches B: {got}");
    assert!(!got.contains("FAKE"), "a forged track was relayed: {got}");
    assert!(
        !got.contains("SPOOFED"),
        "a forged colleague was relayed: {got}"
    );
    assert!(
        !got.contains(r#"uid="limes.ain-issa.facility.ain-issa-annex" type="a-n-G-I" how="m-g""#),
        "a forged facility was relayed: {got}"
    );
}

#[test]
fn a_revoked_token_is_refused_and_its_open_stream_and_cot_connection_are_cut() {
    let c = camp();
    let admin = c.srv.token("ibf", "admin");
    let (st, v) = c.srv.post(
        &admin,
        "/api/v1/tokens",
        json!({"org": "ibf", "role": "viewer"}).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    let (id, token) = (
        v["id"].as_i64().expect("id"),
        v["token"].as_str().expect("token").to_string(),
    );
    assert_eq!(c.srv.get(&token, "/api/v1/alerts").0, 200);
    // An event stream and a CoT connection of the token, both open.
    let mut stream = client()
        .get(format!("{}/api/v1/stream", c.srv.http))
        .bearer_auth(&token)
        .send()
        .expect("stream");
    assert_eq!(stream.status().as_u16(), 200);
    let mut first = [0u8; 64];
    assert!(stream.read(&mut first).expect("read") > 0);
    let now = limes_core::record::Time(limes_server::clock::wall_now());
    let mut cot = std::net::TcpStream::connect(c.srv.cot).expect("connect");
    cot.write_all(format!(
        r#"<event version="2.0" uid="revoked-device" type="a-f-G-U-C" how="m-g" time="{now}" start="{now}" stale="{now}"><point lat="36.39" lon="38.9" hae="0" ce="10" le="9999999"/><detail><limes token="{token}"/></detail></event><event version="2.0" uid="revoked-device-ping" type="t-x-c-t" how="m-g" time="{now}" start="{now}" stale="{now}"><point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/><detail/></event>"#
    ).as_bytes()).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("t-x-c-t-r") {
        let n = cot.read(&mut buf).expect("read");
        assert!(n > 0, "the CoT connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
    let delete = |who: &str, id: i64| revoke(c, who, id);
    // Another organisation's admin cannot, and cannot tell the token exists; a viewer cannot.
    let foreign = delete(&c.srv.token("turkey", "admin"), id);
    assert_eq!(foreign, delete(&c.srv.token("turkey", "admin"), 999_999));
    assert_eq!(foreign.0, 404);
    assert_eq!(delete(&c.srv.token("ibf", "viewer"), id).0, 403);
    assert_eq!(c.srv.get(&token, "/api/v1/alerts").0, 200, "still valid");
    // Its own organisation's admin can.
    assert_eq!(delete(&admin, id).0, 200);
    assert_eq!(c.srv.get(&token, "/api/v1/alerts").0, 401);
    let mut rest = Vec::new();
    assert!(
        stream.read_to_end(&mut rest).is_ok(),
        "the event stream ends (not cut by the client's timeout)"
    );
    // A guard against hanging, not a timing: the server closes at once.
    cot.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let mut tail = String::new();
    let _ = cot.read_to_string(&mut tail);
    assert!(tail.contains("revoked"), "the CoT client is told: {tail}");
    let (_, v) = c.srv.get(&c.owner, "/api/v1/audit?limit=100000");
    assert!(
        v["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "token.revoke"
                && e["detail"].to_string().contains(&id.to_string())),
        "the revocation is audited"
    );
}
