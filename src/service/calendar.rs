//! Events in words and in calendars: the human-readable line Mastodon shows as an Event's `summary`, the
//! iCalendar documents (RFC 5545) and the Atom feed.

use chrono::{DateTime, Datelike, Offset, TimeZone, Timelike, Utc};
use chrono_tz::{OffsetComponents, Tz};

use crate::db::events::{CANCELLED, EventRow};

/// A stored time (Unix ms) in a time zone.
pub fn local(ms: i64, tz: Tz) -> DateTime<Tz> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .with_timezone(&tz)
}

/// Parses an IANA time zone name, with a clear error.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| format!("unknown time zone {name:?}: use an IANA name like Europe/London"))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn day(t: &DateTime<Tz>) -> String {
    format!(
        "{} {} {} {}",
        t.format("%a"),
        t.day(),
        MONTHS[t.month0() as usize],
        t.year()
    )
}

fn hm(t: &DateTime<Tz>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// The zone's abbreviation at that moment (BST, CEST…), or its offset where it has none (+03).
fn abbr(t: &DateTime<Tz>) -> String {
    t.format("%Z").to_string()
}

/// When: "Fri 26 June 2015, 12:00–15:00 BST", in the event's own zone. Across days or zone changes the end
/// carries its own day or abbreviation.
pub fn when(start_ms: i64, end_ms: Option<i64>, tz: Tz) -> String {
    let s = local(start_ms, tz);
    let Some(end_ms) = end_ms else {
        return format!("{}, {} {}", day(&s), hm(&s), abbr(&s));
    };
    let e = local(end_ms, tz);
    if s.date_naive() == e.date_naive() {
        if abbr(&s) == abbr(&e) {
            format!("{}, {}–{} {}", day(&s), hm(&s), hm(&e), abbr(&e))
        } else {
            format!(
                "{}, {} {}–{} {}",
                day(&s),
                hm(&s),
                abbr(&s),
                hm(&e),
                abbr(&e)
            )
        }
    } else {
        format!(
            "{}, {} {} – {}, {} {}",
            day(&s),
            hm(&s),
            abbr(&s),
            day(&e),
            hm(&e),
            abbr(&e)
        )
    }
}

/// Where: "Streatham Job Centre, Streatham High Road, London" (whatever of the two is given).
pub fn place(e: &EventRow) -> Option<String> {
    let parts: Vec<&str> = [e.location_name.as_deref(), e.address.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The line Mastodon shows for an Event: when · where, marked when cancelled.
pub fn summary_line(e: &EventRow) -> String {
    let tz = parse_tz(&e.timezone).unwrap_or(Tz::UTC);
    let mut s = when(e.start_at, e.end_at, tz);
    if let Some(p) = place(e) {
        s.push_str(" · ");
        s.push_str(&p);
    }
    if e.status == CANCELLED {
        s = format!("CANCELLED · {s}");
    }
    s
}

/// One event of a calendar: the event, its id (the UID), its page, the organiser's name and URI.
pub struct CalendarItem {
    pub event: EventRow,
    pub id: String,
    pub url: String,
    pub organiser: String,
    pub organiser_uri: String,
}

/// Writes an iCalendar with one VEVENT per event, and a VTIMEZONE for each zone they use.
pub fn icalendar(name: &str, items: &[CalendarItem]) -> String {
    use icalendar::{Calendar, CalendarDateTime, Component, EventLike, EventStatus};
    let mut cal = Calendar::new();
    cal.name(name);
    let mut zones: Vec<(Tz, i32, i32)> = Vec::new();
    for CalendarItem {
        event: e,
        id,
        url,
        organiser,
        organiser_uri,
    } in items
    {
        let tz = parse_tz(&e.timezone).unwrap_or(Tz::UTC);
        let mut ev = icalendar::Event::new();
        let stamp = |ms: i64| -> CalendarDateTime {
            let t = local(ms, tz);
            if tz == Tz::UTC {
                CalendarDateTime::Utc(t.with_timezone(&Utc))
            } else {
                CalendarDateTime::WithTimezone {
                    date_time: t.naive_local(),
                    tzid: tz.name().to_string(),
                }
            }
        };
        ev.uid(id)
            .summary(&e.name)
            .starts(stamp(e.start_at))
            .url(url)
            .sequence(e.sequence as u32)
            .status(if e.status == CANCELLED {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        if let Some(end) = e.end_at {
            ev.ends(stamp(end));
        }
        if let Some(p) = place(e) {
            ev.location(&p);
        }
        if !e.description.is_empty() {
            ev.description(&e.description);
        }
        if let (Some(lat), Some(lon)) = (e.latitude, e.longitude) {
            ev.add_property("GEO", format!("{lat};{lon}"));
        }
        ev.append_property(
            icalendar::Property::new("ORGANIZER", organiser_uri.as_str())
                .add_parameter("CN", organiser)
                .done(),
        );
        cal.push(ev.done());
        let start_year = local(e.start_at, tz).year();
        let end_year = local(e.end_at.unwrap_or(e.start_at), tz).year();
        if tz != Tz::UTC {
            match zones.iter_mut().find(|(z, _, _)| *z == tz) {
                Some(z) => {
                    z.1 = z.1.min(start_year);
                    z.2 = z.2.max(end_year);
                }
                None => zones.push((tz, start_year, end_year)),
            }
        }
    }
    let text = cal.done().to_string();
    // The crate has no VTIMEZONE builder: RFC 5545 wants one for every TZID used, so they go in before the
    // first component.
    let vtimezones: String = zones
        .iter()
        .map(|(tz, from, to)| vtimezone(*tz, *from, *to))
        .collect();
    match text.find("BEGIN:VEVENT") {
        Some(i) if !vtimezones.is_empty() => format!("{}{vtimezones}{}", &text[..i], &text[i..]),
        _ => text,
    }
}

/// A VTIMEZONE for `tz` covering the years `from..=to`: the offset in force at the start, then every
/// transition, found by scanning the zone hour by hour.
fn vtimezone(tz: Tz, from: i32, to: i32) -> String {
    fn offset_secs(tz: Tz, t: DateTime<Utc>) -> (i32, bool, String) {
        let local = t.with_timezone(&tz);
        let off = local.offset();
        (
            off.fix().local_minus_utc(),
            !off.dst_offset().is_zero(),
            local.format("%Z").to_string(),
        )
    }
    fn fmt_off(secs: i32) -> String {
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.abs();
        format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60)
    }
    let mut out = format!("BEGIN:VTIMEZONE\r\nTZID:{}\r\n", tz.name());
    let start = Utc
        .with_ymd_and_hms(from, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let end = Utc
        .with_ymd_and_hms(to + 1, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let (mut prev, dst, name) = offset_secs(tz, start);
    let kind = |dst: bool| if dst { "DAYLIGHT" } else { "STANDARD" };
    out.push_str(&format!(
        "BEGIN:{k}\r\nDTSTART:{}\r\nTZOFFSETFROM:{o}\r\nTZOFFSETTO:{o}\r\nTZNAME:{name}\r\nEND:{k}\r\n",
        start.with_timezone(&tz).naive_local().format("%Y%m%dT%H%M%S"),
        k = kind(dst),
        o = fmt_off(prev)
    ));
    let mut t = start;
    while t < end {
        let next = t + chrono::Duration::hours(1);
        let (off, dst, name) = offset_secs(tz, next);
        if off != prev {
            // The transition happened within this hour; find its minute.
            let mut at = t;
            while offset_secs(tz, at).0 == prev {
                at += chrono::Duration::minutes(1);
            }
            let local_before = (at + chrono::Duration::seconds(prev as i64)).naive_utc();
            out.push_str(&format!(
                "BEGIN:{k}\r\nDTSTART:{}\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\nTZNAME:{name}\r\nEND:{k}\r\n",
                local_before.format("%Y%m%dT%H%M%S"),
                fmt_off(prev),
                fmt_off(off),
                k = kind(dst),
            ));
            prev = off;
        }
        t = next;
    }
    out.push_str("END:VTIMEZONE\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn event(start: &str, end: Option<&str>, tz: &str) -> EventRow {
        EventRow {
            post_id: 1,
            name: "Demonstration".into(),
            description: String::new(),
            start_at: ms(start),
            end_at: end.map(ms),
            timezone: tz.into(),
            location_name: Some("Streatham Job Centre".into()),
            address: Some("Streatham High Road, London".into()),
            latitude: None,
            longitude: None,
            status: "confirmed".into(),
            join_mode: "free".into(),
            banner_url: None,
            sequence: 0,
            participant_count: 0,
        }
    }

    #[test]
    fn summary_in_the_events_zone_across_daylight_saving() {
        // Summer in London: BST.
        let e = event(
            "2015-06-26T11:00:00Z",
            Some("2015-06-26T14:00:00Z"),
            "Europe/London",
        );
        assert_eq!(
            summary_line(&e),
            "Fri 26 June 2015, 12:00–15:00 BST · Streatham Job Centre, Streatham High Road, London"
        );
        // Winter in London: GMT.
        let e = event("2015-12-04T12:00:00Z", None, "Europe/London");
        assert_eq!(
            summary_line(&e),
            "Fri 4 December 2015, 12:00 GMT · Streatham Job Centre, Streatham High Road, London"
        );
        // The same instant elsewhere.
        let e = event(
            "2015-06-26T11:00:00Z",
            Some("2015-06-26T14:00:00Z"),
            "America/New_York",
        );
        assert!(
            summary_line(&e).starts_with("Fri 26 June 2015, 07:00–10:00 EDT"),
            "{}",
            summary_line(&e)
        );
        // Across the night the clocks change (London, 25 October 2015 02:00 BST → 01:00 GMT).
        let e = event(
            "2015-10-24T23:30:00Z",
            Some("2015-10-25T01:30:00Z"),
            "Europe/London",
        );
        assert!(
            summary_line(&e).starts_with("Sun 25 October 2015, 00:30 BST–01:30 GMT"),
            "{}",
            summary_line(&e)
        );
        // Across days.
        let e = event(
            "2015-06-26T11:00:00Z",
            Some("2015-06-27T14:00:00Z"),
            "Europe/London",
        );
        assert!(
            summary_line(&e)
                .starts_with("Fri 26 June 2015, 12:00 BST – Sat 27 June 2015, 15:00 BST")
        );
        let mut c = event("2015-06-26T11:00:00Z", None, "UTC");
        c.status = CANCELLED.into();
        assert!(summary_line(&c).starts_with("CANCELLED · Fri 26 June 2015, 11:00 UTC"));
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(parse_tz("Europe/Londn").is_err());
        assert!(parse_tz("Europe/London").is_ok());
    }

    #[test]
    fn vtimezone_lists_the_transitions() {
        let v = vtimezone(Tz::Europe__London, 2015, 2015);
        assert!(v.contains("TZID:Europe/London"));
        assert!(
            v.contains(
                "DTSTART:20150329T010000\r\nTZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\nTZNAME:BST"
            ),
            "{v}"
        );
        assert!(
            v.contains(
                "DTSTART:20151025T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000\r\nTZNAME:GMT"
            ),
            "{v}"
        );
    }
}
