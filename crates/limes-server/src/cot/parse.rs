//! Parses one CoT event (`<event>` with `<point>` and an optional `<detail>`). DOCTYPEs are
//! refused outright, so no entity can be declared or expanded; unknown entity references are
//! errors. Every error names the element and attribute at fault.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// A parsed CoT event.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CotEvent {
    /// The event's uid.
    pub uid: String,
    /// CoT type (`a-u-G`, `t-x-c-t`, …).
    pub kind: String,
    /// How the position was obtained (`m-g`, `h-e`, …).
    pub how: Option<String>,
    /// `time`, seconds since the Unix epoch.
    pub time: f64,
    /// `stale`, seconds since the Unix epoch.
    pub stale: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Circular error, metres; `None` when the event says 9999999 (unknown) or omits it.
    pub ce: Option<f64>,
    /// `<detail><limes token="…"/>`: the bearer token that authenticates a connection.
    pub token: Option<String>,
    /// `<detail><limes class="person|vehicle|animal"/>`.
    pub class: Option<String>,
    /// `<detail><limes heat_m2="…"/>`.
    pub heat_m2: Option<f64>,
    /// `<detail><limes count="…"/>` (observer head count).
    pub count: Option<u32>,
    /// `<detail><contact callsign="…"/>`.
    pub callsign: Option<String>,
    /// `<point hae="…">`, metres above the ellipsoid, when given and known.
    pub hae: Option<f64>,
    /// `<detail><__group name="…" role="…"/>`: a TAK client's team colour and role, when both
    /// are among TAK's own (kept as the server's strings, never the client's).
    pub group: Option<(&'static str, &'static str)>,
    /// `<detail><track course="…" speed="…"/>`: degrees from north and m/s, when both are
    /// numbers in range.
    pub track: Option<(f64, f64)>,
    /// `<detail><status battery="…"/>`: percent.
    pub battery: Option<u8>,
}

/// TAK's team colours (`__group name`).
pub const TEAMS: [&str; 14] = [
    "White",
    "Yellow",
    "Orange",
    "Magenta",
    "Red",
    "Maroon",
    "Purple",
    "Dark Blue",
    "Blue",
    "Cyan",
    "Teal",
    "Green",
    "Dark Green",
    "Brown",
];

/// TAK's team roles (`__group role`).
pub const ROLES: [&str; 8] = [
    "Team Member",
    "Team Lead",
    "HQ",
    "Sniper",
    "Medic",
    "Forward Observer",
    "RTO",
    "K9",
];

/// The detail elements [`tak_detail`] reads.
const TAK_DETAIL: [&str; 3] = ["__group", "track", "status"];

/// The TAK client detail the relay passes on, read leniently: a value that is not one TAK
/// writes is left out (the event is still taken), since it only decorates a position.
fn tak_detail(ev: &mut CotEvent, name: &str, attrs: &[(String, String)]) {
    let get = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.trim());
    let num = |k: &str| {
        get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|x| x.is_finite())
    };
    match name {
        "__group" => {
            let team = get("name").and_then(|v| TEAMS.iter().find(|t| **t == v));
            let role = get("role").and_then(|v| ROLES.iter().find(|r| **r == v));
            ev.group = team.zip(role).map(|(t, r)| (*t, *r));
        }
        "track" => {
            let course = num("course").filter(|c| (0.0..=360.0).contains(c));
            // Bounds that hold as written (to 0.1° and 0.01 m/s).
            let speed = num("speed").filter(|s| (0.0..999.0).contains(s));
            ev.track = course.zip(speed);
        }
        "status" => {
            ev.battery = num("battery")
                .filter(|b| (0.0..=100.0).contains(b))
                .map(|b| b as u8);
        }
        _ => {}
    }
}

/// A CoT event could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("CoT {element}{}: {message}", if field.is_empty() { String::new() } else { format!(" @{field}") })]
pub struct CotError {
    /// Element at fault (`event`, `point`, `detail`).
    pub element: String,
    /// Attribute at fault, if any.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(element: &str, field: &str, message: impl Into<String>) -> CotError {
    CotError {
        element: element.into(),
        field: field.into(),
        message: message.into(),
    }
}

fn time(element: &str, field: &str, v: &str) -> Result<f64, CotError> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_micros() as f64 / 1e6)
        .map_err(|e| {
            err(
                element,
                field,
                format!("{v:?} is not an ISO 8601 time ({e})"),
            )
        })
}

fn number(element: &str, field: &str, v: &str) -> Result<f64, CotError> {
    let x: f64 = v
        .trim()
        .parse()
        .map_err(|_| err(element, field, format!("{v:?} is not a number")))?;
    if !x.is_finite() {
        return Err(err(element, field, format!("{v:?} is not a finite number")));
    }
    Ok(x)
}

fn attrs(e: &BytesStart, element: &str) -> Result<Vec<(String, String)>, CotError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|x| err(element, "", format!("bad attribute: {x}")))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .decoded_and_normalized_value(XmlVersion::Implicit1_0, e.decoder())
            .map_err(|x| err(element, &key, format!("bad value: {x}")))?
            .into_owned();
        out.push((key, value));
    }
    Ok(out)
}

/// Parses one framed event.
pub fn parse(bytes: &[u8]) -> Result<CotEvent, CotError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| err("event", "", format!("not UTF-8: {e}")))?;
    let mut r = Reader::from_str(text);
    let mut ev = CotEvent::default();
    let (mut seen_event, mut seen_point, mut closed) = (false, false, false);
    let mut depth = 0usize;
    let mut in_detail = false;
    loop {
        let e = r.read_event().map_err(|x| {
            err(
                "event",
                "",
                format!("malformed XML at byte {}: {x}", r.buffer_position()),
            )
        })?;
        let empty = matches!(e, Event::Empty(_));
        match e {
            Event::DocType(_) => {
                return Err(err(
                    "event",
                    "",
                    "DOCTYPE is not allowed in CoT (no entity declarations)",
                ))
            }
            Event::GeneralRef(g) => {
                let name = String::from_utf8_lossy(&g).into_owned();
                if !matches!(name.as_str(), "lt" | "gt" | "amp" | "apos" | "quot")
                    && !name.starts_with('#')
                {
                    return Err(err("event", "", format!("unknown entity &{name};")));
                }
            }
            Event::Start(s) | Event::Empty(s) if depth == 0 || seen_event => {
                let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
                if depth == 0 {
                    if name != "event" {
                        return Err(err(&name, "", "the root element must be <event>"));
                    }
                    seen_event = true;
                    for (k, v) in attrs(&s, "event")? {
                        match k.as_str() {
                            "uid" => ev.uid = v,
                            "type" => ev.kind = v,
                            "how" => ev.how = Some(v),
                            "time" => ev.time = time("event", "time", &v)?,
                            "stale" => ev.stale = time("event", "stale", &v)?,
                            _ => {}
                        }
                    }
                    if ev.uid.is_empty() || ev.uid.len() > 256 {
                        return Err(err(
                            "event",
                            "uid",
                            "missing, empty or longer than 256 bytes",
                        ));
                    }
                    if ev.kind.is_empty() {
                        return Err(err("event", "type", "missing"));
                    }
                    if ev.time == 0.0 {
                        return Err(err("event", "time", "missing"));
                    }
                } else if name == "point" && depth == 1 {
                    seen_point = true;
                    for (k, v) in attrs(&s, "point")? {
                        match k.as_str() {
                            "lat" => ev.lat = number("point", "lat", &v)?,
                            "lon" => ev.lon = number("point", "lon", &v)?,
                            "hae" => {
                                ev.hae = v
                                    .trim()
                                    .parse::<f64>()
                                    .ok()
                                    .filter(|h| h.is_finite() && h.abs() < 99_999.0)
                            }
                            "ce" => {
                                let ce = number("point", "ce", &v)?;
                                if ce <= 0.0 {
                                    return Err(err(
                                        "point",
                                        "ce",
                                        format!("{v:?}: a circular error must be > 0 metres (9999999 when unknown)"),
                                    ));
                                }
                                ev.ce = (ce < 9_999_999.0).then_some(ce);
                            }
                            _ => {}
                        }
                    }
                    if !(-90.0..=90.0).contains(&ev.lat) {
                        return Err(err(
                            "point",
                            "lat",
                            format!("{} is not a latitude in [-90, 90]", ev.lat),
                        ));
                    }
                    if !(-180.0..=180.0).contains(&ev.lon) {
                        return Err(err(
                            "point",
                            "lon",
                            format!("{} is not a longitude in [-180, 180]", ev.lon),
                        ));
                    }
                } else if name == "detail" && depth == 1 {
                    in_detail = !empty;
                } else if in_detail && name == "limes" {
                    for (k, v) in attrs(&s, "limes")? {
                        match k.as_str() {
                            "token" => ev.token = Some(v),
                            "class" => {
                                if !matches!(v.as_str(), "person" | "vehicle" | "animal") {
                                    return Err(err(
                                        "limes",
                                        "class",
                                        format!("{v:?} is not person, vehicle or animal"),
                                    ));
                                }
                                ev.class = Some(v)
                            }
                            "heat_m2" => ev.heat_m2 = Some(number("limes", "heat_m2", &v)?),
                            "count" => {
                                ev.count = Some(v.trim().parse().map_err(|_| {
                                    err("limes", "count", format!("{v:?} is not a count"))
                                })?)
                            }
                            _ => {}
                        }
                    }
                } else if in_detail && name == "contact" {
                    for (k, v) in attrs(&s, "contact")? {
                        if k == "callsign" {
                            ev.callsign = Some(v);
                        }
                    }
                } else if in_detail && depth == 2 && TAK_DETAIL.contains(&name.as_str()) {
                    // Lenient: a malformed decoration is left out, not the event refused.
                    if let Ok(a) = attrs(&s, &name) {
                        tak_detail(&mut ev, &name, &a);
                    }
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                if end.name().as_ref() == b"detail" && depth == 1 {
                    in_detail = false;
                }
                if depth == 0 {
                    closed = true;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if closed {
            break;
        }
    }
    if !seen_event {
        return Err(err("event", "", "no <event> element"));
    }
    if !closed && depth > 0 {
        return Err(err("event", "", "truncated: the event is not closed"));
    }
    if !seen_point && !ev.kind.starts_with("t-x-c-t") {
        return Err(err("point", "", "missing <point>"));
    }
    Ok(ev)
}
