-- A request fingerprint takes its url_id, profile_id and referer_id, and a session its
-- referer_id, from rows the store inserted itself and never deletes (a URL, a header profile
-- or a referer stays for good). PostgreSQL checked each of these keys for every inserted row,
-- one lookup and row lock each: about a third of the database's time on a batch of new
-- visitors (BENCHMARKS.md). The keys to fingerprint_sessions stay: sessions are deleted (by
-- a purge or an erasure), and the key keeps a row from outliving its session.
ALTER TABLE fingerprint_request_fingerprints DROP CONSTRAINT IF EXISTS fingerprint_requests_new_url_id_fkey;
ALTER TABLE fingerprint_request_fingerprints DROP CONSTRAINT IF EXISTS fingerprint_requests_new_profile_id_fkey;
ALTER TABLE fingerprint_request_fingerprints DROP CONSTRAINT IF EXISTS fingerprint_requests_new_referer_id_fkey;
ALTER TABLE fingerprint_sessions DROP CONSTRAINT IF EXISTS fingerprint_sessions_referer_id_fkey
