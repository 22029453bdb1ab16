-- Where a pull source's next incremental read continues (a delta link, a timestamp, a USN), and
-- when its last full read finished (full reads heal drift on a cadence).
ALTER TABLE sources ADD COLUMN pull_cursor TEXT;
ALTER TABLE sources ADD COLUMN pull_last_full TEXT;
