-- Network fingerprints: the JA4 of the TLS ClientHello, the HTTP/2 fingerprint of the
-- connection and the request's header fingerprint. They repeat like the headers of a profile
-- (one browser build sends the same ones), so they are part of it. Profiles stored before
-- have them empty, and keep their keys (the key covers these values only when one is set).
ALTER TABLE fingerprint_profiles ADD COLUMN ja4 TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_profiles ADD COLUMN http2 TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_profiles ADD COLUMN headers TEXT NOT NULL DEFAULT '';

-- The daily breakdowns by these values: every visit stored so far had them empty.
INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors)
SELECT 'ja4', day, '', visits, visitors FROM fingerprint_daily WHERE dimension = 'all';
INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors)
SELECT 'http2', day, '', visits, visitors FROM fingerprint_daily WHERE dimension = 'all';
INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors)
SELECT 'headers', day, '', visits, visitors FROM fingerprint_daily WHERE dimension = 'all';
