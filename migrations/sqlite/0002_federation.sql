-- Federation: the instance actor's keys, sent activities and their delivery queue, remote hosts, received
-- activity ids (dedupe), likes and boosts, and the addressing of posts. Never edit once landed.

CREATE TABLE instance_keys (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    public_key_pem TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Every activity we send, stored once: it is the payload of each of its deliveries and is served at its id.
CREATE TABLE activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ap_id TEXT NOT NULL UNIQUE,
    actor_id INTEGER NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    object_ap_id TEXT,
    json TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX activities_object ON activities (object_ap_id);

-- One row per (activity, inbox), kept until delivered or given up.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id INTEGER NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    inbox_url TEXT NOT NULL,
    host TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_until INTEGER,
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER,
    UNIQUE (activity_id, inbox_url)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_host ON deliveries (host, state);

-- What we know of each remote host (host[:port]).
CREATE TABLE hosts (
    host TEXT PRIMARY KEY,
    failing_since INTEGER,
    unavailable_since INTEGER,
    last_success_at INTEGER,
    last_failure_at INTEGER,
    last_error TEXT
);

-- Ids of activities already processed: the same activity twice is processed once.
CREATE TABLE received_activities (
    ap_id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
);

-- Likes and boosts (Announce) of posts.
CREATE TABLE interactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ap_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    actor_id INTEGER NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, actor_id, post_id)
);
CREATE INDEX interactions_post ON interactions (post_id, kind);

ALTER TABLE posts ADD COLUMN to_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE posts ADD COLUMN cc_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE posts ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE posts ADD COLUMN attachments_json TEXT NOT NULL DEFAULT '[]';
