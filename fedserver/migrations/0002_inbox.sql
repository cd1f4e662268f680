-- 0002: the inbox queue. An activity is written here, durably, before we answer 202;
-- workers process it later. activity_id is unique: a redelivery changes nothing.

CREATE TABLE inbox_items (
    id INTEGER PRIMARY KEY,
    activity_id TEXT NOT NULL UNIQUE,
    activity_type TEXT NOT NULL,
    actor_uri TEXT NOT NULL,
    key_id TEXT NOT NULL,
    -- The local user whose personal inbox received it; NULL for the shared inbox.
    recipient_account_id INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    -- The raw JSON as received.
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'done', 'ignored', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- Why it failed or was ignored, for operators.
    last_error TEXT
);

CREATE INDEX inbox_items_ready ON inbox_items (state, next_attempt_at);
