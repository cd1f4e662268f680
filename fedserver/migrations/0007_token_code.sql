-- 0007: remember which authorization code a token was issued for, so that a second use
-- of the code revokes it (RFC 6749 §10.5: a replayed code means it leaked).

ALTER TABLE oauth_tokens ADD COLUMN code_hash TEXT;
CREATE INDEX oauth_tokens_code ON oauth_tokens (code_hash) WHERE code_hash IS NOT NULL;
