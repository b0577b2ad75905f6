-- The dashboard: a daily rollup for the overview and an index of IP addresses, kept by
-- record() in the same transaction as the request fingerprints, and an index for the URL
-- list. Days are UTC days, counted from the Unix epoch (created_at / 86400000000).

-- One row per (day, session) with a recorded request: the day's unique visitors.
CREATE TABLE fingerprint_daily_sessions (
    day INTEGER NOT NULL,
    session_id INTEGER NOT NULL,
    PRIMARY KEY (day, session_id)
) WITHOUT ROWID;

-- Visits (request fingerprints) and unique visitors per day and dimension value. Dimensions:
-- 'all' (value ''), 'browser', 'os', 'device' and 'country' (value '' when unknown). A visitor
-- counts once a day, for the values of the first request recorded for it that day.
CREATE TABLE fingerprint_daily (
    dimension TEXT NOT NULL,
    day INTEGER NOT NULL,
    value TEXT NOT NULL,
    visits INTEGER NOT NULL,
    visitors INTEGER NOT NULL,
    PRIMARY KEY (dimension, day, value)
) WITHOUT ROWID;

-- One row per (IP address, session) of the request fingerprints, kept by record(): IP
-- searches find the sessions here, then their requests on the session index. An index on
-- the request fingerprints' ip would write a random index page for every stored row, while
-- a session rarely changes its address, so this table grows by a row per session.
CREATE TABLE fingerprint_ip_sessions (
    ip TEXT NOT NULL,
    session_id INTEGER NOT NULL,
    PRIMARY KEY (ip, session_id)
) WITHOUT ROWID;

-- URLs by hit count.
CREATE INDEX fingerprint_hit_counts_hits ON fingerprint_hit_counts (hits, url_id);

-- What was recorded before this migration.
INSERT INTO fingerprint_ip_sessions (ip, session_id)
SELECT DISTINCT ip, session_id FROM fingerprint_request_fingerprints WHERE ip IS NOT NULL;

INSERT INTO fingerprint_daily_sessions (day, session_id)
SELECT DISTINCT created_at / 86400000000, session_id FROM fingerprint_request_fingerprints;

WITH r AS (
    SELECT id, session_id, created_at, created_at / 86400000000 AS day,
           browser, os, device_type, country_code
    FROM fingerprint_request_fingerprints
), f AS (
    SELECT day, browser, os, device_type, country_code FROM (
        SELECT day, browser, os, device_type, country_code,
               ROW_NUMBER() OVER (PARTITION BY day, session_id ORDER BY created_at, id) AS n
        FROM r
    ) AS ranked WHERE n = 1
), counts (dimension, day, value, visits, visitors) AS (
    SELECT 'all', day, '', COUNT(*), 0 FROM r GROUP BY day
    UNION ALL SELECT 'all', day, '', 0, COUNT(*) FROM f GROUP BY day
    UNION ALL SELECT 'browser', day, browser, COUNT(*), 0 FROM r GROUP BY day, browser
    UNION ALL SELECT 'browser', day, browser, 0, COUNT(*) FROM f GROUP BY day, browser
    UNION ALL SELECT 'os', day, os, COUNT(*), 0 FROM r GROUP BY day, os
    UNION ALL SELECT 'os', day, os, 0, COUNT(*) FROM f GROUP BY day, os
    UNION ALL SELECT 'device', day, device_type, COUNT(*), 0 FROM r GROUP BY day, device_type
    UNION ALL SELECT 'device', day, device_type, 0, COUNT(*) FROM f GROUP BY day, device_type
    UNION ALL SELECT 'country', day, country_code, COUNT(*), 0 FROM r GROUP BY day, country_code
    UNION ALL SELECT 'country', day, country_code, 0, COUNT(*) FROM f GROUP BY day, country_code
)
INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors)
SELECT dimension, day, value, SUM(visits), SUM(visitors) FROM counts
GROUP BY dimension, day, value;
