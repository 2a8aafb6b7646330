//! Calendars, feeds and the event page: an iCalendar of each event and of each actor's upcoming events, an
//! Atom feed of each actor's posts and events, and the HTML page of an event.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::render;
use crate::App;
use crate::db::posts::PostRow;
use crate::db::{actors, events, posts, rfc3339};
use crate::error::{Error, Result};
use crate::service::actors::get_servable;
use crate::service::calendar;
use crate::service::posts::{ThreadNode, thread};

pub fn router() -> Router<App> {
    Router::new()
        .route("/users/{name}/events.ics", get(actor_ics))
        .route("/users/{name}/feed.atom", get(actor_atom))
}

fn ics_response(body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline; filename=\"events.ics\""),
            ),
        ],
        body,
    )
        .into_response()
}

fn organiser_name(a: &crate::db::actors::ActorRow) -> String {
    if a.display_name.is_empty() {
        a.username.clone()
    } else {
        a.display_name.clone()
    }
}

/// `/events/TOKEN.ics`: one event.
pub async fn event_ics(app: &App, id: &str) -> Result<Response> {
    let post = super::posts::public_post(app, id).await?;
    let event = events::find(&app.db, post.id)
        .await?
        .ok_or_else(|| Error::not_found(format!("{id} is not an event")))?;
    let author = actors::find_by_id(&app.db, post.author_id)
        .await?
        .ok_or_else(|| Error::not_found("the organiser is gone"))?;
    let url = post.url.clone().unwrap_or_else(|| post.ap_id.clone());
    let name = event.name.clone();
    let item = calendar::CalendarItem {
        event,
        id: post.ap_id.clone(),
        url,
        organiser: organiser_name(&author),
        organiser_uri: author.ap_id.clone(),
    };
    Ok(ics_response(calendar::icalendar(&name, &[item])))
}

/// `/users/NAME/events.ics`: the actor's upcoming events.
async fn actor_ics(State(app): State<App>, Path(name): Path<String>) -> Result<Response> {
    let author = get_servable(&app, &name).await?;
    let mut items = Vec::new();
    for (post, event) in crate::service::events::upcoming(&app, &author).await? {
        let url = post.url.clone().unwrap_or_else(|| post.ap_id.clone());
        items.push(calendar::CalendarItem {
            event,
            id: post.ap_id,
            url,
            organiser: organiser_name(&author),
            organiser_uri: author.ap_id.clone(),
        });
    }
    Ok(ics_response(calendar::icalendar(
        &organiser_name(&author),
        &items,
    )))
}

/// `/users/NAME/feed.atom`: the actor's latest public posts and events.
async fn actor_atom(State(app): State<App>, Path(name): Path<String>) -> Result<Response> {
    use atom_syndication::{Content, Entry, Feed, Link, Person, Text};
    let author = get_servable(&app, &name).await?;
    let rows = posts::public_by_author(&app.db, author.id, 50, 0).await?;
    let parse = |ms: i64| chrono::DateTime::parse_from_rfc3339(&rfc3339(ms)).unwrap_or_default();
    let mut entries = Vec::new();
    for p in &rows {
        let title = if p.kind == "Event" {
            match events::find(&app.db, p.id).await? {
                Some(e) => format!("{} — {}", e.name, calendar::summary_line(&e)),
                None => p.summary.clone().unwrap_or_default(),
            }
        } else {
            let text = crate::federation::html::to_text(&p.content);
            let mut t: String = text.chars().take(80).collect();
            if text.chars().count() > 80 {
                t.push('…');
            }
            t
        };
        let url = p.url.clone().unwrap_or_else(|| p.ap_id.clone());
        entries.push(Entry {
            id: p.ap_id.clone(),
            title: Text::plain(title),
            updated: parse(p.updated_at.unwrap_or(p.published_at)),
            published: Some(parse(p.published_at)),
            links: vec![Link {
                href: url,
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Default::default()
            }],
            content: Some(Content {
                value: Some(p.content.clone()),
                content_type: Some("html".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let display = organiser_name(&author);
    let feed = Feed {
        id: app.urls.actor_feed(&author.username),
        title: Text::plain(display.clone()),
        updated: rows
            .first()
            .map(|p| parse(p.updated_at.unwrap_or(p.published_at)))
            .unwrap_or_else(|| parse(author.updated_at)),
        authors: vec![Person {
            name: display,
            uri: Some(app.urls.profile(&author.username)),
            ..Default::default()
        }],
        links: vec![
            Link {
                href: app.urls.actor_feed(&author.username),
                rel: "self".into(),
                mime_type: Some("application/atom+xml".into()),
                ..Default::default()
            },
            Link {
                href: app.urls.profile(&author.username),
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Default::default()
            },
        ],
        entries,
        ..Default::default()
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/atom+xml; charset=utf-8"),
        )],
        feed.to_string(),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventTemplate<'a> {
    name: &'a str,
    when: String,
    start_iso: String,
    place_name: Option<&'a str>,
    address: Option<&'a str>,
    map_url: Option<String>,
    description_html: &'a str,
    organiser: String,
    organiser_url: String,
    participants: i64,
    cancelled: bool,
    ics_url: String,
    banner_url: Option<&'a str>,
    replies: Vec<(usize, &'a ThreadNode)>,
}

fn flatten<'a>(n: &'a ThreadNode, depth: usize, out: &mut Vec<(usize, &'a ThreadNode)>) {
    out.push((depth, n));
    for r in &n.replies {
        flatten(r, depth + 1, out);
    }
}

/// The HTML page of one of our events.
pub async fn event_page(app: &App, post: &PostRow) -> Result<super::Page> {
    let event = events::find(&app.db, post.id)
        .await?
        .ok_or_else(|| Error::not_found("the event's data is gone"))?;
    let author = actors::find_by_id(&app.db, post.author_id)
        .await?
        .ok_or_else(|| Error::not_found("the organiser is gone"))?;
    let tree = thread(app, &post.ap_id, true).await?;
    let mut replies = Vec::new();
    for r in &tree.replies {
        flatten(r, 1, &mut replies);
    }
    let tz = calendar::parse_tz(&event.timezone).unwrap_or(chrono_tz::Tz::UTC);
    render(&EventTemplate {
        name: &event.name,
        when: calendar::when(event.start_at, event.end_at, tz),
        start_iso: crate::federation::objects::event::rfc3339_in(event.start_at, &event.timezone),
        place_name: event.location_name.as_deref(),
        address: event.address.as_deref(),
        map_url: event.latitude.zip(event.longitude).map(|(lat, lon)| {
            format!("https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}")
        }),
        description_html: &post.content,
        organiser: organiser_name(&author),
        organiser_url: app.urls.profile(&author.username),
        participants: event.participant_count,
        cancelled: event.status == events::CANCELLED,
        ics_url: format!("{}.ics", post.ap_id),
        banner_url: event.banner_url.as_deref(),
        replies,
    })
}
