//! The actor document (`Person`, `Organization`) as Mastodon and Fedify expect it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::actors::ActorRow;
use crate::db::rfc3339;
use crate::text::{escape_html, plain_to_html};
use crate::urls::Urls;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileField {
    pub name: String,
    pub value: String,
}

/// Parses the stored `fields` column.
pub fn parse_fields(json: &str) -> Vec<ProfileField> {
    serde_json::from_str(json).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApActor {
    #[serde(rename = "@context")]
    pub context: Value,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub preferred_username: String,
    pub name: String,
    pub summary: String,
    pub url: String,
    pub inbox: String,
    pub outbox: String,
    pub followers: String,
    pub following: String,
    pub featured: String,
    pub endpoints: Endpoints,
    pub public_key: ApPublicKey,
    pub manually_approves_followers: bool,
    pub discoverable: bool,
    pub indexable: bool,
    pub published: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<ApImage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ApImage>,
    pub attachment: Vec<PropertyValue>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    pub shared_inbox: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApPublicKey {
    pub id: String,
    pub owner: String,
    pub public_key_pem: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApImage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PropertyValue {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub value: String,
}

fn image(url: &Option<String>) -> Option<ApImage> {
    url.as_ref().map(|u| ApImage {
        kind: "Image",
        url: u.clone(),
        media_type: media_type_of(u),
    })
}

/// The media type a URL's extension implies, when it is a common image type.
fn media_type_of(url: &str) -> Option<&'static str> {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next()?;
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

impl ApActor {
    /// The wire form of a local actor.
    pub fn from_local(row: &ActorRow, urls: &Urls) -> ApActor {
        let name = &row.username;
        ApActor {
            context: super::super::actor_context(),
            id: urls.actor(name),
            kind: row.kind.clone(),
            preferred_username: name.clone(),
            name: row.display_name.clone(),
            summary: plain_to_html(&row.summary),
            url: urls.profile(name),
            inbox: urls.inbox(name),
            outbox: urls.outbox(name),
            followers: urls.followers(name),
            following: urls.following(name),
            featured: urls.featured(name),
            endpoints: Endpoints {
                shared_inbox: urls.shared_inbox(),
            },
            public_key: ApPublicKey {
                id: urls.actor_key(name),
                owner: urls.actor(name),
                public_key_pem: row.public_key_pem.clone(),
            },
            manually_approves_followers: row.manually_approves_followers != 0,
            discoverable: row.discoverable != 0,
            indexable: row.discoverable != 0,
            published: rfc3339(row.created_at),
            icon: image(&row.avatar_url),
            image: image(&row.header_url),
            attachment: parse_fields(&row.fields)
                .into_iter()
                .map(|f| PropertyValue {
                    kind: "PropertyValue",
                    name: f.name,
                    value: crate::text::linkify_escaped(&escape_html(&f.value)),
                })
                .collect(),
        }
    }
}
