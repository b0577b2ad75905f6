-- The request assessment (verdict and reason codes) is part of the header profile: it is
-- derived from the same repeating values. Profiles stored before have it empty.
ALTER TABLE fingerprint_profiles ADD COLUMN verdict TEXT NOT NULL DEFAULT '';
ALTER TABLE fingerprint_profiles ADD COLUMN reasons TEXT NOT NULL DEFAULT '';

-- The daily breakdown by verdict: every visit stored so far had none.
INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors)
SELECT 'verdict', day, '', visits, visitors FROM fingerprint_daily WHERE dimension = 'all';
