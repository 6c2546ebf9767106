//! The CAP index feed: `GET /api/v1/cap/feed`, an Atom 1.0 feed (RFC 4287) of the alerts
//! released to the caller, one entry per alert for the latest message of the organisation's
//! own sequence, linked to that CAP message. It is what a CAP aggregator or a partner's
//! alerting system polls instead of reading each alert.
//!
//! The feed is built from the same release as the CAP messages: an alert with no revision
//! released to the caller is absent, and every time in it is one the caller is released (a
//! message's `sent`, a released revision's time), to the second, so the feed tells nothing the
//! messages do not: entries are ordered, cut and filtered by that time, never by revisions the
//! caller was not released.

use atom_syndication::{Category, Entry, Feed, FixedDateTime, Generator, Link, Person, Text};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use limes_core::record::Time;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::json;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::encode::{identifier, words, MsgType, Words};
use super::{revisions, sequence};
use crate::api::listing::{query_error, time_param};
use crate::api::{ApiError, AppState};
use crate::auth::Principal;
use crate::lifecycle::{row_view, ALERT_COLUMNS};
use crate::release::{Out, Policy};
use crate::xml::clean;

/// Entries a feed holds when the caller does not say.
pub const DEFAULT_ENTRIES: usize = 50;
/// Most entries one feed holds.
pub const MAX_ENTRIES: usize = 500;

/// Longest a feed read waits for its organisation's previous one to finish.
pub const BUILD_WAIT: Duration = Duration::from_secs(10);

/// Feed reads being built, one at a time per organisation: a read may scan every stored alert
/// and its revisions (a caller released few alerts makes the scan long), so an organisation's
/// pollers queue behind each other rather than take every core from the rest of the server.
#[derive(Clone, Debug, Default)]
pub struct FeedBuilds {
    orgs: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl FeedBuilds {
    /// Waits (at most [`BUILD_WAIT`]) until no other feed read of `org` is being built; `None`
    /// when one still is.
    pub async fn enter(&self, org: &str) -> Option<OwnedSemaphorePermit> {
        let one = {
            // Organisations come from the site: there are few.
            let mut m = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(org.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(1)))
                .clone()
        };
        tokio::time::timeout(BUILD_WAIT, one.acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

/// Query of the feed.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// RFC 3339; only alerts whose latest message became the caller's at or after this.
    since: Option<String>,
    /// Most entries, 1 to 500 (50 by default).
    limit: Option<String>,
}

/// The `limit` parameter, named when it is not a number of entries the feed holds.
fn limit(v: Option<&str>) -> Result<usize, ApiError> {
    let Some(v) = v else {
        return Ok(DEFAULT_ENTRIES);
    };
    v.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_ENTRIES).contains(n))
        .ok_or_else(|| {
            ApiError::bad_field(
                "limit",
                format!("limit: {v:?} is not a number of entries from 1 to {MAX_ENTRIES}"),
            )
        })
}

/// One entry: the latest message of the organisation's sequence about one alert.
struct Latest {
    /// The alert as released with that message.
    out: crate::release::AlertOut,
    /// Its revision and type.
    rev: u32,
    msg_type: MsgType,
    /// When it became the organisation's latest, to the second: its `sent` time, or the time of
    /// the revision it carries when that is later (an alert first released to the organisation
    /// at a later revision — a new kind, or come into its area — is sent with the time it was
    /// raised, but is news to the organisation only from that revision). Both are released to
    /// it. The feed's order, its cut at the limit and `since` all use this time.
    at: Time,
    /// When the organisation's first message about it was sent.
    first_sent: Time,
}

impl Latest {
    /// The feed's order: newest message first, then by the caller's id (both things it is
    /// released, so the order and the cut at the limit tell it nothing more).
    fn rank(&self, other: &Self) -> Ordering {
        self.at
            .0
            .total_cmp(&other.at.0)
            .then_with(|| self.out.base_id().cmp(other.out.base_id()))
    }
}

/// [`Latest`] ordered by [`Latest::rank`], for the heap of the newest.
struct Ranked(Latest);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank(&other.0)
    }
}

/// The latest message of `org`'s sequence about each alert released to it, the caller's from
/// `since` on: the `limit` newest, newest first.
///
/// A message's time ([`Latest::at`]) is no later than its alert's latest revision or life-cycle
/// change, so the alerts are read in that order and the reading stops once no later row could
/// be among the newest `limit` (rather than cutting in an order the caller cannot see).
fn latest(
    c: &rusqlite::Connection,
    policy: &Policy,
    org: &str,
    since: Option<f64>,
    limit: usize,
) -> Result<Vec<Latest>, crate::store::StoreError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {ALERT_COLUMNS}, id, max(time, coalesce(changed_at, time)) AS last, changed_at \
         FROM alerts WHERE last >= ?1 ORDER BY last DESC"
    ))?;
    // To the second, as the entries' times: a poll at 12.3 s asks again from 12 s, so a
    // revision at 12.7 s (shown as 12 s) is not missed.
    let since = since.map_or(f64::NEG_INFINITY, f64::floor);
    let rows = stmt.query_map([since], |r| {
        Ok((
            row_view(r)?,
            r.get::<_, i64>(7)?,
            r.get::<_, f64>(8)?,
            r.get::<_, Option<f64>>(9)?,
        ))
    })?;
    let mut newest: BinaryHeap<Reverse<Ranked>> = BinaryHeap::new();
    for row in rows {
        let (view, internal, last, life_at) = row?;
        if newest.len() >= limit && newest.peek().is_some_and(|Reverse(r)| last < r.0.at.0) {
            break;
        }
        let Some(view) = view else { continue };
        let revs = revisions(c, internal as u64)?;
        let steps = sequence(policy, org, &revs, &view.life, life_at);
        let (Some(first), Some(step)) = (steps.first(), steps.last()) else {
            continue;
        };
        let Out::Alert(a) = &step.released.out else {
            continue;
        };
        let at = Time(step.sent.0.max(a.summary().time.0).floor());
        if at.0 < since {
            continue;
        }
        newest.push(Reverse(Ranked(Latest {
            out: a.clone(),
            rev: step.rev,
            msg_type: step.msg_type.clone(),
            at,
            first_sent: first.sent,
        })));
        if newest.len() > limit {
            newest.pop();
        }
    }
    // Ascending by Reverse is descending by rank: newest first.
    Ok(newest
        .into_sorted_vec()
        .into_iter()
        .map(|Reverse(Ranked(l))| l)
        .collect())
}

/// An Atom date (RFC 3339, UTC) of a time.
fn atom_time(t: Time) -> FixedDateTime {
    chrono::DateTime::from_timestamp(t.0.floor() as i64, 0)
        .unwrap_or_default()
        .fixed_offset()
}

/// What a URN part keeps as it is: letters, digits and RFC 3986's unreserved marks.
const URN_PART: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A URN from parts that may hold any character.
fn urn(parts: &[&str]) -> String {
    let parts: Vec<String> = parts
        .iter()
        .map(|p| utf8_percent_encode(p, URN_PART).to_string())
        .collect();
    format!("urn:limes:{}", parts.join(":"))
}

/// The feed for `org` (named `org_name`) of site `site`, written at `now` when it is empty.
fn write(site: &str, org: &str, org_name: &str, entries: &[Latest], now: Time) -> String {
    let author = Person {
        name: clean(&format!("Limes, site {site}")).into_owned(),
        ..Person::default()
    };
    let items: Vec<Entry> = entries
        .iter()
        .map(|l| {
            let s = l.out.summary();
            let Words {
                headline,
                description,
                ..
            } = words(&l.out);
            let title = match l.msg_type {
                MsgType::Cancel => format!("{headline} (over)"),
                _ => headline,
            };
            Entry {
                id: urn(&["cap", &identifier(site, org, &s.id, l.rev, &l.msg_type)]),
                title: Text::plain(clean(&title)),
                updated: atom_time(l.at),
                published: Some(atom_time(l.first_sent)),
                authors: vec![author.clone()],
                summary: Some(Text::plain(clean(&description))),
                categories: vec![Category {
                    term: l.msg_type.name().to_string(),
                    scheme: Some("urn:oasis:names:tc:emergency:cap:1.2:msgType".into()),
                    ..Category::default()
                }],
                links: vec![Link {
                    href: format!("/api/v1/alerts/{}/cap?rev={}", s.id, l.rev),
                    rel: "alternate".into(),
                    mime_type: Some("application/cap+xml".into()),
                    ..Link::default()
                }],
                ..Entry::default()
            }
        })
        .collect();
    let updated = entries
        .iter()
        .map(|l| l.at.0)
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
        .map_or(now, Time);
    let feed = Feed {
        id: urn(&[site, "cap-feed", org]),
        title: Text::plain(clean(&format!(
            "Limes, site {site}: alerts released to {org_name}"
        ))),
        updated: atom_time(updated),
        authors: vec![author],
        rights: Some(Text::plain(clean(&format!(
            "Released to {org_name} under the Limes release policy of site {site}; do not pass on"
        )))),
        generator: Some(Generator {
            value: "Limes".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            ..Generator::default()
        }),
        links: vec![Link {
            href: "/api/v1/cap/feed".into(),
            rel: "self".into(),
            mime_type: Some("application/atom+xml".into()),
            ..Link::default()
        }],
        entries: items,
        ..Feed::default()
    };
    // With its XML declaration.
    feed.to_string()
}

#[utoipa::path(get, path = "/api/v1/cap/feed", tag = "alerts", params(FeedQuery),
    responses((status = 200, description = "An Atom 1.0 feed of the alerts released to the caller, one entry per alert for the latest CAP message of its own sequence", content_type = "application/atom+xml", body = String),
        (status = 400, description = "Bad request (the field is named in details)", body = crate::api::openapi::ErrorBody),
        (status = 403, description = "Your role may not read alerts", body = crate::api::openapi::ErrorBody)),
    security(("bearer" = [])))]
/// The caller's CAP index feed: the latest CAP message about each alert released to it.
pub async fn feed(
    State(s): State<AppState>,
    p: Principal,
    q: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if !p.role.can_read() {
        return Err(ApiError::forbidden("read alerts"));
    }
    let Query(q) = q.map_err(query_error)?;
    let since = time_param("since", &q.since)?;
    let limit = limit(q.limit.as_deref())?;
    let org = s.policy.org(&p.org).ok_or_else(ApiError::no_alert)?.clone();
    let Some(building) = s.limits.feed_builds.enter(&p.org).await else {
        s.metrics.feed_reads_refused.inc();
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "your organisation's previous feed read is still being built; send it again",
        ));
    };
    let (policy, org_id) = (s.policy.clone(), p.org.clone());
    // The permit goes with the scan: a client that hangs up leaves the scan running, and it
    // must still keep the organisation's next read waiting.
    let entries = s
        .store
        .read(move |c| {
            let _building = building;
            latest(c, &policy, &org_id, since, limit)
        })
        .await?;
    let xml = write(
        &s.site.name,
        &org.id,
        &org.name,
        &entries,
        Time(s.clock.now()),
    );
    // Which message of each alert it was given, as `read.cap` records.
    let ids: Vec<&str> = entries.iter().map(|l| l.out.base_id()).collect();
    let revs: Vec<u32> = entries.iter().map(|l| l.rev).collect();
    s.audit(
        &p,
        "read.cap_feed",
        "cap/feed",
        json!({ "ids": ids, "revs": revs }),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/atom+xml")], xml).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn an_empty_feed_is_still_a_feed_with_its_own_id_and_time() {
        let x = write(
            "frontier",
            "sdf",
            "SDF <north>\u{1}",
            &[],
            Time(1_700_000_000.0),
        );
        assert!(x.starts_with("<?xml"), "{x}");
        assert!(
            x.contains("<id>urn:limes:frontier:cap-feed:sdf</id>"),
            "{x}"
        );
        assert!(
            x.contains("<updated>2023-11-14T22:13:20+00:00</updated>"),
            "{x}"
        );
        // The organisation's name is escaped, not written as markup, and what XML does not
        // allow is replaced.
        assert!(x.contains("SDF &lt;north&gt;\u{FFFD}"), "{x}");
        assert!(!x.contains("<entry>"), "{x}");
    }

    /// Stores revision `rev` of alert `id` (a mass breakout raised at `raised`) at `lon`, at
    /// time `t`.
    fn store(c: &rusqlite::Connection, id: u64, (rev, raised): (u32, f64), t: f64, lon: f64) {
        let rec: limes_core::record::AlertRecord = serde_json::from_value(json!({
            "id": id, "rev": rev, "kind": "mass_breakout", "severity": "critical",
            "state": "open", "time": Time(t), "raised": Time(raised), "lon": lon,
            "lat": 36.382, "count": 30, "sensors": [], "tracks": [], "summary": "x",
        }))
        .expect("an alert");
        let body = serde_json::to_string(&rec).expect("json");
        c.execute(
            "INSERT INTO alert_revs (id, rev, body) VALUES (?1, ?2, ?3)",
            rusqlite::params![id as i64, rev, body],
        )
        .expect("rev");
        c.execute(
            "INSERT INTO alerts (id, rev, kind, severity, state, raised, time, body)
             VALUES (?1, ?2, 'mass_breakout', 'critical', 'open', ?5, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET rev = excluded.rev, time = excluded.time,
                 body = excluded.body",
            rusqlite::params![id as i64, rev, t, body, raised],
        )
        .expect("alert");
    }

    #[test]
    fn the_order_and_the_cut_use_only_times_the_caller_was_released() {
        // Syria is released alerts within 20 km of the annex. Alert 1 was there at 200 and
        // moved 50 km away at 900 (not released); alert 2 was there at 500. Syria's newest
        // message is alert 2's: a cut or a `since` by the stored time (900) would put alert 1
        // first, telling Syria that it changed after it was last released.
        let site = limes_core::site::open("ain-issa").expect("site");
        let policy = Policy::new(&site, crate::release::Ids::new([3; 16]));
        let c = rusqlite::Connection::open_in_memory().expect("db");
        crate::store::schema::migrate(&c).expect("schema");
        store(&c, 1, (1, 200.0), 200.0, 38.872);
        store(&c, 1, (2, 200.0), 900.0, 39.5);
        store(&c, 2, (1, 500.0), 500.0, 38.872);
        let at = |org: &str, since: Option<f64>, limit: usize| -> Vec<(u64, f64)> {
            latest(&c, &policy, org, since, limit)
                .expect("read")
                .iter()
                .map(|l| (l.out.rev().into(), l.at.0))
                .collect()
        };
        assert_eq!(at("syria", None, 5), [(1, 500.0), (1, 200.0)]);
        assert_eq!(at("syria", None, 1), [(1, 500.0)]);
        assert_eq!(at("syria", Some(600.0), 5), []);
        assert_eq!(at("syria", Some(300.0), 5), [(1, 500.0)]);
        // The owner's organisation is released both revisions.
        assert_eq!(at("ibf", None, 1), [(2, 900.0)]);
        // Alert 3 was raised at 300 far away and came into Syria's area at 700: its first
        // message to Syria is sent with the time it was raised, but it is news from 700, so a
        // client polling since 600 gets it, first.
        store(&c, 3, (1, 300.0), 300.0, 39.5);
        store(&c, 3, (2, 300.0), 700.0, 38.872);
        assert_eq!(at("syria", Some(600.0), 5), [(2, 700.0)]);
        assert_eq!(at("syria", None, 1), [(2, 700.0)]);
        // Times are whole seconds, as shown, and so is `since`: a poll at 800.5 s is asked
        // again from 800 s, so a revision at 800.75 s is not missed.
        store(&c, 4, (1, 800.0), 800.75, 38.872);
        assert_eq!(at("syria", Some(800.5), 5), [(1, 800.0)]);
        assert_eq!(at("syria", Some(801.0), 5), []);
    }

    #[test]
    fn a_limit_is_a_number_of_entries_and_named_when_not() {
        assert_eq!(limit(None).expect("default"), DEFAULT_ENTRIES);
        assert_eq!(limit(Some("7")).expect("7"), 7);
        for bad in ["0", "501", "-1", "abc", "", "1e3", "18446744073709551616"] {
            let e = limit(Some(bad)).expect_err(bad);
            assert_eq!(e.details["field"], "limit", "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_organisation_builds_one_feed_at_a_time_and_others_are_not_held() {
        let builds = FeedBuilds::default();
        let first = builds.enter("turkey").await.expect("the first is built");
        // The clock is paused: the wait runs out at once, and it is refused.
        assert!(builds.enter("turkey").await.is_none());
        assert!(builds.enter("sdf").await.is_some(), "another organisation");
        drop(first);
        assert!(
            builds.enter("turkey").await.is_some(),
            "once the first is done"
        );
    }

    #[test]
    fn urns_escape_what_a_site_name_may_hold() {
        assert_eq!(urn(&["a b", "c:d"]), "urn:limes:a%20b:c%3Ad");
    }
}
