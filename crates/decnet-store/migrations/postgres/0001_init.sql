-- DECNET store, PostgreSQL. Timestamps are BIGINT microseconds since the Unix
-- epoch (UTC) and UUIDs are canonical lower-case text, so the same SQL and
-- the same decoding serve SQLite and PostgreSQL alike.

CREATE TABLE events (
    id            TEXT    PRIMARY KEY NOT NULL,
    ts            BIGINT NOT NULL,
    decky         TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    event_type    TEXT    NOT NULL,
    src_ip        TEXT    NOT NULL,
    src_port      BIGINT NOT NULL,
    dst_ip        TEXT    NOT NULL,
    dst_port      BIGINT NOT NULL,
    session_id    TEXT,
    attacker_uuid TEXT    NOT NULL,
    raw           TEXT    NOT NULL
);
CREATE INDEX events_ts ON events (ts, id);
CREATE INDEX events_decky ON events (decky, ts);
CREATE INDEX events_service ON events (service, ts);
CREATE INDEX events_type ON events (event_type, ts);
CREATE INDEX events_src_ip ON events (src_ip, ts);
CREATE INDEX events_attacker ON events (attacker_uuid, ts);
CREATE INDEX events_session ON events (session_id, ts);

CREATE TABLE attackers (
    uuid             TEXT    PRIMARY KEY NOT NULL,
    ip               TEXT    NOT NULL,
    first_seen       BIGINT NOT NULL,
    last_seen        BIGINT NOT NULL,
    event_count      BIGINT NOT NULL DEFAULT 0,
    deckies          TEXT    NOT NULL DEFAULT '[]',
    services         TEXT    NOT NULL DEFAULT '[]',
    credential_count BIGINT NOT NULL DEFAULT 0,
    session_count    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX attackers_ip ON attackers (ip, last_seen);
CREATE INDEX attackers_last_seen ON attackers (last_seen, uuid);
CREATE INDEX attackers_first_seen ON attackers (first_seen, uuid);
CREATE INDEX attackers_event_count ON attackers (event_count, uuid);

CREATE TABLE attacker_targets (
    attacker_uuid TEXT NOT NULL,
    decky         TEXT NOT NULL,
    service       TEXT NOT NULL,
    PRIMARY KEY (attacker_uuid, decky, service)
);
CREATE INDEX attacker_targets_decky ON attacker_targets (decky);
CREATE INDEX attacker_targets_service ON attacker_targets (service);

CREATE TABLE credentials (
    event_id         TEXT    PRIMARY KEY NOT NULL,
    ts               BIGINT NOT NULL,
    attacker_uuid    TEXT    NOT NULL,
    src_ip           TEXT    NOT NULL,
    decky            TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    session_id       TEXT,
    principal        TEXT    NOT NULL,
    secret_printable TEXT,
    secret_b64       TEXT    NOT NULL,
    secret_kind      TEXT    NOT NULL,
    realm            TEXT,
    secret_sha256    TEXT    NOT NULL,
    outcome          TEXT    NOT NULL
);
CREATE INDEX credentials_ts ON credentials (ts, event_id);
CREATE INDEX credentials_secret ON credentials (secret_sha256, secret_kind);
CREATE INDEX credentials_principal ON credentials (principal);
CREATE INDEX credentials_attacker ON credentials (attacker_uuid, ts);

CREATE TABLE sessions (
    sid                  TEXT    PRIMARY KEY NOT NULL,
    attacker_uuid        TEXT    NOT NULL,
    decky                TEXT    NOT NULL,
    service              TEXT    NOT NULL,
    src_ip               TEXT    NOT NULL,
    src_port             BIGINT NOT NULL,
    started_at           BIGINT NOT NULL,
    ended_at             BIGINT,
    event_count          BIGINT NOT NULL DEFAULT 0,
    command_count        BIGINT NOT NULL DEFAULT 0,
    recording_sid        TEXT,
    recording_shard      TEXT,
    recording_bytes      BIGINT,
    recording_duration_s DOUBLE PRECISION,
    recording_truncated  BIGINT
);
CREATE INDEX sessions_attacker ON sessions (attacker_uuid, started_at);
CREATE INDEX sessions_started ON sessions (started_at, sid);

CREATE TABLE artifacts (
    event_id      TEXT    PRIMARY KEY NOT NULL,
    ts            BIGINT NOT NULL,
    kind          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    sha256        TEXT,
    size          BIGINT,
    decky         TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    attacker_uuid TEXT    NOT NULL,
    session_id    TEXT
);
CREATE INDEX artifacts_attacker ON artifacts (attacker_uuid, ts);
CREATE INDEX artifacts_sha256 ON artifacts (sha256);

CREATE TABLE users (
    uuid                 TEXT    PRIMARY KEY NOT NULL,
    username             TEXT    NOT NULL UNIQUE,
    password_hash        TEXT    NOT NULL,
    role                 TEXT    NOT NULL CHECK (role IN ('admin', 'viewer')),
    must_change_password BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    tokens_valid_from    BIGINT NOT NULL
);

CREATE TABLE ingest_offsets (
    consumer    TEXT    PRIMARY KEY NOT NULL,
    segment     BIGINT NOT NULL,
    byte_offset BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
