-- Fewer index entries written at a random position per credential. A brute
-- force brings a new secret with nearly every attempt; each new secret used to
-- add a row to each of three pair tables and an entry to stat_counts_top, all
-- keyed by a hash or a value with no relation to time, so each dirtied a page
-- of its own.
--
-- 1. Each secret's summary keeps one value of each pair list inline
--    (first_decky, first_principal, first_attacker: the first seen; for rows
--    from before this migration, the least). The pair tables hold only the
--    other values, so a secret seen on one decky, for one principal, from one
--    attacker (every brute-force password) writes no pair row at all. A
--    distinct count is 1 (the inline value) plus the secret's pair rows.
ALTER TABLE credential_secrets ADD COLUMN first_decky TEXT;
ALTER TABLE credential_secrets ADD COLUMN first_principal TEXT;
ALTER TABLE credential_secrets ADD COLUMN first_attacker TEXT;
UPDATE credential_secrets SET
    first_decky = (SELECT MIN(p.decky) FROM credential_secret_deckies p
                   WHERE p.secret_sha256 = credential_secrets.secret_sha256
                     AND p.secret_kind = credential_secrets.secret_kind),
    first_principal = (SELECT MIN(p.principal) FROM credential_secret_principals p
                       WHERE p.secret_sha256 = credential_secrets.secret_sha256
                         AND p.secret_kind = credential_secrets.secret_kind),
    first_attacker = (SELECT MIN(p.attacker_uuid) FROM credential_secret_attackers p
                      WHERE p.secret_sha256 = credential_secrets.secret_sha256
                        AND p.secret_kind = credential_secrets.secret_kind);
DELETE FROM credential_secret_deckies WHERE EXISTS (
    SELECT 1 FROM credential_secrets s
    WHERE s.secret_sha256 = credential_secret_deckies.secret_sha256
      AND s.secret_kind = credential_secret_deckies.secret_kind
      AND s.first_decky = credential_secret_deckies.decky);
DELETE FROM credential_secret_principals WHERE EXISTS (
    SELECT 1 FROM credential_secrets s
    WHERE s.secret_sha256 = credential_secret_principals.secret_sha256
      AND s.secret_kind = credential_secret_principals.secret_kind
      AND s.first_principal = credential_secret_principals.principal);
DELETE FROM credential_secret_attackers WHERE EXISTS (
    SELECT 1 FROM credential_secrets s
    WHERE s.secret_sha256 = credential_secret_attackers.secret_sha256
      AND s.secret_kind = credential_secret_attackers.secret_kind
      AND s.first_attacker = credential_secret_attackers.attacker_uuid);

-- 2. The top-N index holds only counts of 2 or more. Values seen once (most
--    passwords, principals and source IPs of a flood) sort after all of them
--    by value, which is the primary key's order, so the stats read takes them
--    from a bounded primary-key range when a list is short of N.
DROP INDEX stat_counts_top;
CREATE INDEX stat_counts_top ON stat_counts (dim, n DESC, value ASC) WHERE n >= 2;
