-- 0006: an index for counting an account's statuses.
--
-- Every rendered account carries statuses_count and last_status_at
-- (Statuses.count_by_account, Statuses.last_status_at). With only statuses_account
-- (account_id, id), both read every status row of the account to check deleted_at:
-- about 3 ms per 1,000 statuses, for each author on a timeline page (bench/RESULTS.md,
-- fix 2). Covering both columns, the count reads index entries only and
-- max(created_at) is one index seek.

CREATE INDEX statuses_account_live ON statuses (account_id, deleted_at, created_at);
