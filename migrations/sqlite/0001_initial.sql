-- Placard initial schema (SQLite). Never edit once landed: add a new migration.
-- Times are Unix milliseconds; flags are 0/1 integers (the same on PostgreSQL as BIGINT).

CREATE TABLE actors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ap_id TEXT NOT NULL UNIQUE,
    local INTEGER NOT NULL,
    kind TEXT NOT NULL,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL,
    domain TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    fields TEXT NOT NULL DEFAULT '[]',
    avatar_url TEXT,
    header_url TEXT,
    profile_url TEXT,
    inbox_url TEXT NOT NULL,
    shared_inbox_url TEXT,
    followers_url TEXT,
    manually_approves_followers INTEGER NOT NULL DEFAULT 0,
    discoverable INTEGER NOT NULL DEFAULT 1,
    public_key_id TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    private_key_pem TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    fetched_at INTEGER,
    suspended_at INTEGER,
    deleted_at INTEGER
);
-- Local usernames are unique ignoring case, for ever: deleted rows stay.
CREATE UNIQUE INDEX actors_local_username ON actors (username_lower) WHERE local = 1;
CREATE INDEX actors_domain ON actors (domain);

CREATE TABLE follows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ap_id TEXT UNIQUE,
    follower_id INTEGER NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    followee_id INTEGER NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    accepted INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    accepted_at INTEGER,
    UNIQUE (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, accepted);

CREATE TABLE posts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ap_id TEXT NOT NULL UNIQUE,
    local INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'Note',
    author_id INTEGER NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    content TEXT NOT NULL DEFAULT '',
    source TEXT,
    summary TEXT,
    sensitive INTEGER NOT NULL DEFAULT 0,
    visibility TEXT NOT NULL,
    in_reply_to TEXT,
    parent_id INTEGER REFERENCES posts (id) ON DELETE SET NULL,
    context TEXT,
    url TEXT,
    published_at INTEGER NOT NULL,
    updated_at INTEGER,
    deleted_at INTEGER,
    pinned_at INTEGER
);
CREATE INDEX posts_author ON posts (author_id, published_at);
CREATE INDEX posts_parent ON posts (parent_id);
CREATE INDEX posts_in_reply_to ON posts (in_reply_to);
CREATE INDEX posts_context ON posts (context);
