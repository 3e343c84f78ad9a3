-- Reuse groups without reading a group: one summary row per secret, and one
-- row per (secret, attacker) pair beside the (secret, decky) and (secret,
-- principal) pairs of 0003. The ingester keeps all of them in the batch
-- transaction from what its inserts return: a credential inserted adds 1 to
-- `n`, a pair inserted adds 1 to its distinct count, a replayed batch inserts
-- nothing and so adds nothing. `GET /credentials/reuse` is a walk of
-- credential_secrets_reused; a group's bounded samples are prefix scans of
-- the pair tables' primary keys.
CREATE TABLE credential_secret_attackers (
    secret_sha256 TEXT NOT NULL,
    secret_kind   TEXT NOT NULL,
    attacker_uuid TEXT NOT NULL,
    PRIMARY KEY (secret_sha256, secret_kind, attacker_uuid)
) WITHOUT ROWID;
INSERT INTO credential_secret_attackers (secret_sha256, secret_kind, attacker_uuid)
    SELECT DISTINCT secret_sha256, secret_kind, attacker_uuid FROM credentials;

CREATE TABLE credential_secrets (
    secret_sha256    TEXT    NOT NULL,
    secret_kind      TEXT    NOT NULL,
    secret_printable TEXT,
    n                INTEGER NOT NULL,
    n_deckies        INTEGER NOT NULL,
    n_principals     INTEGER NOT NULL,
    n_attackers      INTEGER NOT NULL,
    first_seen       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    PRIMARY KEY (secret_sha256, secret_kind)
) WITHOUT ROWID;
INSERT INTO credential_secrets (secret_sha256, secret_kind, secret_printable, n, n_deckies,
                                n_principals, n_attackers, first_seen, last_seen)
    SELECT secret_sha256, secret_kind, MIN(secret_printable), COUNT(*), COUNT(DISTINCT decky),
           COUNT(DISTINCT principal), COUNT(DISTINCT attacker_uuid), MIN(ts), MAX(ts)
    FROM credentials GROUP BY secret_sha256, secret_kind;
-- Only reused secrets, in the list's order (most captured first, then by key).
CREATE INDEX credential_secrets_reused
    ON credential_secrets (n DESC, secret_kind DESC, secret_sha256 DESC)
    WHERE n_deckies >= 2 OR n_principals >= 2;

-- Nothing reads credentials by secret any more: the last index on it only
-- cost every credential insert a random-keyed update.
DROP INDEX credentials_secret_decky;
