-- Device and place of each request fingerprint, derived by the recorder from the user agent
-- (uap-core) and the country header or a GeoIP database. Empty when unknown.
ALTER TABLE fingerprint_request_fingerprints ADD COLUMN browser TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_request_fingerprints ADD COLUMN browser_version TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_request_fingerprints ADD COLUMN os TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_request_fingerprints ADD COLUMN os_version TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_request_fingerprints ADD COLUMN device_type TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_request_fingerprints ADD COLUMN country_code TEXT NOT NULL DEFAULT '';

-- When the session was linked to its user.
ALTER TABLE fingerprint_sessions ADD COLUMN linked_at INTEGER;

-- What each user was seen with: kind 1 = a browser visitor id, kind 2 = a user agent (the
-- Django admin's "unique browser / request fingerprints"). Kept by the same transactions
-- that store fingerprints of linked sessions and that link sessions.
CREATE TABLE fingerprint_user_devices (
    user_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    value TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX fingerprint_user_devices_value ON fingerprint_user_devices (kind, value);

-- One row per user, derived from fingerprint_user_devices and fingerprint_sessions, for the
-- user lists and their filters (last seen, count buckets).
CREATE TABLE fingerprint_users (
    user_id TEXT PRIMARY KEY,
    sessions INTEGER NOT NULL DEFAULT 0,
    browser_fingerprints INTEGER NOT NULL DEFAULT 0,
    request_fingerprints INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER,
    last_seen INTEGER
);
CREATE INDEX fingerprint_users_last_seen ON fingerprint_users (last_seen, user_id);

-- Sessions linked before this migration (by hand): derive their users.
INSERT INTO fingerprint_user_devices (user_id, kind, value, first_seen, last_seen)
SELECT s.user_id, 2, r.user_agent, MIN(r.created_at), MAX(r.created_at)
FROM fingerprint_sessions s JOIN fingerprint_request_fingerprints r ON r.session_id = s.id
WHERE s.user_id IS NOT NULL GROUP BY s.user_id, r.user_agent;
INSERT INTO fingerprint_user_devices (user_id, kind, value, first_seen, last_seen)
SELECT s.user_id, 1, b.visitor_id, MIN(b.created_at), MAX(b.created_at)
FROM fingerprint_sessions s JOIN fingerprint_browser_fingerprints b ON b.session_id = s.id
WHERE s.user_id IS NOT NULL GROUP BY s.user_id, b.visitor_id;
INSERT INTO fingerprint_users (user_id, sessions)
SELECT user_id, COUNT(*) FROM fingerprint_sessions WHERE user_id IS NOT NULL GROUP BY user_id;
UPDATE fingerprint_users SET
    browser_fingerprints = (SELECT COUNT(*) FROM fingerprint_user_devices d WHERE d.user_id = fingerprint_users.user_id AND d.kind = 1),
    request_fingerprints = (SELECT COUNT(*) FROM fingerprint_user_devices d WHERE d.user_id = fingerprint_users.user_id AND d.kind = 2),
    first_seen = (SELECT MIN(first_seen) FROM fingerprint_user_devices d WHERE d.user_id = fingerprint_users.user_id),
    last_seen = (SELECT MAX(last_seen) FROM fingerprint_user_devices d WHERE d.user_id = fingerprint_users.user_id);
