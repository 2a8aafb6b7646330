-- Moderation: blocked domains. Never edit once landed.

CREATE TABLE domain_blocks (
    domain TEXT PRIMARY KEY,
    reason TEXT,
    created_at BIGINT NOT NULL
);
