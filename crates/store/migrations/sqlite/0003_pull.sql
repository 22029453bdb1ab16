-- Pull sources: what idsync reads (the connector's settings as JSON), the sealed credentials, and
-- what incremental reads need between runs (delta links, timestamps).
ALTER TABLE sources ADD COLUMN pull_config TEXT;
ALTER TABLE sources ADD COLUMN pull_secret BLOB;
ALTER TABLE sources ADD COLUMN pull_state TEXT;
