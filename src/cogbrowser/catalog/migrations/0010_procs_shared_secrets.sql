-- Secrets that every server process of the catalog shares, on any machine: the key that signs the
-- pages' sign-in sessions (web/sessions.py), so that a session made by one server is good on every
-- other one (no sticky sessions behind a load balancer). Made by the first process that needs it.
CREATE TABLE shared_secrets (
    name        text PRIMARY KEY,
    value       text NOT NULL CHECK (length(value) >= 64),
    created_at  timestamptz NOT NULL DEFAULT now()
);
