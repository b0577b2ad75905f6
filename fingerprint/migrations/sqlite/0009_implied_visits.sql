-- A session created by a request brings its first pairs with it: the day of that request
-- (days since the Unix epoch, as in fingerprint_daily_sessions) and, when the visit counted,
-- its URL (a unique visit, as in fingerprint_url_visitors). record() reads the pairs here
-- instead of writing two rows for every new session. A purge that deletes the last request
-- of a pair clears it, and the unique visit leaves the counters as a row would. Sessions
-- stored before this migration (and those a browser visit or a login created) have none:
-- their pairs are rows.
ALTER TABLE fingerprint_sessions ADD COLUMN first_day INTEGER;
ALTER TABLE fingerprint_sessions ADD COLUMN first_url_id INTEGER;
