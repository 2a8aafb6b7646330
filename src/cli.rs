//! The command line: `placard serve | migrate | actor …`. Each command writes to the database directly, so it
//! works with or without a running server.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::federation::objects::actor::ProfileField;
use crate::service::actors::{self, ActorChanges, ActorKind, ActorView, NewActor};
use crate::service::events::{self, EventInput};
use crate::service::follows;
use crate::service::interactions::{self, Kind};
use crate::service::moderation;
use crate::service::posts::{self, NewLocalPost, PostEdit, Visibility};
use crate::{App, Config};

#[derive(Debug, Parser)]
#[command(
    name = "placard",
    version,
    about = "A federated microblog and forum node for campaign groups"
)]
pub struct Cli {
    /// The settings file (default: ./config.toml if it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Manage local actors (members and organisations).
    #[command(subcommand)]
    Actor(ActorCommand),
    /// Publish a post as a local actor and print its id.
    Post {
        /// The local actor posting.
        #[arg(value_name = "NAME")]
        username: String,
        /// Plain text: links, @user@host mentions and #hashtags are recognised.
        #[arg(value_name = "TEXT")]
        text: String,
        /// The post (URL) this replies to.
        #[arg(long, value_name = "URL")]
        reply_to: Option<String>,
        #[arg(long, value_enum, default_value = "public")]
        visibility: Visibility,
        /// A content warning, shown before the text.
        #[arg(long, value_name = "CW")]
        summary: Option<String>,
    },
    /// Announce, change or cancel events.
    #[command(subcommand)]
    Event(EventCommand),
    /// Edit one of our posts (sends Update).
    Edit {
        #[arg(value_name = "POST_URL")]
        id: String,
        #[arg(value_name = "TEXT")]
        text: String,
        /// A new content warning ("" removes it).
        #[arg(long, value_name = "CW")]
        summary: Option<String>,
    },
    /// Delete one of our posts (sends Delete).
    DeletePost {
        #[arg(value_name = "POST_URL")]
        id: String,
    },
    /// A local actor likes a post (sends Like).
    Like {
        #[arg(value_name = "NAME")]
        username: String,
        #[arg(value_name = "POST_URL")]
        post: String,
        /// Take the like back (sends Undo).
        #[arg(long)]
        undo: bool,
    },
    /// A local actor boosts a post (sends Announce).
    Boost {
        #[arg(value_name = "NAME")]
        username: String,
        #[arg(value_name = "POST_URL")]
        post: String,
        /// Take the boost back (sends Undo).
        #[arg(long)]
        undo: bool,
    },
    /// A local actor follows a remote one (sends Follow).
    Follow {
        #[arg(value_name = "NAME")]
        username: String,
        /// @user@host or the actor's URL.
        #[arg(value_name = "TARGET")]
        target: String,
    },
    /// A local actor stops following a remote one (sends Undo).
    Unfollow {
        #[arg(value_name = "NAME")]
        username: String,
        #[arg(value_name = "TARGET")]
        target: String,
    },
    /// List a local actor's followers, or approve / reject a pending one.
    #[command(args_conflicts_with_subcommands = true)]
    Followers {
        #[command(subcommand)]
        action: Option<FollowersCommand>,
        #[arg(value_name = "NAME")]
        username: Option<String>,
        /// Only the follow requests waiting for approval.
        #[arg(long)]
        pending: bool,
        #[arg(long)]
        json: bool,
    },
    /// Block, unblock or list domains.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Remove a remote post (a reply, say) from its thread.
    RemovePost {
        #[arg(value_name = "POST_URL")]
        id: String,
    },
    /// Print a post and its replies as a tree.
    Thread {
        #[arg(value_name = "URL")]
        url: String,
        #[arg(long)]
        json: bool,
    },
    /// The delivery queue, per remote host.
    Deliveries {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Announce an event as a local actor (sends Create(Event)) and print its id.
    Create {
        #[arg(value_name = "NAME")]
        username: String,
        #[command(flatten)]
        fields: EventArgs,
    },
    /// Change an event (sends Update(Event), and a follow-up note if the time or place changed).
    Update {
        #[arg(value_name = "EVENT_URL")]
        id: String,
        #[command(flatten)]
        fields: EventArgs,
    },
    /// Cancel an event (sends Update(Event) with status cancelled, and a follow-up note).
    Cancel {
        #[arg(value_name = "EVENT_URL")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct EventArgs {
    /// The event's name.
    #[arg(long = "name", value_name = "TEXT")]
    name: Option<String>,
    /// Start, RFC 3339 with an offset: 2015-06-26T12:00:00+01:00.
    #[arg(long, value_name = "RFC3339")]
    start: Option<String>,
    /// End, RFC 3339 ("" removes it).
    #[arg(long, value_name = "RFC3339")]
    end: Option<String>,
    /// The IANA time zone the event is in (Europe/London); times are shown in it. Default UTC.
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    #[arg(long, value_name = "TEXT")]
    location_name: Option<String>,
    #[arg(long, value_name = "TEXT")]
    address: Option<String>,
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    #[arg(long, value_name = "DEGREES", allow_negative_numbers = true)]
    latitude: Option<f64>,
    #[arg(long, value_name = "DEGREES", allow_negative_numbers = true)]
    longitude: Option<f64>,
    /// A banner image URL ("" removes it).
    #[arg(long = "banner", value_name = "URL")]
    banner_url: Option<String>,
}

impl From<EventArgs> for EventInput {
    fn from(a: EventArgs) -> EventInput {
        EventInput {
            name: a.name,
            start: a.start,
            end: a.end,
            timezone: a.timezone,
            location_name: a.location_name,
            address: a.address,
            description: a.description,
            latitude: a.latitude,
            longitude: a.longitude,
            banner_url: a.banner_url,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Block a domain (and its subdomains; `host:port` blocks one port): nothing is accepted from, fetched
    /// from or delivered to it, and its follows are dropped.
    Block {
        #[arg(value_name = "DOMAIN")]
        domain: String,
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Lift a block.
    Unblock {
        #[arg(value_name = "DOMAIN")]
        domain: String,
    },
    /// List blocked domains.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum FollowersCommand {
    /// Accept a pending follower (sends Accept).
    Approve {
        #[arg(value_name = "NAME")]
        username: String,
        /// The follower's id (URL) or @user@host.
        #[arg(value_name = "FOLLOWER")]
        follower: String,
    },
    /// Refuse a pending follower (sends Reject).
    Reject {
        #[arg(value_name = "NAME")]
        username: String,
        #[arg(value_name = "FOLLOWER")]
        follower: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ActorCommand {
    /// Create a local actor and print its id.
    Create {
        /// The username: letters, digits and underscore (unique ignoring case).
        #[arg(value_name = "NAME")]
        username: String,
        #[arg(long, value_enum)]
        kind: ActorKind,
        #[command(flatten)]
        profile: ProfileArgs,
        /// Followers must be approved by hand.
        #[arg(long)]
        manual_approval: bool,
        /// Ask other servers not to list this actor in directories and search.
        #[arg(long)]
        not_discoverable: bool,
    },
    /// List local actors.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one local actor.
    Show {
        #[arg(value_name = "NAME")]
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a local actor's profile; only the options given change.
    Update {
        #[arg(value_name = "NAME")]
        username: String,
        #[command(flatten)]
        profile: ProfileArgs,
        /// Remove every profile field (before adding any --field given).
        #[arg(long)]
        clear_fields: bool,
        /// Whether followers must be approved by hand.
        #[arg(long, value_name = "true|false", action = ArgAction::Set)]
        manual_approval: Option<bool>,
        /// Whether other servers may list this actor in directories and search.
        #[arg(long, value_name = "true|false", action = ArgAction::Set)]
        discoverable: Option<bool>,
    },
    /// Suspend a local actor: its documents and inbox answer 410 until it is unsuspended.
    Suspend {
        #[arg(value_name = "NAME")]
        username: String,
    },
    /// Lift a suspension.
    Unsuspend {
        #[arg(value_name = "NAME")]
        username: String,
    },
    /// Delete a local actor for good: its id answers 410 with a Tombstone and its name is never reused.
    Delete {
        #[arg(value_name = "NAME")]
        username: String,
    },
    /// Replace a local actor's RSA key pair.
    RotateKey {
        #[arg(value_name = "NAME")]
        username: String,
    },
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Display name.
    #[arg(long = "name", value_name = "TEXT")]
    display_name: Option<String>,
    /// Profile text (plain text; links become clickable).
    #[arg(long, value_name = "TEXT")]
    summary: Option<String>,
    /// A profile field, repeatable: --field "Website=https://campaign.example".
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field)]
    fields: Vec<ProfileField>,
    /// Avatar image URL ("" removes it).
    #[arg(long = "avatar", value_name = "URL")]
    avatar_url: Option<String>,
    /// Header image URL ("" removes it).
    #[arg(long = "header", value_name = "URL")]
    header_url: Option<String>,
}

fn parse_field(s: &str) -> std::result::Result<ProfileField, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    Ok(ProfileField {
        name: name.trim().to_string(),
        value: value.trim().to_string(),
    })
}

/// Connections a command-line process needs.
const CLI_CONNECTIONS: u32 = 2;

/// Runs a parsed command line. Returns what to print on success.
pub async fn run(cli: Cli, config: Config) -> Result<()> {
    match cli.command {
        Command::Serve => crate::http::serve::run(config).await,
        Command::Migrate => {
            let app = App::connect(config, CLI_CONNECTIONS).await?;
            app.db.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Actor(cmd) => actor(&connect(config).await?, cmd).await,
        other => federation(&connect(config).await?, other).await,
    }
}

async fn connect(config: Config) -> Result<App> {
    let app = App::connect(config, CLI_CONNECTIONS).await?;
    app.db.migrate().await?;
    Ok(app)
}

async fn federation(app: &App, cmd: Command) -> Result<()> {
    let cmd_kind = if matches!(cmd, Command::Like { .. }) {
        "like"
    } else {
        "other"
    };
    match cmd {
        Command::Post {
            username,
            text,
            reply_to,
            visibility,
            summary,
        } => {
            let post = posts::create(
                app,
                &username,
                NewLocalPost {
                    text,
                    reply_to,
                    visibility,
                    summary,
                },
            )
            .await?;
            println!("{}", post.ap_id);
        }
        Command::Event(EventCommand::Create { username, fields }) => {
            let (post, _) = events::create(app, &username, fields.into()).await?;
            println!("{}", post.ap_id);
        }
        Command::Event(EventCommand::Update { id, fields }) => {
            let (post, event) = events::update(app, &id, fields.into()).await?;
            println!(
                "updated {} ({})",
                post.ap_id,
                crate::service::calendar::summary_line(&event)
            );
        }
        Command::Event(EventCommand::Cancel { id }) => {
            println!("cancelled {}", events::cancel(app, &id).await?.0.ap_id);
        }
        Command::Edit { id, text, summary } => {
            println!(
                "edited {}",
                posts::edit(app, &id, PostEdit { text, summary })
                    .await?
                    .ap_id
            );
        }
        Command::DeletePost { id } => println!("deleted {}", posts::delete(app, &id).await?.ap_id),
        Command::Like {
            username,
            post,
            undo,
        }
        | Command::Boost {
            username,
            post,
            undo,
        } => {
            let kind = if matches!(cmd_kind, "like") {
                Kind::Like
            } else {
                Kind::Boost
            };
            if undo {
                interactions::remove(app, kind, &username, &post).await?;
                println!("undone");
            } else {
                println!("{}", interactions::add(app, kind, &username, &post).await?);
            }
        }
        Command::Follow { username, target } => {
            let (them, _) = follows::follow(app, &username, &target).await?;
            println!("follow requested: {}", them.ap_id);
        }
        Command::Unfollow { username, target } => {
            println!(
                "unfollowed {}",
                follows::unfollow(app, &username, &target).await?.ap_id
            )
        }
        Command::Followers {
            action: Some(FollowersCommand::Approve { username, follower }),
            ..
        } => println!(
            "approved {}",
            follows::approve(app, &username, &follower).await?.ap_id
        ),
        Command::Followers {
            action: Some(FollowersCommand::Reject { username, follower }),
            ..
        } => println!(
            "rejected {}",
            follows::reject(app, &username, &follower).await?.ap_id
        ),
        Command::Followers {
            action: None,
            username,
            pending,
            json,
        } => {
            let username = username
                .ok_or_else(|| Error::bad_request("usage: placard followers NAME [--pending]"))?;
            let list = follows::followers(app, &username, pending).await?;
            if json {
                println!("{}", to_json(&list)?);
            } else {
                for f in list {
                    println!("{}  since {}", f.id, f.since);
                }
            }
        }
        Command::Domain(DomainCommand::Block { domain, reason }) => {
            let (d, dropped) = moderation::block(app, &domain, reason.as_deref()).await?;
            println!("blocked {d} ({dropped} follows dropped)");
        }
        Command::Domain(DomainCommand::Unblock { domain }) => {
            println!("unblocked {}", moderation::unblock(app, &domain).await?)
        }
        Command::Domain(DomainCommand::List { json }) => {
            let list = moderation::list(app).await?;
            if json {
                println!("{}", to_json(&list)?);
            } else if list.is_empty() {
                eprintln!("no blocked domains");
            } else {
                for b in list {
                    println!(
                        "{}  since {}  {}",
                        b.domain,
                        b.since,
                        b.reason.as_deref().unwrap_or("")
                    );
                }
            }
        }
        Command::RemovePost { id } => {
            println!("removed {}", moderation::remove_post(app, &id).await?)
        }
        Command::Thread { url, json } => {
            let tree = posts::thread(app, &url, false).await?;
            if json {
                println!("{}", to_json(&tree)?);
            } else {
                print_thread(&tree, 0);
            }
        }
        Command::Deliveries { json } => {
            let stats = crate::db::deliveries::stats(&app.db).await?;
            if json {
                println!("{}", to_json(&stats)?);
            } else if stats.is_empty() {
                eprintln!("the delivery queue is empty");
            } else {
                println!(
                    "{:<40} {:>8} {:>8} {:>10}  LAST ERROR",
                    "HOST", "PENDING", "FAILED", "DELIVERED"
                );
                for s in stats {
                    let host = if s.unavailable_since.is_some() {
                        format!("{} (unavailable)", s.host)
                    } else {
                        s.host
                    };
                    println!(
                        "{:<40} {:>8} {:>8} {:>10}  {}",
                        host,
                        s.pending,
                        s.failed,
                        s.delivered,
                        s.last_error.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        Command::Serve | Command::Migrate | Command::Actor(_) => unreachable!("handled in run"),
    }
    Ok(())
}

fn print_thread(node: &posts::ThreadNode, depth: usize) {
    let indent = "    ".repeat(depth);
    let text = if node.deleted {
        "[deleted]".to_string()
    } else {
        crate::federation::html::to_text(
            &node.content.replace("</p><p>", "\n").replace("<br>", "\n"),
        )
    };
    println!("{indent}{} {} ({})", node.author, node.published, node.id);
    if let Some(cw) = &node.summary {
        println!("{indent}  CW: {cw}");
    }
    for line in text.lines() {
        println!("{indent}  {line}");
    }
    for r in &node.replies {
        print_thread(r, depth + 1);
    }
}

async fn actor(app: &App, cmd: ActorCommand) -> Result<()> {
    match cmd {
        ActorCommand::Create {
            username,
            kind,
            profile,
            manual_approval,
            not_discoverable,
        } => {
            let row = actors::create(
                app,
                NewActor {
                    username,
                    kind,
                    name: profile.display_name,
                    summary: profile.summary,
                    fields: profile.fields,
                    avatar_url: profile.avatar_url,
                    header_url: profile.header_url,
                    manually_approves_followers: manual_approval,
                    discoverable: !not_discoverable,
                },
            )
            .await?;
            println!("{}", row.ap_id);
        }
        ActorCommand::List { json } => {
            let mut views = Vec::new();
            for row in actors::list(app).await? {
                views.push(ActorView::load(app, &row).await?);
            }
            if json {
                println!("{}", to_json(&views)?);
            } else if views.is_empty() {
                eprintln!(
                    "no local actors yet: create one with `placard actor create NAME --kind person`"
                );
            } else {
                println!(
                    "{:<30} {:<13} {:<10} {:>9}  ID",
                    "USERNAME", "KIND", "STATUS", "FOLLOWERS"
                );
                for v in views {
                    println!(
                        "{:<30} {:<13} {:<10} {:>9}  {}",
                        v.username,
                        kind_name(v.kind),
                        status_name(&v),
                        v.followers_count,
                        v.id
                    );
                }
            }
        }
        ActorCommand::Show { username, json } => {
            let view = ActorView::load(app, &actors::get(app, &username).await?).await?;
            if json {
                println!("{}", to_json(&view)?);
            } else {
                print_view(&view);
            }
        }
        ActorCommand::Update {
            username,
            profile,
            clear_fields,
            manual_approval,
            discoverable,
        } => {
            let fields = if clear_fields || !profile.fields.is_empty() {
                Some(profile.fields)
            } else {
                None
            };
            let row = actors::update(
                app,
                &username,
                ActorChanges {
                    name: profile.display_name,
                    summary: profile.summary,
                    fields,
                    avatar_url: profile.avatar_url,
                    header_url: profile.header_url,
                    manually_approves_followers: manual_approval,
                    discoverable,
                },
            )
            .await?;
            println!("updated {}", row.ap_id);
        }
        ActorCommand::Suspend { username } => {
            println!("suspended {}", actors::suspend(app, &username).await?.ap_id)
        }
        ActorCommand::Unsuspend { username } => {
            println!(
                "unsuspended {}",
                actors::unsuspend(app, &username).await?.ap_id
            )
        }
        ActorCommand::Delete { username } => {
            println!("deleted {}", actors::delete(app, &username).await?.ap_id)
        }
        ActorCommand::RotateKey { username } => {
            println!(
                "new key for {}",
                actors::rotate_key(app, &username).await?.ap_id
            )
        }
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Internal(e.into()))
}

fn kind_name(k: ActorKind) -> &'static str {
    match k {
        ActorKind::Person => "person",
        ActorKind::Organization => "organization",
    }
}

fn status_name(v: &ActorView) -> &'static str {
    match v.status {
        actors::Status::Active => "active",
        actors::Status::Suspended => "suspended",
        actors::Status::Deleted => "deleted",
    }
}

fn print_view(v: &ActorView) {
    println!("id:                 {}", v.id);
    println!("handle:             @{}", v.handle);
    println!("kind:               {}", kind_name(v.kind));
    println!("status:             {}", status_name(v));
    println!("name:               {}", v.name);
    println!(
        "summary:            {}",
        v.summary.replace('\n', "\n                    ")
    );
    for f in &v.fields {
        println!("field:              {} = {}", f.name, f.value);
    }
    println!(
        "avatar:             {}",
        v.avatar_url.as_deref().unwrap_or("-")
    );
    println!(
        "header:             {}",
        v.header_url.as_deref().unwrap_or("-")
    );
    println!("manual approval:    {}", v.manually_approves_followers);
    println!("discoverable:       {}", v.discoverable);
    println!("followers:          {}", v.followers_count);
    println!("following:          {}", v.following_count);
    println!("posts:              {}", v.posts_count);
    println!("created:            {}", v.created_at);
    println!("updated:            {}", v.updated_at);
}
