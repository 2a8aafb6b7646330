//! Managing local actors: create, list, show, update, suspend, unsuspend, delete, rotate the key.

use serde::{Deserialize, Serialize};

use crate::App;
use crate::db::actors::{self, ActorRow, NewLocalActor, Profile};
use crate::db::{follows, now_ms, posts, rfc3339};
use crate::error::{Error, Result};
use crate::federation::keys;
use crate::federation::objects::actor::{ProfileField, parse_fields};

pub const MAX_USERNAME_LEN: usize = 30;
pub const MAX_DISPLAY_NAME_LEN: usize = 100;
pub const MAX_SUMMARY_LEN: usize = 5_000;
pub const MAX_FIELDS: usize = 8;
pub const MAX_FIELD_NAME_LEN: usize = 255;
pub const MAX_FIELD_VALUE_LEN: usize = 2_047;
pub const MAX_URL_LEN: usize = 2_048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    Person,
    Organization,
}

impl ActorKind {
    /// The ActivityStreams type.
    pub fn as_type(self) -> &'static str {
        match self {
            ActorKind::Person => "Person",
            ActorKind::Organization => "Organization",
        }
    }
    pub fn from_type(t: &str) -> Option<ActorKind> {
        match t {
            "Person" => Some(ActorKind::Person),
            "Organization" => Some(ActorKind::Organization),
            _ => None,
        }
    }
}

/// A new local actor. Absent optional fields take their defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewActor {
    pub username: String,
    pub kind: ActorKind,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub fields: Vec<ProfileField>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub header_url: Option<String>,
    #[serde(default)]
    pub manually_approves_followers: bool,
    #[serde(default = "yes")]
    pub discoverable: bool,
}

fn yes() -> bool {
    true
}

/// A change to a local actor: only what is given changes. An empty avatar or header URL removes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorChanges {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub fields: Option<Vec<ProfileField>>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub header_url: Option<String>,
    #[serde(default)]
    pub manually_approves_followers: Option<bool>,
    #[serde(default)]
    pub discoverable: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Suspended,
    Deleted,
}

/// A local actor as the admin sees it (command line `--json` and admin API).
#[derive(Debug, Clone, Serialize)]
pub struct ActorView {
    pub id: String,
    pub username: String,
    pub handle: String,
    pub kind: ActorKind,
    pub name: String,
    pub summary: String,
    pub fields: Vec<ProfileField>,
    pub avatar_url: Option<String>,
    pub header_url: Option<String>,
    pub manually_approves_followers: bool,
    pub discoverable: bool,
    pub status: Status,
    pub created_at: String,
    pub updated_at: String,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
    pub public_key_pem: String,
}

impl ActorView {
    pub async fn load(app: &App, row: &ActorRow) -> Result<ActorView> {
        Ok(ActorView {
            id: row.ap_id.clone(),
            username: row.username.clone(),
            handle: app.urls.handle(&row.username),
            kind: ActorKind::from_type(&row.kind).unwrap_or(ActorKind::Person),
            name: row.display_name.clone(),
            summary: row.summary.clone(),
            fields: parse_fields(&row.fields),
            avatar_url: row.avatar_url.clone(),
            header_url: row.header_url.clone(),
            manually_approves_followers: row.manually_approves_followers != 0,
            discoverable: row.discoverable != 0,
            status: status_of(row),
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
            followers_count: follows::count_followers(&app.db, row.id).await?,
            following_count: follows::count_following(&app.db, row.id).await?,
            posts_count: posts::count_public_by_author(&app.db, row.id).await?,
            public_key_pem: row.public_key_pem.clone(),
        })
    }
}

pub fn status_of(row: &ActorRow) -> Status {
    if row.is_deleted() {
        Status::Deleted
    } else if row.is_suspended() {
        Status::Suspended
    } else {
        Status::Active
    }
}

/// Usernames as on Mastodon: ASCII letters, digits and underscore, 1 to 30 of them.
pub fn validate_username(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::unprocessable("the username is empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(Error::unprocessable(format!(
            "the username {name:?} contains {c:?}: only letters a-z, digits and underscore are allowed"
        )));
    }
    if name.len() > MAX_USERNAME_LEN {
        return Err(Error::unprocessable(format!(
            "the username {name:?} is longer than {MAX_USERNAME_LEN} characters"
        )));
    }
    Ok(())
}

/// Refuses control characters (NUL, bidi overrides and the like); `multiline` text may keep newlines and tabs.
fn check_text(what: &str, value: &str, multiline: bool) -> Result<()> {
    let bad = value.chars().find(|&c| {
        (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    });
    match bad {
        Some(c) => Err(Error::unprocessable(format!(
            "{what} contains the control character {c:?}"
        ))),
        None => Ok(()),
    }
}

fn check_len(what: &str, value: &str, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n > max {
        return Err(Error::unprocessable(format!(
            "{what} is {n} characters long, more than the {max} allowed"
        )));
    }
    Ok(())
}

/// An image URL must be an absolute http(s) URL. `""` means "none".
fn normalize_url(what: &str, value: Option<&str>) -> Result<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    check_len(what, value, MAX_URL_LEN)?;
    let url = url::Url::parse(value)
        .map_err(|e| Error::unprocessable(format!("{what} {value:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::unprocessable(format!(
            "{what} must be an http or https URL, got {value:?}"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::unprocessable(format!(
            "{what} must not contain credentials"
        )));
    }
    Ok(Some(url.to_string()))
}

fn validate_fields(fields: &[ProfileField]) -> Result<String> {
    if fields.len() > MAX_FIELDS {
        return Err(Error::unprocessable(format!(
            "{} profile fields given, at most {MAX_FIELDS} are allowed",
            fields.len()
        )));
    }
    for f in fields {
        if f.name.trim().is_empty() {
            return Err(Error::unprocessable("a profile field has an empty name"));
        }
        check_len("a profile field name", &f.name, MAX_FIELD_NAME_LEN)?;
        check_len("a profile field value", &f.value, MAX_FIELD_VALUE_LEN)?;
        check_text("a profile field name", &f.name, false)?;
        check_text("a profile field value", &f.value, false)?;
    }
    Ok(serde_json::to_string(fields).expect("fields serialize"))
}

fn validate_profile(p: &Profile) -> Result<()> {
    check_len("the display name", &p.display_name, MAX_DISPLAY_NAME_LEN)?;
    check_len("the summary", &p.summary, MAX_SUMMARY_LEN)?;
    check_text("the display name", &p.display_name, false)?;
    check_text("the summary", &p.summary, true)?;
    Ok(())
}

/// A local actor by name. Deleted and suspended ones are found too; callers decide what they may do.
pub async fn get(app: &App, username: &str) -> Result<ActorRow> {
    actors::find_local(&app.db, username)
        .await?
        .ok_or_else(|| Error::not_found(format!("no local actor named {username:?}")))
}

/// Like [`get`], but a deleted actor is an error: it can no longer be changed.
async fn get_live(app: &App, username: &str) -> Result<ActorRow> {
    let row = get(app, username).await?;
    if row.is_deleted() {
        return Err(Error::Gone {
            message: format!("the actor {} was deleted", row.username),
            tombstone: None,
        });
    }
    Ok(row)
}

pub async fn create(app: &App, new: NewActor) -> Result<ActorRow> {
    validate_username(&new.username)?;
    let profile = Profile {
        display_name: new.name.unwrap_or_default().trim().to_string(),
        summary: new.summary.unwrap_or_default().trim().to_string(),
        fields: validate_fields(&new.fields)?,
        avatar_url: normalize_url("the avatar URL", new.avatar_url.as_deref())?,
        header_url: normalize_url("the header URL", new.header_url.as_deref())?,
        manually_approves_followers: new.manually_approves_followers,
        discoverable: new.discoverable,
    };
    validate_profile(&profile)?;
    // Checked first for a clear message; the unique index is what really guarantees it.
    if let Some(existing) = actors::find_local(&app.db, &new.username).await? {
        return Err(Error::conflict(format!(
            "the username {} is taken by {}{} (usernames are unique ignoring case and never reused)",
            new.username,
            existing.username,
            if existing.is_deleted() {
                ", a deleted actor"
            } else {
                ""
            }
        )));
    }
    let pair = tokio::task::spawn_blocking(keys::generate_rsa_2048)
        .await
        .map_err(|e| anyhow::anyhow!("key generation panicked: {e}"))??;
    let urls = &app.urls;
    let name = &new.username;
    actors::insert_local(
        &app.db,
        &NewLocalActor {
            ap_id: urls.actor(name),
            kind: new.kind.as_type().to_string(),
            username: name.clone(),
            domain: urls.domain().to_string(),
            display_name: profile.display_name,
            summary: profile.summary,
            fields: profile.fields,
            avatar_url: profile.avatar_url,
            header_url: profile.header_url,
            profile_url: urls.profile(name),
            inbox_url: urls.inbox(name),
            shared_inbox_url: urls.shared_inbox(),
            followers_url: urls.followers(name),
            manually_approves_followers: profile.manually_approves_followers,
            discoverable: profile.discoverable,
            public_key_id: urls.actor_key(name),
            public_key_pem: pair.public_key_pem,
            private_key_pem: pair.private_key_pem,
        },
    )
    .await
}

pub async fn list(app: &App) -> Result<Vec<ActorRow>> {
    actors::list_local(&app.db).await
}

pub async fn update(app: &App, username: &str, changes: ActorChanges) -> Result<ActorRow> {
    let row = get_live(app, username).await?;
    let profile = Profile {
        display_name: changes
            .name
            .map(|s| s.trim().to_string())
            .unwrap_or(row.display_name.clone()),
        summary: changes
            .summary
            .map(|s| s.trim().to_string())
            .unwrap_or(row.summary.clone()),
        fields: match &changes.fields {
            Some(f) => validate_fields(f)?,
            None => row.fields.clone(),
        },
        avatar_url: match changes.avatar_url.as_deref() {
            Some(v) => normalize_url("the avatar URL", Some(v))?,
            None => row.avatar_url.clone(),
        },
        header_url: match changes.header_url.as_deref() {
            Some(v) => normalize_url("the header URL", Some(v))?,
            None => row.header_url.clone(),
        },
        manually_approves_followers: changes
            .manually_approves_followers
            .unwrap_or(row.manually_approves_followers != 0),
        discoverable: changes.discoverable.unwrap_or(row.discoverable != 0),
    };
    validate_profile(&profile)?;
    let mut tx = app.db.begin_write().await?;
    let updated = actors::update_profile(&mut tx, row.id, &profile).await?;
    announce_profile(app, &mut tx, &updated).await?;
    tx.commit().await?;
    local_actor_changed(app);
    Ok(updated)
}

/// Queues `Update` of a local actor (new profile or key) to its followers, inside `tx`.
async fn announce_profile(app: &App, tx: &mut sqlx::AnyConnection, row: &ActorRow) -> Result<()> {
    let inboxes = crate::db::follows::follower_inboxes(tx, row.id).await?;
    if inboxes.is_empty() {
        return Ok(());
    }
    let activity = crate::federation::activities::update::build_actor(&app.urls, row);
    crate::federation::delivery::queue(tx, row, &activity, &inboxes).await?;
    app.delivery_wakeup.notify_one();
    Ok(())
}

pub async fn suspend(app: &App, username: &str) -> Result<ActorRow> {
    let row = get_live(app, username).await?;
    if row.is_suspended() {
        return Err(Error::conflict(format!(
            "{} is already suspended",
            row.username
        )));
    }
    let row = actors::set_suspended(&app.db, row.id, Some(now_ms())).await?;
    local_actor_changed(app);
    Ok(row)
}

pub async fn unsuspend(app: &App, username: &str) -> Result<ActorRow> {
    let row = get_live(app, username).await?;
    if !row.is_suspended() {
        return Err(Error::conflict(format!(
            "{} is not suspended",
            row.username
        )));
    }
    let row = actors::set_suspended(&app.db, row.id, None).await?;
    local_actor_changed(app);
    Ok(row)
}

pub async fn delete(app: &App, username: &str) -> Result<ActorRow> {
    let row = get_live(app, username).await?;
    let mut tx = app.db.begin_write().await?;
    // Followers learn of the deletion (the key stays, so the Delete can be signed).
    let inboxes = crate::db::follows::follower_inboxes(&mut tx, row.id).await?;
    if !inboxes.is_empty() {
        let activity = crate::federation::activities::delete::build_actor(&app.urls, &row);
        crate::federation::delivery::queue(&mut tx, &row, &activity, &inboxes).await?;
    }
    let deleted = actors::mark_deleted(&mut tx, row.id).await?;
    tx.commit().await?;
    local_actor_changed(app);
    app.delivery_wakeup.notify_one();
    Ok(deleted)
}

pub async fn rotate_key(app: &App, username: &str) -> Result<ActorRow> {
    let row = get_live(app, username).await?;
    let pair = tokio::task::spawn_blocking(keys::generate_rsa_2048)
        .await
        .map_err(|e| anyhow::anyhow!("key generation panicked: {e}"))??;
    let mut tx = app.db.begin_write().await?;
    let updated =
        actors::set_keys(&mut tx, row.id, &pair.public_key_pem, &pair.private_key_pem).await?;
    announce_profile(app, &mut tx, &updated).await?;
    tx.commit().await?;
    local_actor_changed(app);
    Ok(updated)
}

/// A local actor whose documents may be served: unknown → 404; suspended → 410; deleted → 410 with a
/// `Tombstone` that still names the actor's id and former type.
pub async fn get_servable(app: &App, username: &str) -> Result<ActorRow> {
    let row = get(app, username).await?;
    if let Some(deleted) = row.deleted_at {
        return Err(Error::Gone {
            message: format!("{} was deleted", row.username),
            tombstone: Some(serde_json::json!({
                "@context": crate::federation::AS_CONTEXT,
                "id": row.ap_id,
                "type": "Tombstone",
                "formerType": row.kind,
                "deleted": rfc3339(deleted),
            })),
        });
    }
    if row.is_suspended() {
        return Err(Error::Gone {
            message: format!("{} is suspended", row.username),
            tombstone: None,
        });
    }
    Ok(row)
}

/// A servable local actor as kept in memory for the hot read routes (its document, WebFinger, its inbox), with
/// its serialized documents built once.
pub struct ServedActor {
    pub row: ActorRow,
    pub actor_json: std::sync::OnceLock<axum::body::Bytes>,
    pub webfinger_json: std::sync::OnceLock<axum::body::Bytes>,
}

/// How long a running server serves a local actor from memory. Changes made through this process (admin API)
/// apply at once; changes made by the command line, another process, reach it within this time.
pub const LOCAL_ACTORS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// A local actor row changed (profile, key, suspension, deletion): drop every in-memory copy built from it,
/// the actor documents and the post and outbox documents that name it.
fn local_actor_changed(app: &App) {
    app.local_actors.invalidate_all();
    app.served.clear();
}

/// [`get_servable`] through the in-memory copy. Refusals (404, 410) are not kept: they are read each time.
pub async fn servable(app: &App, username: &str) -> Result<std::sync::Arc<ServedActor>> {
    let key = username.to_lowercase();
    if let Some(hit) = app.local_actors.get(&key) {
        return Ok(hit);
    }
    let served = std::sync::Arc::new(ServedActor {
        row: get_servable(app, username).await?,
        actor_json: Default::default(),
        webfinger_json: Default::default(),
    });
    app.local_actors.insert(key, served.clone());
    Ok(served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_as_on_mastodon() {
        for ok in ["a", "mhrn", "Streatham_Action_2015", &"x".repeat(30)] {
            validate_username(ok).unwrap();
        }
        for bad in [
            "",
            "has space",
            "dash-name",
            "dot.name",
            "ünïcode",
            "a@b",
            &"x".repeat(31),
        ] {
            assert!(validate_username(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
