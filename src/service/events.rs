//! Events: a campaign's actions (date, time, time zone, place), federated as `Event`s. Create, update and cancel,
//! each stored and queued in one transaction; a change of time or place and a cancellation also send a short
//! follow-up `Note` (Mastodon ignores `Update` of an Event), unless `[events] follow_up_notes = false`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::calendar;
use super::compose;
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::events::{self, CANCELLED, CONFIRMED, EventRow};
use crate::db::posts::{self, NewPost, PostRow};
use crate::db::{actors, now_ms};
use crate::error::{Error, Result};
use crate::federation::activities::{create, update};
use crate::federation::delivery;
use crate::federation::objects::event::{event_context, local_event};
use crate::federation::protocol::PUBLIC;
use crate::service::actors::get_servable;
use crate::service::posts::{NewLocalPost, Visibility};
use crate::urls::new_token;

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_DESCRIPTION_LEN: usize = 10_000;
pub const MAX_PLACE_LEN: usize = 300;

/// A new event (command line and admin API). Times are RFC 3339 with an offset.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    pub name: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub timezone: Option<String>,
    pub location_name: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub banner_url: Option<String>,
}

fn parse_time(what: &str, s: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            Error::unprocessable(format!(
                "{what} {s:?} is not an RFC 3339 time with an offset (like 2015-06-26T12:00:00+01:00): {e}"
            ))
        })
}

fn opt_text(what: &str, v: Option<&str>, max: usize) -> Result<Option<String>> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(Error::unprocessable(format!(
            "{what} is longer than {max} characters"
        )));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::unprocessable(format!(
            "{what} contains control characters"
        )));
    }
    Ok(Some(v.to_string()))
}

/// Applies `input` over `base` (all of it for a new event) and checks the result.
fn merge(base: &EventRow, input: &EventInput) -> Result<EventRow> {
    let mut e = base.clone();
    if let Some(n) = &input.name {
        e.name = opt_text("the name", Some(n), MAX_NAME_LEN)?
            .ok_or_else(|| Error::unprocessable("the name is empty"))?;
    }
    if let Some(s) = &input.start {
        e.start_at = parse_time("the start", s)?;
    }
    if let Some(s) = &input.end {
        e.end_at = if s.trim().is_empty() {
            None
        } else {
            Some(parse_time("the end", s)?)
        };
    }
    if let Some(tz) = &input.timezone {
        e.timezone = calendar::parse_tz(tz)
            .map_err(Error::unprocessable)?
            .name()
            .to_string();
    }
    if let Some(v) = &input.location_name {
        e.location_name = opt_text("the place name", Some(v), MAX_PLACE_LEN)?;
    }
    if let Some(v) = &input.address {
        e.address = opt_text("the address", Some(v), MAX_PLACE_LEN)?;
    }
    if let Some(v) = &input.description {
        e.description =
            opt_text("the description", Some(v), MAX_DESCRIPTION_LEN)?.unwrap_or_default();
    }
    if let Some(lat) = input.latitude {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(Error::unprocessable(format!(
                "latitude {lat} is not between -90 and 90"
            )));
        }
        e.latitude = Some(lat);
    }
    if let Some(lon) = input.longitude {
        if !(-180.0..=180.0).contains(&lon) {
            return Err(Error::unprocessable(format!(
                "longitude {lon} is not between -180 and 180"
            )));
        }
        e.longitude = Some(lon);
    }
    if e.latitude.is_some() != e.longitude.is_some() {
        return Err(Error::unprocessable(
            "give both latitude and longitude, or neither",
        ));
    }
    if let Some(b) = &input.banner_url {
        e.banner_url = match b.trim() {
            "" => None,
            b => {
                let u = url::Url::parse(b)
                    .map_err(|err| Error::unprocessable(format!("the banner URL {b:?}: {err}")))?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err(Error::unprocessable("the banner URL must be http or https"));
                }
                Some(u.to_string())
            }
        };
    }
    if let Some(end) = e.end_at
        && end <= e.start_at
    {
        return Err(Error::unprocessable("the end is not after the start"));
    }
    Ok(e)
}

/// The HTML of an event's description: plain text with links and hashtags.
fn description_html(app: &App, text: &str) -> (String, Vec<Value>) {
    if text.trim().is_empty() {
        return (String::new(), vec![]);
    }
    compose::render(text, &[], |t| app.urls.tag(t))
}

/// The wire form of a stored event.
pub async fn event_doc(
    app: &App,
    post: &PostRow,
    event: &EventRow,
    author: &ActorRow,
) -> Result<Value> {
    let replies = posts::count_replies(&app.db, post.id).await?;
    Ok(local_event(post, event, &author.ap_id, &app.urls, replies))
}

/// A document with the event context added in front.
pub fn with_event_context(mut doc: Value) -> Value {
    if let Value::Object(map) = &mut doc {
        let mut out = serde_json::Map::with_capacity(map.len() + 1);
        out.insert("@context".into(), event_context());
        out.append(map);
        return Value::Object(out);
    }
    doc
}

pub async fn create(app: &App, username: &str, input: EventInput) -> Result<(PostRow, EventRow)> {
    let author = get_servable(app, username).await?;
    let name = input
        .name
        .clone()
        .ok_or_else(|| Error::unprocessable("an event needs a name"))?;
    let start = input
        .start
        .clone()
        .ok_or_else(|| Error::unprocessable("an event needs a start time"))?;
    let base = EventRow {
        post_id: 0,
        name: name.clone(),
        description: String::new(),
        start_at: parse_time("the start", &start)?,
        end_at: None,
        timezone: "UTC".into(),
        location_name: None,
        address: None,
        latitude: None,
        longitude: None,
        status: CONFIRMED.into(),
        join_mode: "free".into(),
        banner_url: None,
        sequence: 0,
        participant_count: 0,
    };
    let e = merge(&base, &input)?;
    let (content, tags) = description_html(app, &e.description);
    let ap_id = app.urls.event(&new_token());
    let to = vec![PUBLIC.to_string()];
    let cc = vec![app.urls.followers(&author.username)];
    let mut tx = app.db.begin_write().await?;
    let post = posts::insert(
        &mut tx,
        &NewPost {
            ap_id: ap_id.clone(),
            local: true,
            kind: "Event".into(),
            author_id: author.id,
            content,
            source: Some(e.description.clone()),
            summary: Some(calendar::summary_line(&e)),
            sensitive: false,
            visibility: "public".into(),
            in_reply_to: None,
            parent_id: None,
            context: Some(app.urls.context(&ap_id)),
            url: Some(ap_id.clone()),
            published_at: now_ms(),
            to_json: serde_json::to_string(&to).map_err(anyhow::Error::from)?,
            cc_json: serde_json::to_string(&cc).map_err(anyhow::Error::from)?,
            tags_json: serde_json::to_string(&tags).map_err(anyhow::Error::from)?,
            attachments_json: "[]".into(),
        },
    )
    .await?
    .ok_or_else(|| Error::Internal(anyhow::anyhow!("event id collision")))?;
    let event = events::upsert(
        &mut tx,
        &EventRow {
            post_id: post.id,
            ..e
        },
    )
    .await?;
    let doc = local_event(&post, &event, &author.ap_id, &app.urls, 0);
    let mut activity = create::build(&doc, &author);
    activity["@context"] = event_context();
    delivery::queue_to_followers(&mut tx, &author, &activity, &[]).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, None);
    app.delivery_wakeup.notify_one();
    Ok((post, event))
}

/// One of our events, by id.
pub async fn get(app: &App, id: &str) -> Result<(PostRow, EventRow, ActorRow)> {
    let post = posts::find_by_ap_id(&app.db, id)
        .await?
        .filter(|p| p.kind == "Event")
        .ok_or_else(|| Error::not_found(format!("no event {id}")))?;
    let event = events::find(&app.db, post.id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no event data for {id}")))?;
    let author = actors::find_by_id(&app.db, post.author_id)
        .await?
        .ok_or_else(|| Error::not_found("the organiser is gone"))?;
    Ok((post, event, author))
}

/// What a follow-up note says about a change, if it is one people must hear of (time, place, cancellation).
fn follow_up_text(before: &EventRow, after: &EventRow, url: &str) -> Option<String> {
    if after.status == CANCELLED && before.status != CANCELLED {
        return Some(format!(
            "Cancelled: “{}” ({}) will not take place.\n\n{url}",
            after.name,
            calendar::when(
                before.start_at,
                before.end_at,
                calendar::parse_tz(&before.timezone).ok()?
            )
        ));
    }
    let moved_time = before.start_at != after.start_at
        || before.end_at != after.end_at
        || before.timezone != after.timezone;
    let moved_place = calendar::place(before) != calendar::place(after);
    if !moved_time && !moved_place {
        return None;
    }
    let what = match (moved_time, moved_place) {
        (true, true) => "has a new time and place",
        (true, false) => "has a new time",
        _ => "has a new place",
    };
    Some(format!(
        "Update: “{}” {what}: {}.\n\n{url}",
        after.name,
        calendar::summary_line(after)
    ))
}

async fn apply(
    app: &App,
    id: &str,
    change: impl FnOnce(&EventRow) -> Result<EventRow>,
) -> Result<(PostRow, EventRow)> {
    let (post, before, author) = get(app, id).await?;
    if post.local == 0 {
        return Err(Error::Forbidden(format!("{id} is not one of ours")));
    }
    if post.is_deleted() {
        return Err(Error::Gone {
            message: format!("{id} was deleted"),
            tombstone: None,
        });
    }
    let after = change(&before)?;
    let (content, tags) = description_html(app, &after.description);
    let mut tx = app.db.begin_write().await?;
    let post = posts::update_content(
        &mut tx,
        post.id,
        &content,
        Some(&after.description),
        Some(&calendar::summary_line(&after)),
        false,
        &serde_json::to_string(&tags).map_err(anyhow::Error::from)?,
    )
    .await?;
    let event = events::upsert(&mut tx, &after).await?;
    let doc = local_event(&post, &event, &author.ap_id, &app.urls, 0);
    let mut activity = update::build(&app.urls, &author, &with_event_context(doc));
    activity["@context"] = event_context();
    delivery::queue_to_followers(&mut tx, &author, &activity, &[]).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, None);
    app.delivery_wakeup.notify_one();
    if app.config.events.follow_up_notes
        && let Some(text) =
            follow_up_text(&before, &event, post.url.as_deref().unwrap_or(&post.ap_id))
    {
        super::posts::create(
            app,
            &author.username,
            NewLocalPost {
                text,
                reply_to: None,
                visibility: Visibility::Public,
                summary: None,
            },
        )
        .await?;
    }
    Ok((post, event))
}

pub async fn update(app: &App, id: &str, input: EventInput) -> Result<(PostRow, EventRow)> {
    apply(app, id, |before| {
        if before.status == CANCELLED {
            return Err(Error::conflict("the event is cancelled"));
        }
        merge(before, &input)
    })
    .await
}

pub async fn cancel(app: &App, id: &str) -> Result<(PostRow, EventRow)> {
    apply(app, id, |before| {
        if before.status == CANCELLED {
            return Err(Error::conflict("the event is already cancelled"));
        }
        Ok(EventRow {
            status: CANCELLED.into(),
            ..before.clone()
        })
    })
    .await
}

/// Events starting from now (or ended less than a day ago) of a local actor, for its calendar.
pub async fn upcoming(app: &App, author: &ActorRow) -> Result<Vec<(PostRow, EventRow)>> {
    let rows =
        events::upcoming_by_author(&app.db, author.id, now_ms() - 24 * 3_600_000, 500).await?;
    let mut out = Vec::new();
    for e in rows {
        if let Some(p) = posts::find_by_id(&app.db, e.post_id).await? {
            out.push((p, e));
        }
    }
    Ok(out)
}

/// The Accept we send for a Join.
pub fn accept_join(app: &App, organiser: &ActorRow, join: &Value) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": app.urls.activity(&new_token()),
        "type": "Accept",
        "actor": organiser.ap_id,
        "object": join,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> EventRow {
        EventRow {
            post_id: 1,
            name: "Demo".into(),
            description: String::new(),
            start_at: 1_435_316_400_000,
            end_at: Some(1_435_327_200_000),
            timezone: "Europe/London".into(),
            location_name: Some("Job Centre".into()),
            address: None,
            latitude: None,
            longitude: None,
            status: CONFIRMED.into(),
            join_mode: "free".into(),
            banner_url: None,
            sequence: 0,
            participant_count: 0,
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let b = base();
        let end_before = EventInput {
            end: Some("2015-06-26T10:00:00+01:00".into()),
            ..Default::default()
        };
        assert!(
            merge(&b, &end_before)
                .unwrap_err()
                .to_string()
                .contains("not after the start")
        );
        let tz = EventInput {
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        assert!(
            merge(&b, &tz)
                .unwrap_err()
                .to_string()
                .contains("unknown time zone")
        );
        let t = EventInput {
            start: Some("26/06/2015 12:00".into()),
            ..Default::default()
        };
        assert!(merge(&b, &t).unwrap_err().to_string().contains("RFC 3339"));
        let lat = EventInput {
            latitude: Some(91.0),
            longitude: Some(0.0),
            ..Default::default()
        };
        assert!(merge(&b, &lat).is_err());
        let one = EventInput {
            latitude: Some(51.0),
            ..Default::default()
        };
        assert!(merge(&b, &one).is_err());
    }

    #[test]
    fn follow_up_only_for_time_place_or_cancellation() {
        let b = base();
        let mut renamed = b.clone();
        renamed.description = "More details".into();
        assert!(follow_up_text(&b, &renamed, "u").is_none());
        let mut moved = b.clone();
        moved.start_at += 3_600_000;
        let t = follow_up_text(&b, &moved, "https://x/e").unwrap();
        assert!(
            t.starts_with("Update: “Demo” has a new time: Fri 26 June 2015, 13:00–15:00 BST"),
            "{t}"
        );
        assert!(t.ends_with("https://x/e"));
        let mut cancelled = b.clone();
        cancelled.status = CANCELLED.into();
        assert!(
            follow_up_text(&b, &cancelled, "u")
                .unwrap()
                .starts_with("Cancelled: “Demo” (Fri 26 June 2015, 12:00–15:00 BST)")
        );
    }
}
