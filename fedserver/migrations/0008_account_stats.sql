-- 0008: per-account counters, kept by triggers (Mastodon keeps the same in account_stats).
--
-- Every rendered account carries statuses_count, followers_count, following_count and
-- last_status_at. Counting them per render read each author's index entries: at 100k
-- statuses, 1,000 entries per author and 20,000 per timeline page, half the CPU of a
-- home-timeline request (bench/RESULTS.md, scenario 7). Triggers keep the counters right
-- whichever code path writes statuses or follows, cascades included; a row exists once an
-- account has posted or followed, and a missing row means zeros.

CREATE TABLE account_stats (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    statuses_count INTEGER NOT NULL DEFAULT 0,
    followers_count INTEGER NOT NULL DEFAULT 0,
    following_count INTEGER NOT NULL DEFAULT 0,
    -- max(created_at) of the live statuses, NULL when there are none.
    last_status_at TEXT
);

INSERT INTO account_stats (account_id, statuses_count, followers_count, following_count,
                           last_status_at)
SELECT a.id,
       (SELECT count(*) FROM statuses s WHERE s.account_id = a.id AND s.deleted_at IS NULL),
       (SELECT count(*) FROM follows f WHERE f.target_account_id = a.id
            AND f.state = 'accepted'),
       (SELECT count(*) FROM follows f WHERE f.account_id = a.id AND f.state = 'accepted'),
       (SELECT max(created_at) FROM statuses s WHERE s.account_id = a.id
            AND s.deleted_at IS NULL)
FROM accounts a;

-- A status counts while deleted_at is NULL.
CREATE TRIGGER account_stats_status_insert AFTER INSERT ON statuses
WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO account_stats (account_id, statuses_count, last_status_at)
    VALUES (NEW.account_id, 1, NEW.created_at)
    ON CONFLICT (account_id) DO UPDATE SET
        statuses_count = statuses_count + 1,
        last_status_at = max(coalesce(last_status_at, ''), excluded.last_status_at);
END;

CREATE TRIGGER account_stats_status_soft_delete AFTER UPDATE OF deleted_at ON statuses
WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
BEGIN
    UPDATE account_stats SET
        statuses_count = max(statuses_count - 1, 0),
        last_status_at = (SELECT max(created_at) FROM statuses
                          WHERE account_id = OLD.account_id AND deleted_at IS NULL)
    WHERE account_id = OLD.account_id;
END;

CREATE TRIGGER account_stats_status_delete AFTER DELETE ON statuses
WHEN OLD.deleted_at IS NULL
BEGIN
    UPDATE account_stats SET
        statuses_count = max(statuses_count - 1, 0),
        last_status_at = (SELECT max(created_at) FROM statuses
                          WHERE account_id = OLD.account_id AND deleted_at IS NULL)
    WHERE account_id = OLD.account_id;
END;

-- A follow counts while accepted.
CREATE TRIGGER account_stats_follow_insert AFTER INSERT ON follows
WHEN NEW.state = 'accepted'
BEGIN
    INSERT INTO account_stats (account_id, following_count) VALUES (NEW.account_id, 1)
    ON CONFLICT (account_id) DO UPDATE SET following_count = following_count + 1;
    INSERT INTO account_stats (account_id, followers_count) VALUES (NEW.target_account_id, 1)
    ON CONFLICT (account_id) DO UPDATE SET followers_count = followers_count + 1;
END;

CREATE TRIGGER account_stats_follow_accept AFTER UPDATE OF state ON follows
WHEN OLD.state <> 'accepted' AND NEW.state = 'accepted'
BEGIN
    INSERT INTO account_stats (account_id, following_count) VALUES (NEW.account_id, 1)
    ON CONFLICT (account_id) DO UPDATE SET following_count = following_count + 1;
    INSERT INTO account_stats (account_id, followers_count) VALUES (NEW.target_account_id, 1)
    ON CONFLICT (account_id) DO UPDATE SET followers_count = followers_count + 1;
END;

CREATE TRIGGER account_stats_follow_unaccept AFTER UPDATE OF state ON follows
WHEN OLD.state = 'accepted' AND NEW.state <> 'accepted'
BEGIN
    UPDATE account_stats SET following_count = max(following_count - 1, 0)
    WHERE account_id = OLD.account_id;
    UPDATE account_stats SET followers_count = max(followers_count - 1, 0)
    WHERE account_id = OLD.target_account_id;
END;

CREATE TRIGGER account_stats_follow_delete AFTER DELETE ON follows
WHEN OLD.state = 'accepted'
BEGIN
    UPDATE account_stats SET following_count = max(following_count - 1, 0)
    WHERE account_id = OLD.account_id;
    UPDATE account_stats SET followers_count = max(followers_count - 1, 0)
    WHERE account_id = OLD.target_account_id;
END;
