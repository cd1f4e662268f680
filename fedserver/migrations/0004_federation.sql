-- 0004: what federation stores: remote posts and their parts, reactions, relationships,
-- notifications, reports, delete markers, pins, domain blocks and the home feed.

ALTER TABLE statuses ADD COLUMN in_reply_to_account_id INTEGER
    REFERENCES accounts (id) ON DELETE SET NULL;
-- Note, Article, Page or Question (a poll).
ALTER TABLE statuses ADD COLUMN object_type TEXT NOT NULL DEFAULT 'Note';
-- The source text of local statuses (Mastodon's `text`).
ALTER TABLE statuses ADD COLUMN source_text TEXT;
-- Questions: JSON {"multiple": bool, "expires_at": str|null, "options": [{"title", "votes"}]}.
ALTER TABLE statuses ADD COLUMN poll TEXT;

CREATE INDEX statuses_reblog ON statuses (reblog_of_id);
CREATE INDEX statuses_reply ON statuses (in_reply_to_id);
-- One boost per account and status (Mastodon dedupes boosts the same way).
CREATE UNIQUE INDEX statuses_one_reblog ON statuses (account_id, reblog_of_id)
    WHERE reblog_of_id IS NOT NULL;

CREATE TABLE status_edits (
    id INTEGER PRIMARY KEY,
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    content TEXT NOT NULL,
    spoiler_text TEXT NOT NULL,
    sensitive INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX status_edits_status ON status_edits (status_id, id);

CREATE TABLE mentions (
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (status_id, account_id)
);
CREATE INDEX mentions_account ON mentions (account_id, status_id);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    -- Lower case, without '#'.
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE status_tags (
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (status_id, tag_id)
);
CREATE INDEX status_tags_tag ON status_tags (tag_id, status_id);

CREATE TABLE status_emojis (
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    shortcode TEXT NOT NULL,
    image_url TEXT NOT NULL,
    PRIMARY KEY (status_id, shortcode)
);

CREATE TABLE media_attachments (
    id INTEGER PRIMARY KEY,
    status_id INTEGER REFERENCES statuses (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- image, video, gifv, audio or unknown (Mastodon's types).
    type TEXT NOT NULL,
    remote_url TEXT,
    media_type TEXT,
    description TEXT,
    blurhash TEXT,
    width INTEGER,
    height INTEGER,
    position INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX media_attachments_status ON media_attachments (status_id, position);

CREATE TABLE favourites (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    uri TEXT UNIQUE,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, status_id)
);
CREATE INDEX favourites_status ON favourites (status_id);

CREATE TABLE blocks (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    target_account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    uri TEXT UNIQUE,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, target_account_id)
);
CREATE INDEX blocks_target ON blocks (target_account_id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    -- The local account notified.
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    from_account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- Mastodon's types: mention, status, reblog, follow, follow_request, favourite,
    -- poll, update, move, admin.report.
    type TEXT NOT NULL,
    status_id INTEGER REFERENCES statuses (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
CREATE INDEX notifications_account ON notifications (account_id, id);
-- A redelivered Like or Follow must not notify twice.
CREATE UNIQUE INDEX notifications_once
    ON notifications (account_id, from_account_id, type, coalesce(status_id, 0));

CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    uri TEXT UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    target_account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- JSON list of reported status ids.
    status_ids TEXT NOT NULL DEFAULT '[]',
    comment TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    resolved_at TEXT
);

-- Objects deleted before (or after) we saw them: a Create arriving later is ignored
-- (SECURITY.md R9; Mastodon keeps a 6-hour marker, we keep it longer).
CREATE TABLE tombstones (
    uri TEXT PRIMARY KEY,
    actor_uri TEXT NOT NULL,
    deleted_at TEXT NOT NULL
);

CREATE TABLE pins (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, status_id)
);

CREATE TABLE domain_blocks (
    domain TEXT PRIMARY KEY,
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

-- Home timelines, filled when a status arrives (fan-out on write, as Mastodon's feeds).
CREATE TABLE home_feed (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status_id INTEGER NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, status_id)
);
CREATE INDEX home_feed_status ON home_feed (status_id);
