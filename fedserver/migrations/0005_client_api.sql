-- 0005: the Mastodon client API: OAuth apps, codes and tokens (stored hashed), mutes,
-- bookmarks, timeline markers, idempotency keys, and per-user preferences.

CREATE TABLE oauth_apps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    website TEXT,
    -- JSON list of exact redirect URIs.
    redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    -- SHA-256 of the secret; the secret itself is shown once, at registration.
    client_secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE oauth_codes (
    -- SHA-256 of the code.
    code_hash TEXT PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    code_challenge TEXT,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE TABLE oauth_tokens (
    id INTEGER PRIMARY KEY,
    -- SHA-256 of the access token.
    token_hash TEXT NOT NULL UNIQUE,
    app_id INTEGER NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
    -- NULL for client_credentials tokens (an app, no user).
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX oauth_tokens_user ON oauth_tokens (user_id);

CREATE TABLE mutes (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    target_account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    notifications INTEGER NOT NULL DEFAULT 1,
    expires_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, target_account_id)
);

CREATE TABLE bookmarks (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, status_id)
);

CREATE TABLE markers (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- "home" or "notifications".
    timeline TEXT NOT NULL,
    last_read_id TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account_id, timeline)
);

-- Idempotency-Key of POST /api/v1/statuses: the same key from the same user within a
-- day returns the first status instead of posting twice.
CREATE TABLE idempotency_keys (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

ALTER TABLE users ADD COLUMN default_visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE users ADD COLUMN default_sensitive INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN default_language TEXT;
-- Why they want to join (approval mode).
ALTER TABLE users ADD COLUMN sign_up_reason TEXT;
