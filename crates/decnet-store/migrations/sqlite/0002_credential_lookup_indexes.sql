-- The ingester asks, for every captured credential, whether its secret was seen
-- before for the same principal and on the same decky. With only a one-column
-- principal index the planner searched every credential of that username, so a
-- brute force against `admin` slowed ingest with each new password. These
-- indexes answer both questions with one lookup; their prefix replaces
-- credentials_secret.
CREATE INDEX credentials_secret_principal ON credentials (secret_sha256, secret_kind, principal);
CREATE INDEX credentials_secret_decky ON credentials (secret_sha256, secret_kind, decky);
DROP INDEX credentials_secret;
