-- Where each secret was seen, one row per (secret, decky) and (secret,
-- principal) pair, maintained by ingest. The ingester's "seen on this decky /
-- for this principal before?" becomes an insert whose conflict answers it,
-- through a primary key no planner can trade for another index: with the
-- credentials indexes sharing the (secret_sha256, secret_kind) prefix, a
-- planner could search all rows of a sprayed password for each new username.
CREATE TABLE credential_secret_deckies (
    secret_sha256 TEXT NOT NULL,
    secret_kind   TEXT NOT NULL,
    decky         TEXT NOT NULL,
    PRIMARY KEY (secret_sha256, secret_kind, decky)
) WITHOUT ROWID;
CREATE TABLE credential_secret_principals (
    secret_sha256 TEXT NOT NULL,
    secret_kind   TEXT NOT NULL,
    principal     TEXT NOT NULL,
    PRIMARY KEY (secret_sha256, secret_kind, principal)
) WITHOUT ROWID;
INSERT INTO credential_secret_deckies (secret_sha256, secret_kind, decky)
    SELECT DISTINCT secret_sha256, secret_kind, decky FROM credentials;
INSERT INTO credential_secret_principals (secret_sha256, secret_kind, principal)
    SELECT DISTINCT secret_sha256, secret_kind, principal FROM credentials;
-- Only the per-principal question used it; credentials_secret_decky keeps
-- serving lookups by secret (reuse groups).
DROP INDEX credentials_secret_principal;
