//! Events end to end, on SQLite and PostgreSQL, against a real `placard serve` and the real command line: the
//! command line and the admin API (and what they refuse, writing nothing); the `Event` document field by field;
//! the readable `summary` across time zones and daylight saving; updates and cancellations with their
//! `Update(Event)` and follow-up `Note` as a fake remote follower receives them (`FakeRemote`, a real HTTP server in
//! the test process), and with the follow-up turned off; RSVP (`Join`, `Leave`, `Undo(Join)`) from a remote actor
//! with the `Accept` it gets back; replies threaded under an event; the iCalendar documents parsed back with an
//! independent parser (the `ical` crate); the Atom feed parsed with `atom_syndication`; the HTML event page; and
//! a real Mobilizon `Event` parsed and stored through the inbox of a local actor that follows its organiser.

mod common;
#[path = "common/remote.rs"]
mod remote;

use std::time::Duration;

use chrono::{SecondsFormat, TimeZone, Utc};
use common::*;
use ical::parser::ical::component::{IcalCalendar, IcalEvent, IcalTimeZoneTransitionType};
use ical::property::Property;
use placard::federation::objects::event::EventIn;
use remote::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

/// Federation over loopback, quick retries.
const SETTINGS: &str =
    "[federation]\nallow_private_addresses = true\n[delivery]\nbackoff_seconds = 1\n";
const NO_FOLLOW_UPS: &str = "[events]\nfollow_up_notes = false\n";
const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
const AS: &str = "https://www.w3.org/ns/activitystreams";
const HTML: &str = "text/html";
const WAIT: Duration = Duration::from_secs(20);

const ORGANISER: &str = "campaign";
const ORGANISER_NAME: &str = "Streatham Unemployed Workers";
const PLACE: &str = "Streatham Job Centre";
const ADDRESS: &str = "Streatham High Road, London";
/// The example of the requirements: Friday 26 June 2015, 12:00 to 15:00 in London (BST).
const DEMO_START: &str = "2015-06-26T12:00:00+01:00";
const DEMO_END: &str = "2015-06-26T15:00:00+01:00";
const DEMO_SUMMARY: &str =
    "Fri 26 June 2015, 12:00–15:00 BST · Streatham Job Centre, Streatham High Road, London";

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

/// Adds settings at the end of the site's config file.
fn append_settings(site: &Site, extra: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&site.config_path)
        .unwrap();
    writeln!(f, "{extra}").unwrap();
}

/// The local organisation `campaign`; returns its id.
fn create_organiser(site: &Site) -> String {
    let id = site
        .cli_ok(&[
            "actor",
            "create",
            ORGANISER,
            "--kind",
            "organization",
            "--name",
            ORGANISER_NAME,
        ])
        .trim()
        .to_string();
    assert_eq!(id, site.url(&format!("/users/{ORGANISER}")));
    id
}

fn organiser_pem(site: &Site) -> String {
    let out = site.cli_ok(&["actor", "show", ORGANISER, "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["public_key_pem"].as_str().unwrap().to_string()
}

/// `--key=value` options from pairs (the `=` form, so that values may start with `-` or be empty).
fn options(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format!("--{k}={v}")).collect()
}

/// `placard event create campaign OPTIONS…`: the id it prints.
fn create_event(site: &Site, pairs: &[(&str, &str)]) -> String {
    let opts = options(pairs);
    let mut args = vec!["event", "create", ORGANISER];
    args.extend(opts.iter().map(String::as_str));
    let id = site.cli_ok(&args).trim().to_string();
    assert!(
        id.starts_with(&site.url("/events/")) && !id.contains(char::is_whitespace),
        "placard event create printed {id:?}, not an event id"
    );
    id
}

/// The demonstration's options, with `more` after them.
fn demo<'a>(more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("name", "Demonstration"),
        ("start", DEMO_START),
        ("end", DEMO_END),
        ("timezone", "Europe/London"),
        ("location-name", PLACE),
        ("address", ADDRESS),
    ];
    v.extend_from_slice(more);
    v
}

/// `placard event update ID OPTIONS…`: what it prints.
fn update_event(site: &Site, id: &str, pairs: &[(&str, &str)]) -> String {
    let opts = options(pairs);
    let mut args = vec!["event", "update", id];
    args.extend(opts.iter().map(String::as_str));
    site.cli_ok(&args)
}

/// Runs a command that must fail with a reason on stderr containing `reason`.
fn cli_fails(site: &Site, args: &[&str], reason: &str) {
    let out = site.cli(args);
    assert!(
        !out.ok(),
        "placard {args:?} should fail but printed {:?}",
        out.stdout
    );
    assert!(
        out.stderr.contains(reason),
        "placard {args:?}: the error should say {reason:?}, it says {:?}",
        out.stderr
    );
}

async fn count(db: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// (posts, events, deliveries) rows.
async fn rows(db: &sqlx::AnyPool) -> (i64, i64, i64) {
    (
        count(db, "SELECT COUNT(*) FROM posts").await,
        count(db, "SELECT COUNT(*) FROM events").await,
        count(db, "SELECT COUNT(*) FROM deliveries").await,
    )
}

/// Posts of kind Note (the follow-up notes, here).
async fn notes(db: &sqlx::AnyPool) -> i64 {
    count(db, "SELECT COUNT(*) FROM posts WHERE kind = 'Note'").await
}

/// An event as the node stored it.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    kind: String,
    name: String,
    start_at: i64,
    end_at: Option<i64>,
    timezone: String,
    location_name: Option<String>,
    address: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    status: String,
    join_mode: String,
    sequence: i64,
    participant_count: i64,
}

async fn stored(db: &sqlx::AnyPool, ap_id: &str) -> Option<Stored> {
    let row = sqlx::query(
        "SELECT p.kind, e.name, e.start_at, e.end_at, e.timezone, e.location_name, e.address, e.latitude, \
         e.longitude, e.status, e.join_mode, e.sequence, e.participant_count \
         FROM posts p JOIN events e ON e.post_id = p.id WHERE p.ap_id = $1",
    )
    .bind(ap_id)
    .fetch_optional(db)
    .await
    .unwrap()?;
    Some(Stored {
        kind: row.get(0),
        name: row.get(1),
        start_at: row.get(2),
        end_at: row.get(3),
        timezone: row.get(4),
        location_name: row.get(5),
        address: row.get(6),
        latitude: row.get(7),
        longitude: row.get(8),
        status: row.get(9),
        join_mode: row.get(10),
        sequence: row.get(11),
        participant_count: row.get(12),
    })
}

async fn participants(db: &sqlx::AnyPool, ap_id: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM event_participants ep JOIN posts p ON p.id = ep.post_id WHERE p.ap_id = $1",
    )
    .bind(ap_id)
    .fetch_one(db)
    .await
    .unwrap()
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

/// `now + hours` as RFC 3339 in UTC.
fn from_now(hours: i64) -> String {
    (Utc::now() + chrono::Duration::hours(hours)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// GET a full URL with an `Accept` header: status, content type and body.
async fn fetch(server: &Server, url: &str, accept: &str) -> (StatusCode, String, String) {
    let r = server
        .http
        .get(url)
        .header("Accept", accept)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// GET an ActivityPub document, expecting 200, the ActivityPub media type and JSON.
async fn doc(server: &Server, url: &str) -> Value {
    let (status, ct, body) = fetch(server, url, AP).await;
    assert_eq!(status, StatusCode::OK, "GET {url}: {body}");
    assert!(
        ct.starts_with("application/activity+json") || ct.starts_with("application/ld+json"),
        "GET {url} answered {ct}"
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// The document at `url` once a change made by the command line (another process) shows: a running server
/// keeps documents in memory for up to a second (docs/administration.md), so it must show within two.
async fn doc_once(server: &Server, url: &str, shows: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let d = doc(server, url).await;
        if shows(&d) || std::time::Instant::now() > deadline {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The HTML page of an event.
async fn page(server: &Server, url: &str) -> String {
    let (status, ct, body) = fetch(server, url, HTML).await;
    assert_eq!(status, StatusCode::OK, "GET {url} as HTML: {body}");
    assert!(
        ct.starts_with("text/html"),
        "GET {url} as HTML answered {ct}"
    );
    body
}

/// The text of HTML with its character references decoded (`&lt;`, `&#60;`, `&#x3c;`…), tags left as they are.
fn decode_entities(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&j| j <= 10).and_then(|j| {
            let name = &rest[1..j];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok().and_then(char::from_u32),
                    None => name
                        .strip_prefix('#')
                        .and_then(|d| d.parse().ok())
                        .and_then(char::from_u32),
                },
            }?;
            Some((c, j))
        });
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &rest[j + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// An admin API request: status and JSON body (`null` when empty).
async fn api(
    server: &Server,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = server.admin(method.clone(), path);
    if let Some(b) = &body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let v = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path} answered no JSON ({e}): {text}"))
    };
    (status, v)
}

/// `POST /api/admin/actors/campaign/events`: the new event's id.
async fn api_create(server: &Server, body: Value) -> String {
    let (status, v) = api(
        server,
        Method::POST,
        &format!("/actors/{ORGANISER}/events"),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// The `.ics` of an event, or any calendar URL, as text (200 and `text/calendar`).
async fn ics(server: &Server, url: &str) -> String {
    let (status, ct, body) = fetch(server, url, "text/calendar").await;
    assert_eq!(status, StatusCode::OK, "GET {url}: {body}");
    assert!(ct.starts_with("text/calendar"), "GET {url} answered {ct}");
    body
}

// ---- FakeRemote ----

/// `name` on `remote` follows the organiser (a signed Follow); waits for the Accept.
async fn remote_follows(server: &Server, remote: &FakeRemote, name: &str) {
    let target = server.url(&format!("/users/{ORGANISER}"));
    let r = remote
        .sign_and_post(
            name,
            &server.url(&format!("/users/{ORGANISER}/inbox")),
            &remote.follow(name, &target),
        )
        .await;
    assert_eq!(r.status(), 202, "{:?}\n{}", r.text().await, server.log());
    remote
        .wait_for_n(&remote.inbox_path(name), "Accept", 1, WAIT)
        .await;
}

/// Waits until `remote` received (at any inbox) an activity `pred` holds for, and returns the request.
async fn wait_received(remote: &FakeRemote, what: &str, pred: impl Fn(&Value) -> bool) -> Received {
    let got = remote
        .wait_for(what, WAIT, |got| got.iter().any(|r| pred(&r.json())))
        .await;
    got.into_iter().find(|r| pred(&r.json())).unwrap()
}

/// Every activity `remote` received that `pred` holds for.
fn received_where(remote: &FakeRemote, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    remote
        .received()
        .iter()
        .map(Received::json)
        .filter(|v| pred(v))
        .collect()
}

fn is_note_create(v: &Value) -> bool {
    v["type"] == "Create" && v["object"]["type"] == "Note"
}

/// A `Join` of `event` by `actor`, as Mobilizon sends it.
fn join(remote: &FakeRemote, actor: &str, event: &str) -> Value {
    json!({
        "@context": [AS, {"mz": "https://joinmobilizon.org/ns#", "participationMessage": {"@id": "mz:participationMessage", "@type": "sc:Text"}}],
        "id": remote.new_id("join"),
        "type": "Join",
        "actor": remote.actor_url(actor),
        "object": event,
        "participationMessage": null,
    })
}

fn leave(remote: &FakeRemote, actor: &str, event: &str) -> Value {
    json!({
        "@context": AS,
        "id": remote.new_id("leave"),
        "type": "Leave",
        "actor": remote.actor_url(actor),
        "object": event,
    })
}

fn undo(remote: &FakeRemote, actor: &str, object: Value) -> Value {
    json!({
        "@context": AS,
        "id": remote.new_id("undo"),
        "type": "Undo",
        "actor": remote.actor_url(actor),
        "object": object,
    })
}

/// Posts `activity` signed by `actor` to the organiser's inbox and expects 202.
async fn deliver(server: &Server, remote: &FakeRemote, actor: &str, activity: &Value) {
    let inbox = server.url(&format!("/users/{ORGANISER}/inbox"));
    let r = remote.sign_and_post(actor, &inbox, activity).await;
    let status = r.status();
    assert_eq!(
        status,
        202,
        "{} {}: {:?}\n{}",
        activity["type"],
        activity["id"],
        r.text().await,
        server.log()
    );
}

async fn participant_count(server: &Server, id: &str) -> i64 {
    doc(server, id).await["participantCount"]
        .as_i64()
        .unwrap_or_else(|| panic!("{id} has no numeric participantCount"))
}

// ---- iCalendar ----

fn parse_calendar(text: &str) -> IcalCalendar {
    let mut parser = ical::IcalParser::new(text.as_bytes());
    let cal = parser
        .next()
        .unwrap_or_else(|| panic!("no VCALENDAR in:\n{text}"))
        .unwrap_or_else(|e| panic!("the iCalendar does not parse ({e:?}):\n{text}"));
    assert!(parser.next().is_none(), "more than one VCALENDAR:\n{text}");
    assert!(
        text.contains("\r\n"),
        "iCalendar lines end with CRLF (RFC 5545 3.1)"
    );
    cal
}

fn find<'a>(props: &'a [Property], name: &str) -> Option<&'a Property> {
    props.iter().find(|p| p.name == name)
}

fn get<'a>(props: &'a [Property], name: &str) -> &'a Property {
    find(props, name).unwrap_or_else(|| panic!("no {name} in {props:#?}"))
}

/// RFC 5545 3.3.11: `\,` `\;` `\\` `\n`.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The text value of a property, unescaped.
fn text(props: &[Property], name: &str) -> String {
    unescape(get(props, name).value.as_deref().unwrap_or_default())
}

fn param(p: &Property, name: &str) -> Option<String> {
    p.params.as_ref()?.iter().find_map(|(k, v)| {
        k.eq_ignore_ascii_case(name)
            .then(|| v.join(",").trim_matches('"').to_string())
    })
}

/// The instant (Unix ms) a DTSTART/DTEND names: UTC (`…Z`) or local time in its TZID.
fn instant(p: &Property) -> i64 {
    let v = p.value.as_deref().unwrap();
    if let Some(utc) = v.strip_suffix('Z') {
        let naive = chrono::NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").unwrap();
        return Utc.from_utc_datetime(&naive).timestamp_millis();
    }
    let tz: chrono_tz::Tz = param(p, "TZID")
        .unwrap_or_else(|| panic!("{} {v} is floating: no TZID and no Z", p.name))
        .parse()
        .unwrap();
    let naive = chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").unwrap();
    tz.from_local_datetime(&naive)
        .single()
        .unwrap()
        .timestamp_millis()
}

/// What RFC 5545 requires of every calendar we serve: VERSION 2.0 and PRODID; UID, DTSTAMP and DTSTART in each
/// VEVENT; a VTIMEZONE for each TZID used.
fn check_calendar(cal: &IcalCalendar) {
    assert_eq!(text(&cal.properties, "VERSION"), "2.0");
    assert!(!text(&cal.properties, "PRODID").is_empty());
    let zones: Vec<String> = cal
        .timezones
        .iter()
        .map(|z| text(&z.properties, "TZID"))
        .collect();
    for e in &cal.events {
        for name in ["UID", "DTSTAMP", "DTSTART"] {
            get(&e.properties, name);
        }
        for name in ["DTSTART", "DTEND"] {
            if let Some(tzid) = find(&e.properties, name).and_then(|p| param(p, "TZID")) {
                assert!(
                    zones.contains(&tzid),
                    "{name} uses TZID {tzid} but the calendar has VTIMEZONEs only for {zones:?}"
                );
            }
        }
    }
}

fn vevent<'a>(cal: &'a IcalCalendar, uid: &str) -> &'a IcalEvent {
    cal.events
        .iter()
        .find(|e| text(&e.properties, "UID") == uid)
        .unwrap_or_else(|| panic!("no VEVENT with UID {uid}"))
}

fn uids(cal: &IcalCalendar) -> Vec<String> {
    cal.events
        .iter()
        .map(|e| text(&e.properties, "UID"))
        .collect()
}

/// The one VEVENT of an event's own `.ics`.
async fn single_vevent(server: &Server, id: &str) -> IcalEvent {
    let cal = parse_calendar(&ics(server, &format!("{id}.ics")).await);
    check_calendar(&cal);
    assert_eq!(cal.events.len(), 1, "{id}.ics has one VEVENT");
    cal.events.into_iter().next().unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// Command line and admin API
// ---------------------------------------------------------------------------------------------------------

/// One bad input: what it is, the fields changed from the demonstration (`None` removes one), and words the
/// error must contain.
struct Bad {
    what: &'static str,
    set: Vec<(&'static str, Option<String>)>,
    error: &'static str,
}

fn bad(what: &'static str, set: &[(&'static str, Option<&str>)], error: &'static str) -> Bad {
    Bad {
        what,
        set: set
            .iter()
            .map(|(k, v)| (*k, v.map(str::to_string)))
            .collect(),
        error,
    }
}

fn bad_inputs() -> Vec<Bad> {
    let long_name = "x".repeat(201);
    let mut v = vec![
        bad(
            "an end before the start",
            &[("end", Some("2015-06-26T11:00:00+01:00"))],
            "not after the start",
        ),
        bad(
            "an end equal to the start",
            &[("end", Some(DEMO_START))],
            "not after the start",
        ),
        bad(
            "an end before the start once offsets are applied",
            &[("end", Some("2015-06-26T10:30:00Z"))],
            "not after the start",
        ),
        bad(
            "an unknown time zone",
            &[("timezone", Some("Europe/Londn"))],
            "unknown time zone",
        ),
        bad(
            "an invented time zone",
            &[("timezone", Some("Mars/Olympus_Mons"))],
            "unknown time zone",
        ),
        bad(
            "a malformed start",
            &[("start", Some("26/06/2015 12:00"))],
            "RFC 3339",
        ),
        bad(
            "a start without an offset",
            &[("start", Some("2015-06-26T12:00:00"))],
            "RFC 3339",
        ),
        bad(
            "an impossible date",
            &[("start", Some("2015-02-30T12:00:00Z"))],
            "RFC 3339",
        ),
        bad("a malformed end", &[("end", Some("tomorrow"))], "RFC 3339"),
        bad(
            "a latitude without a longitude",
            &[("latitude", Some("51.4285"))],
            "both latitude and longitude",
        ),
        bad(
            "a longitude without a latitude",
            &[("longitude", Some("-0.1312"))],
            "both latitude and longitude",
        ),
        bad(
            "a latitude above 90",
            &[("latitude", Some("91")), ("longitude", Some("0"))],
            "between -90 and 90",
        ),
        bad(
            "a latitude below -90",
            &[("latitude", Some("-90.5")), ("longitude", Some("0"))],
            "between -90 and 90",
        ),
        bad(
            "a longitude below -180",
            &[("latitude", Some("51")), ("longitude", Some("-181"))],
            "between -180 and 180",
        ),
        bad(
            "an ftp banner",
            &[("banner", Some("ftp://example.org/banner.png"))],
            "http or https",
        ),
        bad(
            "a javascript: banner",
            &[("banner", Some("javascript:alert(1)"))],
            "http or https",
        ),
        bad(
            "a banner that is not a URL",
            &[("banner", Some("banner.png"))],
            "banner URL",
        ),
        bad("no name", &[("name", None)], "needs a name"),
        bad("no start", &[("start", None)], "needs a start time"),
        bad("an empty name", &[("name", Some(""))], "name is empty"),
        bad("a blank name", &[("name", Some("   "))], "name is empty"),
        bad(
            "a name with a control character",
            &[("name", Some("Demo\u{7}nstration"))],
            "control characters",
        ),
    ];
    v.push(Bad {
        what: "a name of 201 characters",
        set: vec![("name", Some(long_name))],
        error: "longer than 200",
    });
    v
}

/// The demonstration's fields with `set` applied, as (option name, value) pairs.
fn fields_with(set: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    let mut fields: Vec<(&'static str, String)> = demo(&[])
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    for (k, v) in set {
        fields.retain(|(f, _)| f != k);
        if let Some(v) = v {
            fields.push((k, v.clone()));
        }
    }
    fields
}

/// The same fields as an admin API body.
fn api_body(fields: &[(&'static str, String)]) -> Value {
    let mut body = serde_json::Map::new();
    for (k, v) in fields {
        let (key, value) = match *k {
            "latitude" | "longitude" => (k.to_string(), json!(v.parse::<f64>().unwrap())),
            "banner" => ("banner_url".to_string(), json!(v)),
            other => (other.replace('-', "_"), json!(v)),
        };
        body.insert(key, value);
    }
    Value::Object(body)
}

/// Every bad input is refused by `placard event create` with a clear error, and nothing is written.
async fn cli_refuses_bad_input_and_writes_nothing(site: Site) {
    create_organiser(&site);
    let db = site.db().await;
    let before = rows(&db).await;
    for b in bad_inputs() {
        let fields = fields_with(&b.set);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let opts = options(&pairs);
        let mut args = vec!["event", "create", ORGANISER];
        args.extend(opts.iter().map(String::as_str));
        let out = site.cli(&args);
        assert!(
            !out.ok(),
            "{}: placard event create should fail, it printed {:?}",
            b.what,
            out.stdout
        );
        assert!(
            out.stderr.contains(b.error),
            "{}: the error should say {:?}, it says {:?}",
            b.what,
            b.error,
            out.stderr
        );
        assert!(out.stdout.trim().is_empty(), "{}: {}", b.what, out.stdout);
        assert_eq!(rows(&db).await, before, "{}: something was written", b.what);
    }
    // An unknown organiser.
    let opts = options(&demo(&[]));
    let mut args = vec!["event", "create", "nobody"];
    args.extend(opts.iter().map(String::as_str));
    cli_fails(&site, &args, "nobody");
    assert_eq!(rows(&db).await, before);

    // A good one, then bad updates of it change nothing.
    let id = create_event(&site, &demo(&[]));
    let good = stored(&db, &id).await.unwrap();
    assert_eq!(good.sequence, 0);
    let after_create = rows(&db).await;
    for (pairs, reason) in [
        (
            vec![("end", "2015-06-26T11:59:00+01:00")],
            "not after the start",
        ),
        (
            vec![("start", "2015-06-26T16:00:00+01:00")],
            "not after the start",
        ),
        (vec![("timezone", "Nowhere/Land")], "unknown time zone"),
        (vec![("start", "noon")], "RFC 3339"),
        (vec![("latitude", "10")], "both latitude and longitude"),
        (vec![("banner", "file:///etc/passwd")], "http or https"),
        (vec![("name", "")], "name is empty"),
    ] {
        let opts = options(&pairs);
        let mut args = vec!["event", "update", id.as_str()];
        args.extend(opts.iter().map(String::as_str));
        cli_fails(&site, &args, reason);
        assert_eq!(
            stored(&db, &id).await.unwrap(),
            good,
            "{pairs:?} changed the event"
        );
        assert_eq!(rows(&db).await, after_create, "{pairs:?} wrote something");
    }
    // Unknown events.
    let missing = site.url("/events/doesnotexist");
    cli_fails(
        &site,
        &["event", "update", &missing, "--name=X"],
        "no event",
    );
    cli_fails(&site, &["event", "cancel", &missing], "no event");
    // A post is not an event.
    let post = site
        .cli_ok(&["post", ORGANISER, "Hello"])
        .trim()
        .to_string();
    cli_fails(&site, &["event", "cancel", &post], "no event");
    // Cancelling twice, and changing a cancelled event, are refused.
    let out = site.cli_ok(&["event", "cancel", &id]);
    assert_eq!(out.trim(), format!("cancelled {id}"));
    let cancelled = stored(&db, &id).await.unwrap();
    assert_eq!(cancelled.status, "cancelled");
    cli_fails(&site, &["event", "cancel", &id], "already cancelled");
    cli_fails(
        &site,
        &["event", "update", &id, "--name=Back on"],
        "cancelled",
    );
    assert_eq!(stored(&db, &id).await.unwrap(), cancelled);
}

/// The admin API creates, updates and cancels events like the command line, and refuses the same bad input
/// with 422 and a JSON error, writing nothing.
async fn admin_api_creates_updates_cancels_and_refuses_bad_input(site: Site) {
    create_organiser(&site);
    let server = site.serve().await;
    let db = site.db().await;
    let path = format!("/actors/{ORGANISER}/events");

    // Without the token: 401, nothing written.
    let before = rows(&db).await;
    let r = server
        .http
        .post(server.url(&format!("/api/admin{path}")))
        .json(&api_body(&fields_with(&[])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(rows(&db).await, before);

    for b in bad_inputs() {
        let body = api_body(&fields_with(&b.set));
        let (status, v) = api(&server, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {body} answered {v}",
            b.what
        );
        let error = v["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(b.error),
            "{}: the error should say {:?}, it says {v}",
            b.what,
            b.error
        );
        assert_eq!(rows(&db).await, before, "{}: something was written", b.what);
    }
    // Wrong types and unknown fields are client errors too.
    for body in [
        json!({"name": "Demo", "start": DEMO_START, "latitude": "north", "longitude": 0}),
        json!({"name": "Demo", "start": DEMO_START, "place": "Somewhere"}),
        json!({"name": "Demo", "start": 20150626}),
    ] {
        let (status, v) = api(&server, Method::POST, &path, Some(body.clone())).await;
        assert!(status.is_client_error(), "{body} answered {status} {v}");
        assert!(v["error"].is_string(), "{body} answered {v}");
        assert_eq!(rows(&db).await, before);
    }
    let (status, _) = api(
        &server,
        Method::POST,
        "/actors/nobody/events",
        Some(api_body(&fields_with(&[]))),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(rows(&db).await, before);

    // Create: 201, Location, the id and what was made of it.
    let r = server
        .admin(Method::POST, &path)
        .json(&api_body(&fields_with(&[])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(location, id);
    assert!(id.starts_with(&site.url("/events/")), "{id}");
    assert_eq!(v["name"], "Demonstration");
    assert_eq!(v["summary"], DEMO_SUMMARY);
    assert_eq!(v["status"], "confirmed");
    assert_eq!(v["sequence"], 0);
    assert_eq!(v["participant_count"], 0);
    let (p, e, _) = rows(&db).await;
    assert_eq!((p, e), (before.0 + 1, before.1 + 1));
    let s = stored(&db, &id).await.unwrap();
    assert_eq!(s.kind, "Event");
    assert_eq!(s.start_at, ms(DEMO_START));
    assert_eq!(s.end_at, Some(ms(DEMO_END)));
    assert_eq!(s.timezone, "Europe/London");
    assert_eq!(s.location_name.as_deref(), Some(PLACE));
    assert_eq!(s.address.as_deref(), Some(ADDRESS));
    assert_eq!(doc(&server, &id).await["summary"], DEMO_SUMMARY);

    // Update: only what is given changes; the sequence grows.
    let (status, v) = api(
        &server,
        Method::PATCH,
        "/events",
        Some(json!({"id": id, "start": "2015-06-26T13:00:00+01:00", "end": "2015-06-26T16:00:00+01:00"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["id"], json!(id));
    assert_eq!(v["sequence"], 1);
    assert_eq!(
        v["summary"],
        "Fri 26 June 2015, 13:00–16:00 BST · Streatham Job Centre, Streatham High Road, London"
    );
    let s = stored(&db, &id).await.unwrap();
    assert_eq!(s.name, "Demonstration");
    assert_eq!(s.location_name.as_deref(), Some(PLACE));
    assert_eq!(s.start_at, ms("2015-06-26T12:00:00Z"));

    // Bad updates change nothing.
    let good = stored(&db, &id).await.unwrap();
    for (body, want) in [
        (
            json!({"id": id, "end": "2015-06-26T12:00:00+01:00"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"id": id, "timezone": "Atlantis/Capital"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"id": id, "latitude": 95.0, "longitude": 1.0}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"id": id, "banner_url": "data:image/png;base64,AAAA"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"id": site.url("/events/doesnotexist"), "name": "X"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, v) = api(&server, Method::PATCH, "/events", Some(body.clone())).await;
        assert_eq!(status, want, "{body} answered {v}");
        assert!(v["error"].is_string(), "{body} answered {v}");
        assert_eq!(stored(&db, &id).await.unwrap(), good, "{body} changed it");
    }

    // The command line and the API work on the same events.
    let out = update_event(&site, &id, &[("name", "Demonstration at the Job Centre")]);
    assert!(out.starts_with(&format!("updated {id} (")), "{out}");
    assert_eq!(stored(&db, &id).await.unwrap().sequence, 2);

    // Cancel: status cancelled; twice is a conflict; a cancelled event cannot change.
    let (status, v) = api(
        &server,
        Method::POST,
        "/events/cancel",
        Some(json!({"id": id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "cancelled");
    assert_eq!(v["sequence"], 3);
    assert!(
        v["summary"].as_str().unwrap().starts_with("CANCELLED · "),
        "{v}"
    );
    let (status, v) = api(
        &server,
        Method::POST,
        "/events/cancel",
        Some(json!({"id": id})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (status, v) = api(
        &server,
        Method::PATCH,
        "/events",
        Some(json!({"id": id, "name": "Back on"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        stored(&db, &id).await.unwrap().name,
        "Demonstration at the Job Centre"
    );
    let (status, _) = api(
        &server,
        Method::POST,
        "/events/cancel",
        Some(json!({"id": site.url("/events/doesnotexist")})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------------------
// The Event document
// ---------------------------------------------------------------------------------------------------------

/// The `Event` at its id, field by field; after an update (`updated`) and a cancellation (`CANCELLED`).
async fn event_document_field_by_field(site: Site) {
    let actor = create_organiser(&site);
    let server = site.serve().await;
    let description = "Bring placards and friends. #Streatham\n\nMore at https://example.org/info";
    let banner = "https://example.org/banner.png";
    let id = api_create(
        &server,
        json!({
            "name": "Demonstration",
            "start": DEMO_START,
            "end": DEMO_END,
            "timezone": "Europe/London",
            "location_name": PLACE,
            "address": ADDRESS,
            "description": description,
            "latitude": 51.4285,
            "longitude": -0.1312,
            "banner_url": banner,
        }),
    )
    .await;
    let created_at = Utc::now();
    let d = doc(&server, &id).await;

    // @context: ActivityStreams and the Mobilizon, schema.org and iCalendar terms.
    let ctx = d["@context"].as_array().expect("@context is an array");
    assert_eq!(ctx[0], AS);
    let terms = ctx
        .iter()
        .find(|c| c.is_object())
        .expect("@context has a term map");
    assert_eq!(terms["sc"], "http://schema.org#");
    assert_eq!(terms["mz"], "https://joinmobilizon.org/ns#");
    assert_eq!(terms["ical"], "http://www.w3.org/2002/12/cal/ical#");
    assert_eq!(terms["PostalAddress"], "sc:PostalAddress");
    assert_eq!(terms["address"]["@id"], "sc:address");
    assert_eq!(terms["streetAddress"], "sc:streetAddress");
    assert_eq!(terms["timezone"]["@id"], "mz:timezone");
    assert_eq!(terms["joinMode"]["@id"], "mz:joinMode");
    assert_eq!(terms["participantCount"]["@id"], "mz:participantCount");
    assert_eq!(terms["Hashtag"], "as:Hashtag");

    assert_eq!(d["id"], json!(id));
    assert_eq!(d["type"], "Event");
    assert_eq!(d["name"], "Demonstration");
    // content: the description as HTML, with the hashtag linked.
    let content = d["content"].as_str().unwrap();
    assert!(
        content.starts_with("<p>Bring placards and friends. "),
        "{content}"
    );
    assert!(
        content.contains(&format!("href=\"{}\"", site.url("/tags/streatham"))),
        "{content}"
    );
    assert!(content.contains("#<span>Streatham</span></a>"), "{content}");
    assert!(
        content.contains("<a href=\"https://example.org/info\""),
        "{content}"
    );
    assert_eq!(d["summary"], DEMO_SUMMARY);
    assert_eq!(d["startTime"], "2015-06-26T12:00:00+01:00");
    assert_eq!(d["endTime"], "2015-06-26T15:00:00+01:00");
    assert_eq!(d["timezone"], "Europe/London");
    let loc = &d["location"];
    assert_eq!(loc["type"], "Place");
    assert_eq!(loc["name"], PLACE);
    assert_eq!(loc["address"]["type"], "PostalAddress");
    assert_eq!(loc["address"]["streetAddress"], ADDRESS);
    assert_eq!(loc["latitude"], 51.4285);
    assert_eq!(loc["longitude"], -0.1312);
    assert_eq!(d["url"], json!(id));
    assert_eq!(d["attributedTo"], json!(actor));
    assert_eq!(d["to"], json!([PUBLIC]));
    assert_eq!(d["cc"], json!([format!("{actor}/followers")]));
    let published = chrono::DateTime::parse_from_rfc3339(d["published"].as_str().unwrap())
        .expect("published is RFC 3339");
    assert!(
        (published.with_timezone(&Utc) - created_at)
            .num_seconds()
            .abs()
            < 120,
        "published {published} is not now"
    );
    assert!(d.get("updated").is_none(), "never updated: {d}");
    assert_eq!(d["ical:status"], "CONFIRMED");
    assert_eq!(d["joinMode"], "free");
    assert_eq!(d["participantCount"], 0);
    let attachment = d["attachment"].as_array().unwrap();
    assert_eq!(attachment.len(), 1, "{d}");
    assert_eq!(attachment[0]["type"], "Document");
    assert_eq!(attachment[0]["name"], "Banner");
    assert_eq!(attachment[0]["url"], banner);
    assert_eq!(attachment[0]["mediaType"], "image/png");
    let tags = d["tag"].as_array().unwrap();
    assert!(
        tags.iter().any(|t| t["type"] == "Hashtag"
            && t["name"] == "#streatham"
            && t["href"] == json!(site.url("/tags/streatham"))),
        "{tags:?}"
    );
    assert_eq!(d["replies"]["id"], json!(format!("{id}/replies")));
    assert_eq!(d["replies"]["type"], "OrderedCollection");
    assert_eq!(d["replies"]["totalItems"], 0);
    // The replies collection is at its id.
    let replies = doc(&server, &format!("{id}/replies")).await;
    assert_eq!(replies["id"], json!(format!("{id}/replies")));
    assert_eq!(replies["totalItems"], 0);

    // Our own document read back as a remote event.
    let back = EventIn::parse(&d).expect("our Event parses as a remote one");
    assert_eq!(back.name, "Demonstration");
    assert_eq!(back.start_at, ms(DEMO_START));
    assert_eq!(back.end_at, Some(ms(DEMO_END)));
    assert_eq!(back.timezone, "Europe/London");
    assert_eq!(back.location_name.as_deref(), Some(PLACE));
    assert_eq!(back.address.as_deref(), Some(ADDRESS));
    assert_eq!(back.latitude, Some(51.4285));
    assert_eq!(back.longitude, Some(-0.1312));
    assert!(!back.cancelled);
    assert_eq!(back.join_mode, "free");
    assert_eq!(back.banner_url.as_deref(), Some(banner));

    // The Create at /activity carries the same Event with the event context.
    let create = doc(&server, &format!("{id}/activity")).await;
    assert_eq!(create["type"], "Create");
    assert_eq!(create["actor"], json!(actor));
    assert_eq!(create["object"]["id"], json!(id));
    assert_eq!(create["object"]["type"], "Event");
    assert_eq!(create["@context"], d["@context"]);

    // After an update: `updated`, the new description.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, v) = api(
        &server,
        Method::PATCH,
        "/events",
        Some(json!({"id": id, "description": "Bring placards. #Streatham #JobsNotCuts"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let d2 = doc(&server, &id).await;
    let updated = chrono::DateTime::parse_from_rfc3339(
        d2["updated"].as_str().expect("updated after an update"),
    )
    .unwrap();
    assert!(
        updated > published,
        "updated {updated} ≤ published {published}"
    );
    assert_eq!(d2["published"], d["published"]);
    assert!(
        d2["content"]
            .as_str()
            .unwrap()
            .contains(&site.url("/tags/jobsnotcuts"))
    );
    assert!(
        d2["tag"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "#jobsnotcuts"),
        "{d2}"
    );
    assert_eq!(d2["startTime"], d["startTime"]);
    assert_eq!(d2["ical:status"], "CONFIRMED");

    // After a cancellation.
    let (status, _) = api(
        &server,
        Method::POST,
        "/events/cancel",
        Some(json!({"id": id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let d3 = doc(&server, &id).await;
    assert_eq!(d3["ical:status"], "CANCELLED");
    assert_eq!(d3["summary"], format!("CANCELLED · {DEMO_SUMMARY}"));
    assert!(EventIn::parse(&d3).unwrap().cancelled);

    // A bare event: no place, no end → no location and no endTime; UTC by default; no banner.
    let bare = api_create(
        &server,
        json!({"name": "Open meeting", "start": "2015-06-26T18:00:00Z"}),
    )
    .await;
    let b = doc(&server, &bare).await;
    assert!(b.get("location").is_none(), "{b}");
    assert!(b.get("endTime").is_none(), "{b}");
    assert_eq!(b["timezone"], "UTC");
    assert_eq!(b["startTime"], "2015-06-26T18:00:00+00:00");
    assert_eq!(b["summary"], "Fri 26 June 2015, 18:00 UTC");
    assert_eq!(b["attachment"], json!([]));
}

/// (command-line options, summary, startTime, endTime).
type SummaryCase = (
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// The `summary` through the real command line, in the event's own zone: BST and GMT in London, EDT and EST in
/// New York, CEST in Berlin, the October clock change, two days, UTC by default, no place, only an address, and
/// a cancelled event. `startTime`/`endTime` carry the zone's offset at that moment.
async fn summary_across_time_zones_and_daylight_saving(site: Site) {
    create_organiser(&site);
    let server = site.serve().await;
    let place = [("location-name", PLACE), ("address", ADDRESS)];
    let with_place = |pairs: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        let mut v = vec![("name", "Demonstration")];
        v.extend_from_slice(pairs);
        v.extend_from_slice(&place);
        v
    };
    let cases: Vec<SummaryCase> = vec![
        (
            with_place(&[
                ("start", DEMO_START),
                ("end", DEMO_END),
                ("timezone", "Europe/London"),
            ]),
            DEMO_SUMMARY,
            "2015-06-26T12:00:00+01:00",
            Some("2015-06-26T15:00:00+01:00"),
        ),
        (
            with_place(&[
                ("start", "2015-12-04T12:00:00Z"),
                ("timezone", "Europe/London"),
            ]),
            "Fri 4 December 2015, 12:00 GMT · Streatham Job Centre, Streatham High Road, London",
            "2015-12-04T12:00:00+00:00",
            None,
        ),
        // Given in UTC, shown in New York.
        (
            with_place(&[
                ("start", "2015-06-26T11:00:00Z"),
                ("end", "2015-06-26T14:00:00Z"),
                ("timezone", "America/New_York"),
            ]),
            "Fri 26 June 2015, 07:00–10:00 EDT · Streatham Job Centre, Streatham High Road, London",
            "2015-06-26T07:00:00-04:00",
            Some("2015-06-26T10:00:00-04:00"),
        ),
        (
            with_place(&[
                ("start", "2015-12-04T17:00:00Z"),
                ("end", "2015-12-04T19:30:00Z"),
                ("timezone", "America/New_York"),
            ]),
            "Fri 4 December 2015, 12:00–14:30 EST · Streatham Job Centre, Streatham High Road, London",
            "2015-12-04T12:00:00-05:00",
            Some("2015-12-04T14:30:00-05:00"),
        ),
        (
            with_place(&[
                ("start", "2015-06-26T12:00:00+01:00"),
                ("timezone", "Europe/Berlin"),
            ]),
            "Fri 26 June 2015, 13:00 CEST · Streatham Job Centre, Streatham High Road, London",
            "2015-06-26T13:00:00+02:00",
            None,
        ),
        // London, 25 October 2015: 02:00 BST becomes 01:00 GMT during the event.
        (
            with_place(&[
                ("start", "2015-10-24T23:30:00Z"),
                ("end", "2015-10-25T01:30:00Z"),
                ("timezone", "Europe/London"),
            ]),
            "Sun 25 October 2015, 00:30 BST–01:30 GMT · Streatham Job Centre, Streatham High Road, London",
            "2015-10-25T00:30:00+01:00",
            Some("2015-10-25T01:30:00+00:00"),
        ),
        // Over two days.
        (
            with_place(&[
                ("start", DEMO_START),
                ("end", "2015-06-27T15:00:00+01:00"),
                ("timezone", "Europe/London"),
            ]),
            "Fri 26 June 2015, 12:00 BST – Sat 27 June 2015, 15:00 BST · Streatham Job Centre, Streatham High Road, London",
            "2015-06-26T12:00:00+01:00",
            Some("2015-06-27T15:00:00+01:00"),
        ),
        // No time zone: UTC.
        (
            with_place(&[("start", DEMO_START), ("end", DEMO_END)]),
            "Fri 26 June 2015, 11:00–14:00 UTC · Streatham Job Centre, Streatham High Road, London",
            "2015-06-26T11:00:00+00:00",
            Some("2015-06-26T14:00:00+00:00"),
        ),
        // No place; only an address.
        (
            vec![
                ("name", "Demonstration"),
                ("start", DEMO_START),
                ("end", DEMO_END),
                ("timezone", "Europe/London"),
            ],
            "Fri 26 June 2015, 12:00–15:00 BST",
            "2015-06-26T12:00:00+01:00",
            Some("2015-06-26T15:00:00+01:00"),
        ),
        (
            vec![
                ("name", "Demonstration"),
                ("start", DEMO_START),
                ("end", DEMO_END),
                ("timezone", "Europe/London"),
                ("address", ADDRESS),
            ],
            "Fri 26 June 2015, 12:00–15:00 BST · Streatham High Road, London",
            "2015-06-26T12:00:00+01:00",
            Some("2015-06-26T15:00:00+01:00"),
        ),
    ];
    let mut first = None;
    for (pairs, summary, start, end) in &cases {
        let id = create_event(&site, pairs);
        first.get_or_insert(id.clone());
        let d = doc(&server, &id).await;
        assert_eq!(d["summary"], *summary, "{pairs:?}");
        assert_eq!(d["startTime"], *start, "{pairs:?}");
        assert_eq!(d["endTime"].as_str(), *end, "{pairs:?}");
        assert_eq!(
            d["timezone"],
            pairs
                .iter()
                .find(|(k, _)| *k == "timezone")
                .map_or("UTC", |(_, v)| v),
            "{pairs:?}"
        );
    }
    // The update prints the new summary; it moved to winter.
    let id = first.unwrap();
    let out = update_event(
        &site,
        &id,
        &[
            ("start", "2015-12-04T12:00:00Z"),
            ("end", "2015-12-04T15:00:00Z"),
        ],
    );
    let winter =
        "Fri 4 December 2015, 12:00–15:00 GMT · Streatham Job Centre, Streatham High Road, London";
    assert_eq!(out.trim(), format!("updated {id} ({winter})"));
    let shown = doc_once(&server, &id, |d| d["summary"] == winter).await;
    assert_eq!(shown["summary"], winter);
    // Cancelled.
    site.cli_ok(&["event", "cancel", &id]);
    let cancelled = format!("CANCELLED · {winter}");
    let shown = doc_once(&server, &id, |d| d["summary"] == cancelled.as_str()).await;
    assert_eq!(shown["summary"], cancelled);
}

// ---------------------------------------------------------------------------------------------------------
// Update and cancel, as a follower receives them
// ---------------------------------------------------------------------------------------------------------

/// A remote follower receives the Create(Event); a change of time sends Update(Event) and a follow-up Note and
/// grows the SEQUENCE; a description-only change sends Update(Event) but no Note; a new place sends a Note; a
/// cancellation sends Update(Event) with CANCELLED and a "Cancelled: …" Note.
async fn update_and_cancel_reach_followers_with_follow_up_notes(site: Site) {
    append_settings(&site, SETTINGS);
    let actor = create_organiser(&site);
    let server = site.serve().await;
    let db = site.db().await;
    let pem = organiser_pem(&site);
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    remote_follows(&server, &remote, "ann").await;

    let start = "2030-06-28T12:00:00+01:00";
    let id = create_event(
        &site,
        &[
            ("name", "Demonstration"),
            ("start", start),
            ("end", "2030-06-28T15:00:00+01:00"),
            ("timezone", "Europe/London"),
            ("location-name", PLACE),
            ("address", ADDRESS),
        ],
    );
    let create = wait_received(&remote, "the Create(Event)", |v| {
        v["type"] == "Create" && v["object"]["id"] == json!(id)
    })
    .await;
    create
        .verify(&pem)
        .expect("the Create is signed with the organiser's key");
    let c = create.json();
    assert_eq!(c["actor"], json!(actor));
    assert_eq!(c["object"]["type"], "Event");
    assert_eq!(c["object"]["startTime"], start);
    assert_eq!(
        c["object"]["summary"],
        "Fri 28 June 2030, 12:00–15:00 BST · Streatham Job Centre, Streatham High Road, London"
    );
    assert!(
        c["@context"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["mz"] == "https://joinmobilizon.org/ns#")),
        "the Create carries the event context: {c}"
    );
    assert_eq!(
        text(&single_vevent(&server, &id).await.properties, "SEQUENCE"),
        "0"
    );
    assert_eq!(notes(&db).await, 0);

    // A new time.
    let out = update_event(
        &site,
        &id,
        &[
            ("start", "2030-06-28T13:00:00+01:00"),
            ("end", "2030-06-28T16:00:00+01:00"),
        ],
    );
    let new_summary =
        "Fri 28 June 2030, 13:00–16:00 BST · Streatham Job Centre, Streatham High Road, London";
    assert_eq!(out.trim(), format!("updated {id} ({new_summary})"));
    let update = wait_received(&remote, "the Update(Event) with the new time", |v| {
        v["type"] == "Update"
            && v["object"]["id"] == json!(id)
            && v["object"]["startTime"] == "2030-06-28T13:00:00+01:00"
    })
    .await;
    update.verify(&pem).expect("the Update is signed");
    let u = update.json();
    assert_eq!(u["actor"], json!(actor));
    assert_eq!(u["object"]["type"], "Event");
    assert_eq!(u["object"]["endTime"], "2030-06-28T16:00:00+01:00");
    assert_eq!(u["object"]["summary"], new_summary);
    assert!(u["object"]["updated"].is_string(), "{u}");
    assert!(
        u["to"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(PUBLIC))),
        "{u}"
    );
    let note = wait_received(&remote, "the follow-up Note about the time", is_note_create)
        .await
        .json();
    let content = note["object"]["content"].as_str().unwrap();
    assert!(
        content.contains(&format!(
            "Update: “Demonstration” has a new time: {new_summary}."
        )),
        "{content}"
    );
    assert!(
        content.contains(&format!("href=\"{id}\"")),
        "the Note links the event: {content}"
    );
    assert_eq!(note["actor"], json!(actor));
    assert!(
        note["object"]["to"]
            .as_array()
            .is_some_and(|a| a.contains(&json!(PUBLIC))),
        "{note}"
    );
    assert_eq!(notes(&db).await, 1);
    assert_eq!(
        text(&single_vevent(&server, &id).await.properties, "SEQUENCE"),
        "1"
    );

    // Only the description: Update, no Note.
    update_event(&site, &id, &[("description", "Now with a sound system")]);
    wait_received(&remote, "the Update(Event) with the new description", |v| {
        v["type"] == "Update"
            && v["object"]["id"] == json!(id)
            && v["object"]["content"]
                .as_str()
                .is_some_and(|c| c.contains("sound system"))
    })
    .await;
    assert_eq!(
        notes(&db).await,
        1,
        "a description change sends no follow-up"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(received_where(&remote, is_note_create).len(), 1);
    assert_eq!(
        text(&single_vevent(&server, &id).await.properties, "SEQUENCE"),
        "2"
    );

    // A new place: a Note.
    update_event(&site, &id, &[("location-name", "Lambeth Town Hall")]);
    let note = wait_received(&remote, "the follow-up Note about the place", |v| {
        is_note_create(v)
            && v["object"]["content"]
                .as_str()
                .is_some_and(|c| c.contains("has a new place"))
    })
    .await
    .json();
    let content = note["object"]["content"].as_str().unwrap();
    assert!(
        content.contains("Update: “Demonstration” has a new place: Fri 28 June 2030, 13:00–16:00 BST · Lambeth Town Hall, Streatham High Road, London."),
        "{content}"
    );
    assert_eq!(notes(&db).await, 2);

    // Cancelled.
    let out = site.cli_ok(&["event", "cancel", &id]);
    assert_eq!(out.trim(), format!("cancelled {id}"));
    let u = wait_received(&remote, "the Update(Event) with CANCELLED", |v| {
        v["type"] == "Update"
            && v["object"]["id"] == json!(id)
            && v["object"]["ical:status"] == "CANCELLED"
    })
    .await
    .json();
    assert!(
        u["object"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("CANCELLED · "),
        "{u}"
    );
    let note = wait_received(&remote, "the cancellation Note", |v| {
        is_note_create(v)
            && v["object"]["content"]
                .as_str()
                .is_some_and(|c| c.contains("Cancelled"))
    })
    .await
    .json();
    let content = note["object"]["content"].as_str().unwrap();
    assert!(
        content.contains(
            "Cancelled: “Demonstration” (Fri 28 June 2030, 13:00–16:00 BST) will not take place."
        ),
        "{content}"
    );
    assert!(content.contains(&format!("href=\"{id}\"")), "{content}");
    assert_eq!(notes(&db).await, 3);
    let v = single_vevent(&server, &id).await;
    assert_eq!(text(&v.properties, "STATUS"), "CANCELLED");
    assert_eq!(text(&v.properties, "SEQUENCE"), "4");
}

/// With `[events] follow_up_notes = false`, changes and cancellations send Update(Event) and no Note.
async fn follow_up_notes_can_be_turned_off(site: Site) {
    append_settings(&site, SETTINGS);
    append_settings(&site, NO_FOLLOW_UPS);
    create_organiser(&site);
    let server = site.serve().await;
    let db = site.db().await;
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    remote_follows(&server, &remote, "ann").await;

    let id = create_event(&site, &demo(&[]));
    wait_received(&remote, "the Create(Event)", |v| {
        v["type"] == "Create" && v["object"]["id"] == json!(id)
    })
    .await;
    update_event(
        &site,
        &id,
        &[
            ("start", "2015-06-26T14:00:00+01:00"),
            ("end", "2015-06-26T17:00:00+01:00"),
            ("location-name", "Lambeth Town Hall"),
        ],
    );
    wait_received(&remote, "the Update(Event)", |v| {
        v["type"] == "Update" && v["object"]["startTime"] == "2015-06-26T14:00:00+01:00"
    })
    .await;
    site.cli_ok(&["event", "cancel", &id]);
    wait_received(&remote, "the Update(Event) with CANCELLED", |v| {
        v["type"] == "Update" && v["object"]["ical:status"] == "CANCELLED"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(notes(&db).await, 0, "no follow-up note is made");
    assert_eq!(
        received_where(&remote, is_note_create),
        Vec::<Value>::new(),
        "no follow-up note is sent"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Join / Leave
// ---------------------------------------------------------------------------------------------------------

/// A remote actor's signed `Join` → 202, one participant, and an `Accept` of that Join in its inbox; the same
/// Join twice, or a second Join, counts once; `Leave` and `Undo(Join)` remove it; another actor cannot undo
/// someone's Join; a cancelled event refuses Joins.
async fn join_leave_and_undo_from_a_remote_actor(site: Site) {
    append_settings(&site, SETTINGS);
    let actor = create_organiser(&site);
    let server = site.serve().await;
    let db = site.db().await;
    let pem = organiser_pem(&site);
    let remote = FakeRemote::start().await;
    let mo = remote.add_actor("mo");
    remote.add_actor("sam");
    let id = api_create(
        &server,
        json!({"name": "Demonstration", "start": "2030-06-28T12:00:00+01:00", "timezone": "Europe/London"}),
    )
    .await;

    let j = join(&remote, "mo", &id);
    deliver(&server, &remote, "mo", &j).await;
    assert_eq!(participant_count(&server, &id).await, 1);
    assert_eq!(participants(&db, &id).await, 1);
    let accepts = remote
        .wait_for_n(&remote.inbox_path("mo"), "Accept", 1, WAIT)
        .await;
    accepts[0]
        .verify(&pem)
        .expect("the Accept is signed with the organiser's key");
    let a = accepts[0].json();
    assert_eq!(a["actor"], json!(actor));
    assert_eq!(a["object"]["type"], "Join");
    assert_eq!(a["object"]["id"], j["id"]);
    assert_eq!(a["object"]["actor"], json!(mo));
    assert_eq!(a["object"]["object"], json!(id));
    assert!(
        a["id"]
            .as_str()
            .is_some_and(|i| i.starts_with(&site.url("/"))),
        "{a}"
    );

    // The same Join again, and another Join by the same actor: still one.
    deliver(&server, &remote, "mo", &j).await;
    assert_eq!(participant_count(&server, &id).await, 1);
    let r = remote
        .sign_and_post("mo", &server.url("/inbox"), &join(&remote, "mo", &id))
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(participant_count(&server, &id).await, 1);
    assert_eq!(participants(&db, &id).await, 1);

    // A second actor.
    deliver(&server, &remote, "sam", &join(&remote, "sam", &id)).await;
    assert_eq!(participant_count(&server, &id).await, 2);
    assert!(page(&server, &id).await.contains("2 taking part"));

    // Leave.
    deliver(&server, &remote, "mo", &leave(&remote, "mo", &id)).await;
    assert_eq!(participant_count(&server, &id).await, 1);
    deliver(&server, &remote, "mo", &leave(&remote, "mo", &id)).await;
    assert_eq!(participant_count(&server, &id).await, 1, "leaving twice");

    // Join again, then Undo(Join).
    let j2 = join(&remote, "mo", &id);
    deliver(&server, &remote, "mo", &j2).await;
    assert_eq!(participant_count(&server, &id).await, 2);
    // Someone else cannot undo mo's Join.
    let r = remote
        .sign_and_post(
            "sam",
            &server.url(&format!("/users/{ORGANISER}/inbox")),
            &undo(&remote, "sam", j2.clone()),
        )
        .await;
    assert!(
        r.status().is_client_error(),
        "sam undoing mo's Join answered {}",
        r.status()
    );
    assert_eq!(participant_count(&server, &id).await, 2);
    deliver(&server, &remote, "mo", &undo(&remote, "mo", j2.clone())).await;
    assert_eq!(participant_count(&server, &id).await, 1);
    assert_eq!(participants(&db, &id).await, 1);
    deliver(&server, &remote, "sam", &leave(&remote, "sam", &id)).await;
    assert_eq!(participant_count(&server, &id).await, 0);
    assert_eq!(participants(&db, &id).await, 0);

    // A cancelled event refuses Joins, and sends no Accept.
    let (status, _) = api(
        &server,
        Method::POST,
        "/events/cancel",
        Some(json!({"id": id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let accepts_before = remote.received_of(&remote.inbox_path("mo"), "Accept").len();
    let r = remote
        .sign_and_post(
            "mo",
            &server.url(&format!("/users/{ORGANISER}/inbox")),
            &join(&remote, "mo", &id),
        )
        .await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert!(
        status.is_client_error(),
        "a Join of a cancelled event answered {status}: {body}"
    );
    assert!(body.contains("cancelled"), "{body}");
    assert_eq!(participant_count(&server, &id).await, 0);
    assert_eq!(participants(&db, &id).await, 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        remote.received_of(&remote.inbox_path("mo"), "Accept").len(),
        accepts_before,
        "no Accept for a refused Join"
    );
}

/// `Undo` naming the Join by its id only (not embedded) removes the participant too.
async fn undo_of_a_join_by_its_id_removes_the_participant(site: Site) {
    append_settings(&site, SETTINGS);
    create_organiser(&site);
    let server = site.serve().await;
    let db = site.db().await;
    let remote = FakeRemote::start().await;
    remote.add_actor("mo");
    let id = api_create(
        &server,
        json!({"name": "Demonstration", "start": "2030-06-28T12:00:00+01:00"}),
    )
    .await;
    let j = join(&remote, "mo", &id);
    deliver(&server, &remote, "mo", &j).await;
    assert_eq!(participants(&db, &id).await, 1);
    // The embedded Join without its object: found by its id.
    let j2 = join(&remote, "mo", &id);
    deliver(&server, &remote, "mo", &leave(&remote, "mo", &id)).await;
    deliver(&server, &remote, "mo", &j2).await;
    assert_eq!(participants(&db, &id).await, 1);
    deliver(
        &server,
        &remote,
        "mo",
        &undo(
            &remote,
            "mo",
            json!({"id": j2["id"], "type": "Join", "actor": j2["actor"]}),
        ),
    )
    .await;
    assert_eq!(
        participants(&db, &id).await,
        0,
        "Undo of {{id, type: Join}} leaves the participant in"
    );
    // The bare id.
    let j3 = join(&remote, "mo", &id);
    deliver(&server, &remote, "mo", &j3).await;
    assert_eq!(participants(&db, &id).await, 1);
    deliver(
        &server,
        &remote,
        "mo",
        &undo(&remote, "mo", j3["id"].clone()),
    )
    .await;
    assert_eq!(
        participants(&db, &id).await,
        0,
        "Undo of the Join's bare id leaves the participant in (undo::receive sends a bare id to undo_by_id, \
         which knows only follows, likes and boosts)"
    );
    assert_eq!(participant_count(&server, &id).await, 0);
}

// ---------------------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------------------

/// A remote reply to an event (and a reply to that reply) is stored under it, and shown on the event's page,
/// in its `replies` collection and in `placard thread`.
async fn replies_to_an_event_are_threaded(site: Site) {
    append_settings(&site, SETTINGS);
    create_organiser(&site);
    let server = site.serve().await;
    let db = site.db().await;
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    remote.add_actor("bob");
    let id = create_event(&site, &demo(&[]));

    let note = remote.note("ann", &id, "See you there! <script>alert(1)</script>");
    let note_id = note["id"].as_str().unwrap().to_string();
    let r = remote
        .sign_and_post("ann", &server.url("/inbox"), &remote.create("ann", note))
        .await;
    assert_eq!(r.status(), 202, "{:?}\n{}", r.text().await, server.log());
    let reply = remote.note("bob", &note_id, "Me too");
    let reply_id = reply["id"].as_str().unwrap().to_string();
    let r = remote
        .sign_and_post("bob", &server.url("/inbox"), &remote.create("bob", reply))
        .await;
    assert_eq!(r.status(), 202, "{:?}", r.text().await);

    // Stored under the event.
    let parent: Option<String> = sqlx::query_scalar(
        "SELECT e.ap_id FROM posts r JOIN posts e ON e.id = r.parent_id WHERE r.ap_id = $1",
    )
    .bind(&note_id)
    .fetch_optional(&db)
    .await
    .unwrap();
    assert_eq!(parent.as_deref(), Some(id.as_str()));

    // The page.
    let html = page(&server, &id).await;
    assert!(html.contains("See you there!"), "{html}");
    assert!(html.contains("Me too"), "{html}");
    assert!(html.contains("Fake ann"), "{html}");
    assert!(html.contains(&note_id), "{html}");
    assert!(
        !html.contains("<script>alert(1)"),
        "the reply is sanitized: {html}"
    );
    let first = html.find("See you there!").unwrap();
    let second = html.find("Me too").unwrap();
    assert!(first < second, "the reply to the reply comes after it");

    // The collection.
    let replies = doc(&server, &format!("{id}/replies")).await;
    assert_eq!(replies["totalItems"], 1, "{replies}");
    let page1 = doc(&server, &format!("{id}/replies?page=1")).await;
    assert_eq!(page1["orderedItems"], json!([note_id]), "{page1}");
    assert_eq!(doc(&server, &id).await["replies"]["totalItems"], 1);
    let context = doc(&server, &format!("{id}/context")).await;
    assert_eq!(context["totalItems"], 3, "{context}");

    // `placard thread`.
    let out = site.cli_ok(&["thread", &id, "--json"]);
    let tree: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(tree["id"], json!(id));
    assert_eq!(tree["replies"][0]["id"], json!(note_id));
    assert_eq!(tree["replies"][0]["replies"][0]["id"], json!(reply_id));
}

// ---------------------------------------------------------------------------------------------------------
// iCalendar and Atom
// ---------------------------------------------------------------------------------------------------------

/// The actor's calendar: one VEVENT per upcoming event (and ones that ended less than a day ago), none for
/// events that ended over a day ago or for other actors' events, cancelled ones marked; each VEVENT parsed back
/// and checked; each event's own `.ics`, whose SEQUENCE grows with each update and STATUS turns CANCELLED.
async fn icalendar_feeds_parse_and_carry_the_events(site: Site) {
    let actor = create_organiser(&site);
    site.cli_ok(&["actor", "create", "other", "--kind", "person"]);
    let server = site.serve().await;

    let description = "Bring placards, banners; and friends.\nMeet at the clock tower.";
    let london = create_event(
        &site,
        &[
            ("name", "Demonstration"),
            ("start", "2030-06-28T12:00:00+01:00"),
            ("end", "2030-06-28T15:00:00+01:00"),
            ("timezone", "Europe/London"),
            ("location-name", PLACE),
            ("address", ADDRESS),
            ("description", description),
            ("latitude", "51.4285"),
            ("longitude", "-0.1312"),
        ],
    );
    let new_york = create_event(
        &site,
        &[
            ("name", "Solidarity meeting"),
            ("start", "2030-12-06T18:00:00-05:00"),
            ("end", "2030-12-06T20:00:00-05:00"),
            ("timezone", "America/New_York"),
            ("location-name", "Union Hall"),
        ],
    );
    let in_a_month = from_now(24 * 30);
    let utc = create_event(
        &site,
        &[("name", "Open call"), ("start", in_a_month.as_str())],
    );
    let cancelled = create_event(
        &site,
        &[
            ("name", "Picnic"),
            ("start", "2030-07-04T12:00:00+01:00"),
            ("timezone", "Europe/London"),
        ],
    );
    site.cli_ok(&["event", "cancel", &cancelled]);
    let (three_days_ago, two_days_ago) = (from_now(-72), from_now(-48));
    let past = create_event(
        &site,
        &[
            ("name", "Last week's march"),
            ("start", three_days_ago.as_str()),
            ("end", two_days_ago.as_str()),
        ],
    );
    let (five_hours_ago, two_hours_ago) = (from_now(-5), from_now(-2));
    let just_ended = create_event(
        &site,
        &[
            ("name", "This morning's leafleting"),
            ("start", five_hours_ago.as_str()),
            ("end", two_hours_ago.as_str()),
        ],
    );
    let in_two_days = format!("--start={}", from_now(48));
    let others = site
        .cli_ok(&[
            "event",
            "create",
            "other",
            "--name=Someone else's",
            in_two_days.as_str(),
        ])
        .trim()
        .to_string();

    let body = ics(&server, &format!("{actor}/events.ics")).await;
    let cal = parse_calendar(&body);
    check_calendar(&cal);
    let mut got = uids(&cal);
    got.sort();
    let mut want = vec![
        london.clone(),
        new_york.clone(),
        utc.clone(),
        cancelled.clone(),
        just_ended.clone(),
    ];
    want.sort();
    assert_eq!(got, want, "past: {past}, another actor's: {others}\n{body}");
    for uid in &got {
        assert_eq!(
            cal.events
                .iter()
                .filter(|e| text(&e.properties, "UID") == *uid)
                .count(),
            1,
            "one VEVENT for {uid}"
        );
    }

    // London, field by field.
    let e = vevent(&cal, &london);
    let p = &e.properties;
    let dtstart = get(p, "DTSTART");
    assert_eq!(param(dtstart, "TZID").as_deref(), Some("Europe/London"));
    assert_eq!(dtstart.value.as_deref(), Some("20300628T120000"));
    assert_eq!(instant(dtstart), ms("2030-06-28T12:00:00+01:00"));
    let dtend = get(p, "DTEND");
    assert_eq!(param(dtend, "TZID").as_deref(), Some("Europe/London"));
    assert_eq!(dtend.value.as_deref(), Some("20300628T150000"));
    assert_eq!(instant(dtend), ms("2030-06-28T15:00:00+01:00"));
    assert_eq!(text(p, "SUMMARY"), "Demonstration");
    assert_eq!(
        text(p, "LOCATION"),
        "Streatham Job Centre, Streatham High Road, London"
    );
    assert_eq!(text(p, "DESCRIPTION"), description);
    assert_eq!(text(p, "URL"), london);
    assert_eq!(text(p, "STATUS"), "CONFIRMED");
    assert_eq!(text(p, "SEQUENCE"), "0");
    assert_eq!(text(p, "GEO"), "51.4285;-0.1312");
    let organizer = get(p, "ORGANIZER");
    assert_eq!(organizer.value.as_deref(), Some(actor.as_str()));
    assert_eq!(param(organizer, "CN").as_deref(), Some(ORGANISER_NAME));

    // The London VTIMEZONE: BST from 31 March 2030, GMT from 27 October 2030.
    let zone = cal
        .timezones
        .iter()
        .find(|z| text(&z.properties, "TZID") == "Europe/London")
        .expect("a VTIMEZONE for Europe/London");
    let transition = |start: &str, kind: IcalTimeZoneTransitionType, from: &str, to: &str| {
        zone.transitions.iter().any(|t| {
            std::mem::discriminant(&t.transition) == std::mem::discriminant(&kind)
                && text(&t.properties, "DTSTART").starts_with(start)
                && text(&t.properties, "TZOFFSETFROM") == from
                && text(&t.properties, "TZOFFSETTO") == to
        })
    };
    assert!(
        transition(
            "20300331",
            IcalTimeZoneTransitionType::DAYLIGHT,
            "+0000",
            "+0100"
        ),
        "no DAYLIGHT from 31 March 2030 in {zone:#?}"
    );
    assert!(
        transition(
            "20301027",
            IcalTimeZoneTransitionType::STANDARD,
            "+0100",
            "+0000"
        ),
        "no STANDARD from 27 October 2030 in {zone:#?}"
    );
    assert!(
        cal.timezones
            .iter()
            .any(|z| text(&z.properties, "TZID") == "America/New_York"),
        "a VTIMEZONE for New York"
    );

    // New York: local times in its zone.
    let p = &vevent(&cal, &new_york).properties;
    let dtstart = get(p, "DTSTART");
    assert_eq!(param(dtstart, "TZID").as_deref(), Some("America/New_York"));
    assert_eq!(dtstart.value.as_deref(), Some("20301206T180000"));
    assert_eq!(instant(get(p, "DTEND")), ms("2030-12-06T20:00:00-05:00"));
    assert_eq!(text(p, "LOCATION"), "Union Hall");
    assert!(find(p, "DESCRIPTION").is_none());

    // UTC, no end.
    let p = &vevent(&cal, &utc).properties;
    assert!(get(p, "DTSTART").value.as_deref().unwrap().ends_with('Z'));
    assert!(find(p, "DTEND").is_none());

    // Cancelled ones stay, marked.
    let p = &vevent(&cal, &cancelled).properties;
    assert_eq!(text(p, "STATUS"), "CANCELLED");
    assert_eq!(text(p, "SEQUENCE"), "1");

    // Each event's own calendar, a past one too.
    let v = single_vevent(&server, &past).await;
    assert_eq!(text(&v.properties, "UID"), past);
    assert_eq!(text(&v.properties, "SUMMARY"), "Last week's march");

    // SEQUENCE grows with each update; STATUS turns CANCELLED.
    let v = single_vevent(&server, &london).await;
    assert_eq!(text(&v.properties, "SEQUENCE"), "0");
    assert_eq!(text(&v.properties, "STATUS"), "CONFIRMED");
    update_event(&site, &london, &[("start", "2030-06-28T11:00:00+01:00")]);
    let v = single_vevent(&server, &london).await;
    assert_eq!(text(&v.properties, "SEQUENCE"), "1");
    assert_eq!(
        get(&v.properties, "DTSTART").value.as_deref(),
        Some("20300628T110000")
    );
    update_event(&site, &london, &[("description", "Bring water.")]);
    let v = single_vevent(&server, &london).await;
    assert_eq!(text(&v.properties, "SEQUENCE"), "2");
    assert_eq!(text(&v.properties, "DESCRIPTION"), "Bring water.");
    site.cli_ok(&["event", "cancel", &london]);
    let v = single_vevent(&server, &london).await;
    assert_eq!(text(&v.properties, "SEQUENCE"), "3");
    assert_eq!(text(&v.properties, "STATUS"), "CANCELLED");

    // No calendar for unknown actors or events.
    let (status, _, _) = fetch(
        &server,
        &server.url("/users/nobody/events.ics"),
        "text/calendar",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = fetch(&server, &server.url("/events/nothing.ics"), "text/calendar").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The Atom feed parses, with an entry for each public post and event (id, title, link).
async fn atom_feed_has_posts_and_events(site: Site) {
    let actor = create_organiser(&site);
    let server = site.serve().await;
    let post = site
        .cli_ok(&["post", ORGANISER, "Sign the petition #jobs"])
        .trim()
        .to_string();
    let private = site
        .cli_ok(&[
            "post",
            ORGANISER,
            "For followers only",
            "--visibility",
            "followers",
        ])
        .trim()
        .to_string();
    let tea = site
        .cli_ok(&["post", ORGANISER, "Tea & cake <3"])
        .trim()
        .to_string();
    let event = create_event(&site, &demo(&[]));
    let tricky = create_event(
        &site,
        &[
            ("name", "<b>Rally</b> & \"march\""),
            ("start", DEMO_START),
            ("timezone", "Europe/London"),
        ],
    );

    let url = format!("{actor}/feed.atom");
    let (status, ct, body) = fetch(&server, &url, "application/atom+xml").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(ct.starts_with("application/atom+xml"), "{ct}");
    let feed = atom_syndication::Feed::read_from(body.as_bytes())
        .unwrap_or_else(|e| panic!("the feed does not parse ({e}):\n{body}"));
    assert_eq!(feed.id(), url);
    assert_eq!(feed.title().as_str(), ORGANISER_NAME);
    assert!(
        feed.links()
            .iter()
            .any(|l| l.rel() == "self" && l.href() == url),
        "{body}"
    );
    let ids: Vec<&str> = feed.entries().iter().map(|e| e.id()).collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    for id in [&post, &tea, &event, &tricky] {
        assert!(ids.contains(&id.as_str()), "no entry {id} in {ids:?}");
    }
    assert!(
        !ids.contains(&private.as_str()),
        "a followers-only post in the feed"
    );
    let entry = |id: &str| feed.entries().iter().find(|e| e.id() == id).unwrap();

    let e = entry(&event);
    assert_eq!(
        e.title().as_str(),
        format!("Demonstration — {DEMO_SUMMARY}")
    );
    assert!(
        e.links()
            .iter()
            .any(|l| l.href() == event && l.rel() == "alternate"),
        "{:?}",
        e.links()
    );
    assert!(e.published().is_some());
    let p = entry(&post);
    assert_eq!(p.title().as_str(), "Sign the petition #jobs");
    assert!(p.links().iter().any(|l| l.href() == post));
    assert!(
        p.content()
            .and_then(|c| c.value())
            .is_some_and(|v| v.contains(&site.url("/tags/jobs"))),
        "{:?}",
        p.content()
    );
    // Markup in a name is text, escaped in the XML and read back as it was.
    assert!(
        entry(&tricky)
            .title()
            .as_str()
            .starts_with("<b>Rally</b> & \"march\" — Fri 26 June 2015, 12:00 BST"),
        "{:?}",
        entry(&tricky).title()
    );
    // Text is text: a post's title is not escaped twice.
    assert_eq!(
        entry(&tea).title().as_str(),
        "Tea & cake <3",
        "the title of a post is HTML-escaped text (strip_tags) escaped again as XML"
    );
}

// ---------------------------------------------------------------------------------------------------------
// The HTML page
// ---------------------------------------------------------------------------------------------------------

/// The event's page: name, date and time in its zone, place and address, map, description, organiser,
/// participants, "Add to calendar", replies; markup in names and places is escaped.
async fn event_page_shows_the_event_and_escapes_markup(site: Site) {
    create_organiser(&site);
    let server = site.serve().await;
    let id = api_create(
        &server,
        json!({
            "name": "Demonstration",
            "start": DEMO_START,
            "end": DEMO_END,
            "timezone": "Europe/London",
            "location_name": PLACE,
            "address": ADDRESS,
            "description": "Bring placards. #Streatham",
            "latitude": 51.4285,
            "longitude": -0.1312,
            "banner_url": "https://example.org/banner.png",
        }),
    )
    .await;
    let html = page(&server, &id).await;
    assert!(html.contains("<h1>Demonstration</h1>"), "{html}");
    assert!(html.contains("Fri 26 June 2015, 12:00–15:00 BST"), "{html}");
    assert!(
        html.contains("datetime=\"2015-06-26T12:00:00+01:00\""),
        "{html}"
    );
    assert!(html.contains(PLACE), "{html}");
    assert!(html.contains(ADDRESS), "{html}");
    assert!(
        decode_entities(&html).contains("https://www.openstreetmap.org/?mlat=51.4285&mlon=-0.1312"),
        "{html}"
    );
    assert!(html.contains("Bring placards."), "{html}");
    assert!(
        html.contains(&format!("href=\"{}\"", site.url("/tags/streatham"))),
        "{html}"
    );
    assert!(html.contains(ORGANISER_NAME), "{html}");
    assert!(
        html.contains(&format!("href=\"{}\"", site.url(&format!("/@{ORGANISER}")))),
        "the organiser is linked: {html}"
    );
    assert!(html.contains("0 taking part"), "{html}");
    assert!(
        html.contains(&format!("<a href=\"{id}.ics\">Add to calendar</a>")),
        "{html}"
    );
    assert!(
        html.contains("src=\"https://example.org/banner.png\""),
        "{html}"
    );
    assert!(html.contains("Replies"), "{html}");
    assert!(!html.contains("Cancelled"), "{html}");

    // Cancelled.
    site.cli_ok(&["event", "cancel", &id]);
    let html = page(&server, &id).await;
    assert!(html.contains("Cancelled"), "{html}");

    // Markup everywhere a person types text.
    let evil = api_create(
        &server,
        json!({
            "name": "<script>alert(1)</script> Rally",
            "start": DEMO_START,
            "timezone": "Europe/London",
            "location_name": "<script>alert(2)</script> Hall",
            "address": "<img src=x onerror=alert(3)> Road",
            "description": "<script>alert(4)</script> Come",
        }),
    )
    .await;
    let html = page(&server, &evil).await;
    for n in 1..=4 {
        assert!(
            !html.contains(&format!("<script>alert({n})")),
            "alert({n}) is not escaped: {html}"
        );
    }
    assert!(!html.contains("<img src=x"), "{html}");
    // Escaped, and read as the text typed.
    let text = decode_entities(&html);
    for typed in [
        "<script>alert(1)</script> Rally",
        "<script>alert(2)</script> Hall",
        "<img src=x onerror=alert(3)> Road",
        "<script>alert(4)</script> Come",
    ] {
        assert!(
            text.contains(typed),
            "{typed:?} is not shown as text: {html}"
        );
    }
    // The Event's HTML content escapes it too; name stays plain text.
    let d = doc(&server, &evil).await;
    assert_eq!(d["name"], "<script>alert(1)</script> Rally");
    assert!(
        d["content"]
            .as_str()
            .unwrap()
            .contains("&lt;script&gt;alert(4)&lt;/script&gt; Come"),
        "{d}"
    );
    // Unknown events: 404.
    let (status, _, _) = fetch(&server, &server.url("/events/nothing"), HTML).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------------------
// A real Mobilizon Event
// ---------------------------------------------------------------------------------------------------------

fn fixture(path: &str) -> Value {
    let p = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .unwrap()
}

/// mobilizon.org's launch party (2019), as fetched, read by `EventIn::parse`: times, zone (none given: UTC),
/// place, address (blank and null parts dropped), coordinates (from `geo`, as given — the capture has them
/// swapped, which a reader cannot know), status and join mode; then early Mobilizon's Create(Event); then the
/// same with a time zone and CANCELLED.
#[test]
fn mobilizon_events_parse() {
    let v = fixture("mobilizon/event_minified.json");
    let e = EventIn::parse(&v).unwrap();
    assert_eq!(e.name, "Mobilizon Launching Party");
    assert_eq!(e.start_at, ms("2019-12-18T13:00:00Z"));
    assert_eq!(e.end_at, Some(ms("2019-12-18T14:00:00Z")));
    assert_eq!(e.timezone, "UTC");
    assert_eq!(
        e.location_name.as_deref(),
        Some("Cour du Château des Ducs de Bretagne")
    );
    assert_eq!(
        e.address.as_deref(),
        Some("Nantes, Pays de la Loire, France")
    );
    assert!(!e.cancelled);
    assert_eq!(e.join_mode, "free");
    assert_eq!(e.participant_count, 0);
    assert_eq!(e.banner_url, None);
    // Mobilizon puts the coordinates in location.geo (a GeoCoordinates).
    assert_eq!(
        (e.latitude, e.longitude),
        (Some(-1.54939699141711), Some(47.21617415)),
        "the coordinates of location.geo (a GeoCoordinates, as Mobilizon sends them) are not read"
    );

    let create = fixture("mobilizon/create_event_2018.json");
    let e = EventIn::parse(&create["object"]).unwrap();
    assert_eq!(e.name, "My first event");
    assert_eq!(e.start_at, ms("2018-02-12T14:08:20Z"));
    assert_eq!(e.end_at, None);
    assert_eq!(e.location_name.as_deref(), Some("Locaux de Framasoft"));
    assert_eq!(
        e.address.as_deref(),
        Some("10 Rue Jangot, 69007, Lyon, Auvergne Rhône Alpes, France")
    );
    assert_eq!((e.latitude, e.longitude), (None, None));
    assert!(!e.cancelled);

    let mut v = fixture("mobilizon/event_minified.json");
    v["timezone"] = json!("Europe/Paris");
    v["ical:status"] = json!("CANCELLED");
    let e = EventIn::parse(&v).unwrap();
    assert_eq!(e.timezone, "Europe/Paris");
    assert!(e.cancelled);
    v["timezone"] = json!("Mars/Olympus_Mons");
    assert_eq!(EventIn::parse(&v).unwrap().timezone, "UTC");
    v.as_object_mut().unwrap().remove("startTime");
    assert!(EventIn::parse(&v).is_err(), "an Event needs a startTime");
}

/// The same Mobilizon Event, stored through the real path: a local actor follows its organiser (a FakeRemote
/// actor), which sends a signed Create(Event) to our inbox; the event is stored (a post of kind Event and its
/// calendar data) and shown in `placard thread`; an Update(Event) cancelling it is applied. An actor nobody
/// here follows gets its event ignored.
async fn mobilizon_event_is_stored_from_a_followed_actor(site: Site) {
    append_settings(&site, SETTINGS);
    site.cli_ok(&["actor", "create", "reader", "--kind", "person"]);
    let server = site.serve().await;
    let db = site.db().await;
    let remote = FakeRemote::start().await;
    let tcit = remote.add_actor("tcit");
    remote.add_actor("stranger");

    // reader follows tcit; tcit accepts.
    let out = site.cli_ok(&["follow", "reader", &tcit]);
    assert!(out.contains(&tcit), "{out}");
    let follow = remote
        .wait_for_n(&remote.inbox_path("tcit"), "Follow", 1, WAIT)
        .await[0]
        .json();
    let accept = json!({
        "@context": AS,
        "id": remote.new_id("accepts"),
        "type": "Accept",
        "actor": tcit,
        "object": follow,
    });
    let r = remote
        .sign_and_post("tcit", &server.url("/users/reader/inbox"), &accept)
        .await;
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let accepted: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follows WHERE accepted = 1")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(accepted, 1, "the follow is accepted");

    // The fixture's ids and hosts are rewritten to the FakeRemote (its organiser https://mobilizon.org/@tcit
    // becomes the fake actor, every other https://mobilizon.org URL moves to the fake origin): our inbox only
    // takes an event from the origin of the actor that signs it, and we must not contact mobilizon.org.
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/mobilizon/event_minified.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("https://mobilizon.org/@tcit", &tcit)
    .replace("https://mobilizon.org", &remote.origin);
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let context = event.as_object_mut().unwrap().remove("@context").unwrap();
    let event_id = event["id"].as_str().unwrap().to_string();
    assert!(event_id.starts_with(&remote.origin), "{event_id}");
    let create = json!({
        "@context": context,
        "id": format!("{event_id}/activity"),
        "type": "Create",
        "actor": tcit,
        "to": event["to"],
        "cc": event["cc"],
        "published": event["published"],
        "object": event,
    });
    let r = remote
        .sign_and_post("tcit", &server.url("/inbox"), &create)
        .await;
    assert_eq!(r.status(), 202, "{:?}\n{}", r.text().await, server.log());

    let s = stored(&db, &event_id)
        .await
        .expect("the event is stored with its calendar data");
    assert_eq!(s.kind, "Event");
    assert_eq!(s.name, "Mobilizon Launching Party");
    assert_eq!(s.start_at, ms("2019-12-18T13:00:00Z"));
    assert_eq!(s.end_at, Some(ms("2019-12-18T14:00:00Z")));
    assert_eq!(s.timezone, "UTC");
    assert_eq!(
        s.location_name.as_deref(),
        Some("Cour du Château des Ducs de Bretagne")
    );
    assert_eq!(
        s.address.as_deref(),
        Some("Nantes, Pays de la Loire, France")
    );
    assert_eq!(s.status, "confirmed");
    assert_eq!(s.join_mode, "free");
    let local: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM posts WHERE ap_id = $1 AND local = 0")
            .bind(&event_id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(local, 1, "stored as a remote post");

    // Shown like a post.
    let out = site.cli_ok(&["thread", &event_id, "--json"]);
    let tree: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(tree["id"], json!(event_id));
    assert_eq!(tree["author"], json!(remote.handle("tcit")));
    let content = tree["content"].as_str().unwrap();
    assert!(content.contains("Mobilizon Launching Party"), "{content}");
    assert!(content.contains("Mobilizon is now federated!"), "{content}");
    let out = site.cli_ok(&["thread", &event_id]);
    assert!(out.contains("Mobilizon Launching Party"), "{out}");

    // The organiser cancels it and moves it an hour: Update(Event).
    let mut changed = create["object"].clone();
    changed["ical:status"] = json!("CANCELLED");
    changed["startTime"] = json!("2019-12-18T14:00:00Z");
    changed["endTime"] = json!("2019-12-18T15:00:00Z");
    changed["updated"] = json!("2019-12-17T13:00:00Z");
    let update = json!({
        "@context": create["@context"],
        "id": remote.new_id("updates"),
        "type": "Update",
        "actor": tcit,
        "to": changed["to"],
        "object": changed,
    });
    let r = remote
        .sign_and_post("tcit", &server.url("/inbox"), &update)
        .await;
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let s = stored(&db, &event_id).await.unwrap();
    assert_eq!(s.status, "cancelled");
    assert_eq!(s.start_at, ms("2019-12-18T14:00:00Z"));
    assert_eq!(s.end_at, Some(ms("2019-12-18T15:00:00Z")));

    // Nobody here follows the stranger: its event is not stored.
    let stranger_event_id = remote.new_id("events");
    let mut other = create["object"].clone();
    other["id"] = json!(stranger_event_id);
    other["url"] = json!(stranger_event_id);
    other["actor"] = json!(remote.actor_url("stranger"));
    other["attributedTo"] = json!(remote.actor_url("stranger"));
    let r = remote
        .sign_and_post(
            "stranger",
            &server.url("/inbox"),
            &json!({
                "@context": create["@context"],
                "id": format!("{stranger_event_id}/activity"),
                "type": "Create",
                "actor": remote.actor_url("stranger"),
                "to": [PUBLIC],
                "object": other,
            }),
        )
        .await;
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    assert!(stored(&db, &stranger_event_id).await.is_none());
}

// ---------------------------------------------------------------------------------------------------------

on_both_databases!(
    cli_refuses_bad_input_and_writes_nothing,
    admin_api_creates_updates_cancels_and_refuses_bad_input,
    event_document_field_by_field,
    summary_across_time_zones_and_daylight_saving,
    update_and_cancel_reach_followers_with_follow_up_notes,
    follow_up_notes_can_be_turned_off,
    join_leave_and_undo_from_a_remote_actor,
    undo_of_a_join_by_its_id_removes_the_participant,
    replies_to_an_event_are_threaded,
    icalendar_feeds_parse_and_carry_the_events,
    atom_feed_has_posts_and_events,
    event_page_shows_the_event_and_escapes_markup,
    mobilizon_event_is_stored_from_a_followed_actor,
);
