-- Events: a post of kind 'Event' with its calendar data, and who takes part. Never edit once landed.

CREATE TABLE events (
    post_id INTEGER PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    start_at INTEGER NOT NULL,
    end_at INTEGER,
    timezone TEXT NOT NULL,
    location_name TEXT,
    address TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    status TEXT NOT NULL DEFAULT 'confirmed',
    join_mode TEXT NOT NULL DEFAULT 'free',
    banner_url TEXT,
    sequence INTEGER NOT NULL DEFAULT 0,
    participant_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_start ON events (start_at);

CREATE TABLE event_participants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    actor_id INTEGER NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    join_ap_id TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (post_id, actor_id)
);
