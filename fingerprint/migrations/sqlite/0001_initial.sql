-- Times are microseconds since the Unix epoch (UTC).
CREATE TABLE fingerprint_sessions (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    user_id TEXT,
    created_at INTEGER NOT NULL,
    referer TEXT NOT NULL DEFAULT '',
    utm_source TEXT,
    utm_medium TEXT,
    utm_campaign TEXT,
    utm_content TEXT,
    utm_term TEXT
);
CREATE INDEX fingerprint_sessions_user_id ON fingerprint_sessions (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX fingerprint_sessions_created_at ON fingerprint_sessions (created_at);

CREATE TABLE fingerprint_urls (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE
);

CREATE TABLE fingerprint_request_fingerprints (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES fingerprint_sessions (id) ON DELETE CASCADE,
    url_id INTEGER NOT NULL REFERENCES fingerprint_urls (id),
    ip TEXT,
    method TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    accept TEXT NOT NULL DEFAULT '',
    accept_language TEXT NOT NULL DEFAULT '',
    accept_encoding TEXT NOT NULL DEFAULT '',
    content_encoding TEXT NOT NULL DEFAULT '',
    content_language TEXT NOT NULL DEFAULT '',
    referer TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX fingerprint_request_fingerprints_session_url ON fingerprint_request_fingerprints (session_id, url_id, created_at);
CREATE INDEX fingerprint_request_fingerprints_url_session ON fingerprint_request_fingerprints (url_id, session_id);
CREATE INDEX fingerprint_request_fingerprints_created_at ON fingerprint_request_fingerprints (created_at);

CREATE TABLE fingerprint_browser_fingerprints (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES fingerprint_sessions (id) ON DELETE CASCADE,
    url_id INTEGER REFERENCES fingerprint_urls (id),
    visitor_id TEXT NOT NULL,
    components TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX fingerprint_browser_fingerprints_session ON fingerprint_browser_fingerprints (session_id, created_at);
CREATE INDEX fingerprint_browser_fingerprints_visitor ON fingerprint_browser_fingerprints (visitor_id);
CREATE INDEX fingerprint_browser_fingerprints_created_at ON fingerprint_browser_fingerprints (created_at);

-- One row per unique (URL, session): the source of truth for hit counts.
CREATE TABLE fingerprint_url_visitors (
    url_id INTEGER NOT NULL,
    session_id INTEGER NOT NULL,
    PRIMARY KEY (url_id, session_id)
) WITHOUT ROWID;
CREATE INDEX fingerprint_url_visitors_session ON fingerprint_url_visitors (session_id);

-- Unique-visitor counters, bumped in the same transaction as fingerprint_url_visitors.
CREATE TABLE fingerprint_hit_counts (
    url_id INTEGER PRIMARY KEY REFERENCES fingerprint_urls (id),
    hits INTEGER NOT NULL
);
