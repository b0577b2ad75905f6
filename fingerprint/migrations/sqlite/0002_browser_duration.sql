ALTER TABLE fingerprint_browser_fingerprints ADD COLUMN duration_ms INTEGER;
