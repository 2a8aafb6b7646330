-- Large fan-outs: the activity's row per inbox is written after the request that caused it, from this job.
-- Never edit once landed.

CREATE TABLE fanouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id INTEGER NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    -- The local actor whose accepted remote followers get the activity.
    followers_of INTEGER NOT NULL REFERENCES actors (id) ON DELETE CASCADE,
    claimed_until INTEGER,
    created_at INTEGER NOT NULL
);
