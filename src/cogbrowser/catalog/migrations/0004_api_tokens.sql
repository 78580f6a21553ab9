-- API tokens: writes over HTTP need one (and reads too where the server says so). Only a hash of
-- each token is kept; `cogbrowser token create NAME` shows the token once. Revoked tokens stay
-- listed with the time they were revoked. Creating, revoking or deleting a token notifies the
-- catalog channel (0003), so servers forget the tokens they had checked at once; recording when a
-- token was last used does not.
CREATE TABLE api_tokens (
    name         text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    token_hash   text NOT NULL UNIQUE,          -- sha256 (hex) of the token
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OF token_hash, revoked_at OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION cogbrowser_notify_change();
