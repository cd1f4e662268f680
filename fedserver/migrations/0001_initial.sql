-- 0001: accounts (local and remote), local users and their keys, follows, statuses.
-- Times are ISO 8601 UTC text ('2026-11-21T15:13:25.123456Z'); ids are 64-bit
-- time-sortable integers made by fedserver.ids.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    -- NULL for local accounts; their URIs are derived from instance.base_url.
    domain TEXT,
    uri TEXT UNIQUE,
    url TEXT,
    inbox_url TEXT,
    shared_inbox_url TEXT,
    outbox_url TEXT,
    followers_url TEXT,
    following_url TEXT,
    featured_url TEXT,
    actor_type TEXT NOT NULL DEFAULT 'Person',
    display_name TEXT NOT NULL DEFAULT '',
    -- HTML, sanitised before it is written.
    summary TEXT NOT NULL DEFAULT '',
    avatar_url TEXT,
    header_url TEXT,
    manually_approves_followers INTEGER NOT NULL DEFAULT 0,
    discoverable INTEGER NOT NULL DEFAULT 1,
    indexable INTEGER NOT NULL DEFAULT 0,
    bot INTEGER NOT NULL DEFAULT 0,
    -- JSON arrays: actor URIs, and {"name", "value"} profile fields.
    also_known_as TEXT NOT NULL DEFAULT '[]',
    fields TEXT NOT NULL DEFAULT '[]',
    moved_to_uri TEXT,
    -- Remote accounts only: their published RSA key.
    public_key_id TEXT,
    public_key_pem TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    fetched_at TEXT,
    deleted_at TEXT
);

CREATE UNIQUE INDEX accounts_username_domain
    ON accounts (lower(username), coalesce(domain, ''));

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL UNIQUE REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    approved INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    -- Updated on sign-in and posting; NodeInfo's active-user counts read it.
    last_active_at TEXT NOT NULL
);

CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE email IS NOT NULL;

-- Key pairs of local accounts, and of the instance actor (account_id NULL).
CREATE TABLE keypairs (
    id INTEGER PRIMARY KEY,
    account_id INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('rsa', 'ed25519')),
    private_key_pem TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE UNIQUE INDEX keypairs_owner_kind ON keypairs (coalesce(account_id, 0), kind);

CREATE TABLE follows (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    target_account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The id of the Follow activity.
    uri TEXT UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted')),
    show_reblogs INTEGER NOT NULL DEFAULT 1,
    notify INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, target_account_id)
);

CREATE INDEX follows_target ON follows (target_account_id, state, id);
CREATE INDEX follows_account ON follows (account_id, state, id);

CREATE TABLE statuses (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- NULL for local statuses; their URIs are derived from instance.base_url.
    uri TEXT UNIQUE,
    url TEXT,
    -- HTML, sanitised before it is written.
    content TEXT NOT NULL DEFAULT '',
    spoiler_text TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL
        CHECK (visibility IN ('public', 'unlisted', 'private', 'direct')),
    sensitive INTEGER NOT NULL DEFAULT 0,
    language TEXT,
    in_reply_to_id INTEGER REFERENCES statuses (id) ON DELETE SET NULL,
    in_reply_to_uri TEXT,
    reblog_of_id INTEGER REFERENCES statuses (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    edited_at TEXT,
    deleted_at TEXT
);

CREATE INDEX statuses_account ON statuses (account_id, id);
