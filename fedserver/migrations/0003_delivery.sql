-- 0003: the durable outbound delivery queue and per-host delivery health.
--
-- An activity to send is stored once in outgoing_activities (its JSON serialised once per
-- fan-out), with one deliveries row per deduplicated inbox, in the same transaction as
-- the post it is about: what we acknowledged to the author is never lost (kill -9
-- included), and the worker resumes pending rows after a restart (at-least-once, same
-- activity id). Plain SQL types only, so the schema ports to PostgreSQL.

CREATE TABLE outgoing_activities (
    id INTEGER PRIMARY KEY,
    activity_id TEXT NOT NULL UNIQUE,
    -- The local account whose key signs the deliveries; NULL for the instance actor.
    sender_account_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    -- The local status the activity is about (per-post delivery state), if any.
    status_id INTEGER REFERENCES statuses (id) ON DELETE SET NULL,
    -- The activity JSON, exactly as every inbox receives it.
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE INDEX outgoing_activities_status ON outgoing_activities (status_id);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    outgoing_activity_id INTEGER NOT NULL
        REFERENCES outgoing_activities (id) ON DELETE CASCADE,
    inbox_url TEXT NOT NULL,
    -- The inbox's authority (host, or host:port when not the default): the unit of
    -- concurrency limits, the circuit breaker and availability.
    host TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed', 'skipped')),
    -- Why it ended as failed or skipped ('410 gone', 'host unavailable', ...).
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- The last HTTP status answered, NULL when no answer came (connection failure),
    -- and what went wrong last ('503 service unavailable', 'connection refused').
    last_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (outgoing_activity_id, inbox_url)
);

-- The worker's ready query: pending rows by due time.
CREATE INDEX deliveries_ready ON deliveries (state, next_attempt_at, id);
-- Skipping every pending row of a host that became unavailable; operator summaries.
CREATE INDEX deliveries_host ON deliveries (host, state);

-- Delivery health per remote host, as Mastodon's DeliveryFailureTracker and
-- UnavailableDomain: the distinct UTC days on which deliveries failed since the last
-- success, and whether the host is skipped. A row exists only for hosts that failed.
CREATE TABLE remote_hosts (
    host TEXT PRIMARY KEY,
    -- JSON list of distinct 'YYYY-MM-DD' failure days, oldest first.
    failure_days TEXT NOT NULL DEFAULT '[]',
    unavailable INTEGER NOT NULL DEFAULT 0,
    unavailable_since TEXT,
    updated_at TEXT NOT NULL
);
