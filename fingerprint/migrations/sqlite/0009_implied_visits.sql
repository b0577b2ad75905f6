-- A session created by a request brings its first (day, session) pair with it: the day of
-- that request (days since the Unix epoch, as in fingerprint_daily_sessions). record() reads
-- the pair here instead of writing a fingerprint_daily_sessions row for every new session,
-- and a purge that deletes the last request of that day clears it. Sessions stored before
-- this migration (and those a browser visit or a login created) have none: their pairs are
-- rows.
ALTER TABLE fingerprint_sessions ADD COLUMN first_day INTEGER;
