-- Header profiles: the user agent, accept and content headers of a request and the device
-- derived from them repeat across most requests. They are stored once here and referenced
-- by id from each request fingerprint. `key` is a hash of the other columns, computed by the
-- library (so the unique index does not hold the texts).
CREATE TABLE fingerprint_profiles (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    user_agent TEXT NOT NULL,
    accept TEXT NOT NULL,
    accept_language TEXT NOT NULL,
    accept_encoding TEXT NOT NULL,
    content_encoding TEXT NOT NULL,
    content_language TEXT NOT NULL,
    browser TEXT NOT NULL,
    browser_version TEXT NOT NULL,
    os TEXT NOT NULL,
    os_version TEXT NOT NULL,
    device_type TEXT NOT NULL
);

-- Referers repeat too (a site's own pages, a search engine): each is stored once here and
-- referenced by id from request fingerprints and sessions (NULL: none). `key` is a hash of
-- the referer, computed by the library (a referer may be longer than an index entry).
CREATE TABLE fingerprint_referers (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    referer TEXT NOT NULL
);
ALTER TABLE fingerprint_sessions ADD COLUMN referer_id INTEGER REFERENCES fingerprint_referers (id);

-- The request fingerprints, rebuilt without the texts that moved to their profile and
-- referer.
CREATE TABLE fingerprint_requests_new (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES fingerprint_sessions (id) ON DELETE CASCADE,
    url_id INTEGER NOT NULL REFERENCES fingerprint_urls (id),
    profile_id INTEGER NOT NULL REFERENCES fingerprint_profiles (id),
    ip TEXT,
    method TEXT NOT NULL DEFAULT '',
    referer_id INTEGER REFERENCES fingerprint_referers (id),
    country TEXT NOT NULL DEFAULT '',
    country_code TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- Done by the library: the referers and profiles of the stored rows, then the rows, with
-- progress.
-- (A temporary index finds each referer's id while the rows move.)
CREATE INDEX fingerprint_referers_referer ON fingerprint_referers (referer);
/* move request headers to fingerprint_profiles */;
UPDATE fingerprint_sessions SET referer = '', referer_id = f.id
FROM fingerprint_referers f WHERE f.referer = fingerprint_sessions.referer;
DROP INDEX fingerprint_referers_referer;

DROP TABLE fingerprint_request_fingerprints;
ALTER TABLE fingerprint_requests_new RENAME TO fingerprint_request_fingerprints;
-- The debounce check and a session's requests.
CREATE INDEX fingerprint_request_fingerprints_session_url ON fingerprint_request_fingerprints (session_id, url_id, created_at);
-- The request list filtered by URL.
CREATE INDEX fingerprint_request_fingerprints_url_session ON fingerprint_request_fingerprints (url_id, session_id);
-- The request list, newest first, and purges.
CREATE INDEX fingerprint_request_fingerprints_created_at ON fingerprint_request_fingerprints (created_at);

-- Forgetting a user finds the unique visits of their sessions on the requests' (session, URL)
-- index: this one only cost a write per unique visit.
DROP INDEX fingerprint_url_visitors_session;
