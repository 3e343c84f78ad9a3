-- Stats without table scans: one row per (dimension, value) with its count,
-- kept by the ingester in the batch transaction (a few upserts per batch).
-- `GET /stats` reads totals by key and each top-N list as an index scan of N
-- rows (stat_counts_top matches its ORDER BY n DESC, value ASC).
-- Dimensions: total (value events | attackers | credentials | sessions),
-- src_ip, decky, service, event_type (events), principal (credentials) and
-- password (printable secrets of kind password).
CREATE TABLE stat_counts (
    dim   TEXT    NOT NULL,
    value TEXT    NOT NULL,
    n     BIGINT  NOT NULL,
    PRIMARY KEY (dim, value)
);
CREATE INDEX stat_counts_top ON stat_counts (dim, n DESC, value ASC);

-- Backfill from what is already stored.
INSERT INTO stat_counts (dim, value, n)
    SELECT 'total', 'events', COUNT(*) FROM events
    UNION ALL SELECT 'total', 'attackers', COUNT(*) FROM attackers
    UNION ALL SELECT 'total', 'credentials', COUNT(*) FROM credentials
    UNION ALL SELECT 'total', 'sessions', COUNT(*) FROM sessions;
INSERT INTO stat_counts (dim, value, n)
    SELECT 'src_ip', src_ip, COUNT(*) FROM events GROUP BY src_ip;
INSERT INTO stat_counts (dim, value, n)
    SELECT 'decky', decky, COUNT(*) FROM events GROUP BY decky;
INSERT INTO stat_counts (dim, value, n)
    SELECT 'service', service, COUNT(*) FROM events GROUP BY service;
INSERT INTO stat_counts (dim, value, n)
    SELECT 'event_type', event_type, COUNT(*) FROM events GROUP BY event_type;
INSERT INTO stat_counts (dim, value, n)
    SELECT 'principal', principal, COUNT(*) FROM credentials GROUP BY principal;
INSERT INTO stat_counts (dim, value, n)
    SELECT 'password', secret_printable, COUNT(*) FROM credentials
    WHERE secret_kind = 'password' AND secret_printable IS NOT NULL
    GROUP BY secret_printable;

-- Credentials of one principal, newest first, as a page reads them: the
-- one-column index made every page sort all of that principal's rows.
DROP INDEX credentials_principal;
CREATE INDEX credentials_principal ON credentials (principal, ts, event_id);

-- Events per minute of ts (rounded down), for the unfiltered histogram.
CREATE TABLE event_minutes (
    minute BIGINT PRIMARY KEY NOT NULL,
    n      BIGINT NOT NULL
);
INSERT INTO event_minutes (minute, n)
    SELECT m, COUNT(*) FROM
        (SELECT CASE WHEN ts >= 0 THEN ts / 60000000 ELSE -((59999999 - ts) / 60000000) END AS m
         FROM events) AS e
    GROUP BY m;
