-- The session assessment, made when the browser collector posts: a verdict and its findings
-- (a JSON array of {"reason": ..., "evidence": ...}). Sessions stored before have none.
ALTER TABLE fingerprint_sessions ADD COLUMN verdict TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_sessions ADD COLUMN findings TEXT NOT NULL DEFAULT '';
-- The sessions list filtered by verdict, newest first.
CREATE INDEX fingerprint_sessions_verdict ON fingerprint_sessions (verdict, created_at)
    WHERE verdict <> '';
