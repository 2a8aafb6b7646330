//! The `Event`: our announcements as Mobilizon and FEP-8a8e describe them, readable on Mastodon (which shows
//! only `name`, `summary` and a link), and what we read of remote events.

use serde_json::{Value, json};

use crate::db::events::{CANCELLED, EventRow};
use crate::db::posts::PostRow;
use crate::db::rfc3339;
use crate::federation::protocol::{self, str_prop, text_prop};
use crate::service::calendar;
use crate::urls::Urls;

/// The JSON-LD context of events: ActivityStreams plus the Mobilizon, schema.org and iCalendar terms.
pub fn event_context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        {
            "sc": "http://schema.org#",
            "ical": "http://www.w3.org/2002/12/cal/ical#",
            "mz": "https://joinmobilizon.org/ns#",
            "toot": "http://joinmastodon.org/ns#",
            "Hashtag": "as:Hashtag",
            "sensitive": "as:sensitive",
            "PostalAddress": "sc:PostalAddress",
            "address": {"@id": "sc:address", "@type": "sc:PostalAddress"},
            "streetAddress": "sc:streetAddress",
            "timezone": {"@id": "mz:timezone", "@type": "sc:Text"},
            "joinMode": {"@id": "mz:joinMode", "@type": "mz:joinModeType"},
            "participantCount": {"@id": "mz:participantCount", "@type": "sc:Integer"},
            "maximumAttendeeCapacity": "sc:maximumAttendeeCapacity",
            "isOnline": {"@id": "mz:isOnline", "@type": "sc:Boolean"},
            "commentsEnabled": {"@id": "pt:commentsEnabled", "@type": "sc:Boolean"},
            "pt": "https://joinpeertube.org/ns#",
            "anonymousParticipationEnabled": {"@id": "mz:anonymousParticipationEnabled", "@type": "sc:Boolean"}
        }
    ])
}

/// The `Event` of one of our posts (without `@context`).
pub fn local_event(
    post: &PostRow,
    event: &EventRow,
    author_ap_id: &str,
    urls: &Urls,
    replies: i64,
) -> Value {
    let id = &post.ap_id;
    let mut location = Value::Null;
    if event.location_name.is_some() || event.address.is_some() || event.latitude.is_some() {
        let mut place = json!({"type": "Place"});
        if let Some(n) = &event.location_name {
            place["name"] = json!(n);
        }
        if let Some(a) = &event.address {
            place["address"] = json!({"type": "PostalAddress", "streetAddress": a});
            if event.location_name.is_none() {
                place["name"] = json!(a);
            }
        }
        if let (Some(lat), Some(lon)) = (event.latitude, event.longitude) {
            place["latitude"] = json!(lat);
            place["longitude"] = json!(lon);
        }
        location = place;
    }
    let mut attachment: Vec<Value> =
        serde_json::from_str(&post.attachments_json).unwrap_or_default();
    if let Some(banner) = &event.banner_url {
        attachment.insert(
            0,
            json!({"type": "Document", "mediaType": media_type(banner), "url": banner, "name": "Banner"}),
        );
    }
    let mut doc = json!({
        "id": id,
        "type": "Event",
        "name": event.name,
        "summary": calendar::summary_line(event),
        "content": post.content,
        "startTime": rfc3339_in(event.start_at, &event.timezone),
        "timezone": event.timezone,
        "location": location,
        "url": post.url.clone().unwrap_or_else(|| id.clone()),
        "attributedTo": author_ap_id,
        "to": serde_json::from_str::<Value>(&post.to_json).unwrap_or(json!([])),
        "cc": serde_json::from_str::<Value>(&post.cc_json).unwrap_or(json!([])),
        "published": rfc3339(post.published_at),
        "ical:status": if event.status == CANCELLED { "CANCELLED" } else { "CONFIRMED" },
        "joinMode": event.join_mode,
        "participantCount": event.participant_count,
        "commentsEnabled": true,
        "anonymousParticipationEnabled": false,
        "isOnline": false,
        "attachment": attachment,
        "tag": serde_json::from_str::<Value>(&post.tags_json).unwrap_or(json!([])),
        "sensitive": false,
        "replies": {
            "id": urls.replies(id),
            "type": "OrderedCollection",
            "totalItems": replies,
            "first": urls.page(&urls.replies(id), 1),
        },
    });
    if let Some(end) = event.end_at {
        doc["endTime"] = json!(rfc3339_in(end, &event.timezone));
    }
    if let Some(ctx) = &post.context {
        doc["context"] = json!(ctx);
    }
    if let Some(u) = post.updated_at {
        doc["updated"] = json!(rfc3339(u));
    }
    if location.is_null()
        && let Some(o) = doc.as_object_mut()
    {
        o.remove("location");
    }
    doc
}

/// RFC 3339 with the offset of the event's zone at that moment (`2015-06-26T12:00:00+01:00`).
pub fn rfc3339_in(ms: i64, tz: &str) -> String {
    let tz = calendar::parse_tz(tz).unwrap_or(chrono_tz::Tz::UTC);
    calendar::local(ms, tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn media_type(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".webp") {
        "image/webp"
    } else if lower.ends_with(".gif") {
        "image/gif"
    } else {
        "image/jpeg"
    }
}

/// What we keep of a remote `Event`.
#[derive(Debug, Clone)]
pub struct EventIn {
    pub name: String,
    pub start_at: i64,
    pub end_at: Option<i64>,
    pub timezone: String,
    pub location_name: Option<String>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub cancelled: bool,
    pub join_mode: String,
    pub participant_count: i64,
    pub banner_url: Option<String>,
}

impl EventIn {
    pub fn parse(v: &Value) -> Result<EventIn, String> {
        let time = |k: &str| {
            str_prop(v, k)
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp_millis())
        };
        let start_at = time("startTime").ok_or("the event has no valid startTime")?;
        let loc = protocol::embedded(v, "location");
        let address = loc.and_then(|l| l.get("address")).and_then(|a| match a {
            Value::String(s) => Some(s.clone()),
            Value::Object(_) => {
                let parts: Vec<String> = [
                    "streetAddress",
                    "postalCode",
                    "addressLocality",
                    "addressRegion",
                    "addressCountry",
                ]
                .iter()
                .filter_map(|k| str_prop(a, k))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
                (!parts.is_empty()).then(|| parts.join(", "))
            }
            _ => None,
        });
        // Coordinates on the Place itself (FEP-8a8e), or in a schema.org `geo` (Mobilizon).
        let num = |k: &str| {
            let read = |o: &Value| {
                o.get(k)
                    .and_then(|x| x.as_f64().or_else(|| x.as_str()?.parse().ok()))
            };
            loc.and_then(|l| read(l).or_else(|| l.get("geo").and_then(read)))
        };
        let status = str_prop(v, "ical:status")
            .or_else(|| str_prop(v, "status"))
            .unwrap_or("CONFIRMED");
        let banner = v.get("attachment").and_then(Value::as_array).and_then(|a| {
            a.iter()
                .find(|x| str_prop(x, "name").is_some_and(|n| n.eq_ignore_ascii_case("banner")))
                .and_then(|x| str_prop(x, "url").map(str::to_string))
        });
        Ok(EventIn {
            name: text_prop(v, "name").unwrap_or_default(),
            start_at,
            end_at: time("endTime"),
            timezone: str_prop(v, "timezone")
                .filter(|t| calendar::parse_tz(t).is_ok())
                .unwrap_or("UTC")
                .to_string(),
            location_name: loc.and_then(|l| text_prop(l, "name")),
            address,
            latitude: num("latitude"),
            longitude: num("longitude"),
            cancelled: status.eq_ignore_ascii_case("CANCELLED"),
            join_mode: str_prop(v, "joinMode").unwrap_or("free").to_string(),
            participant_count: v
                .get("participantCount")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            banner_url: banner,
        })
    }
}
