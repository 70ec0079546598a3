-- Wall time per shard attempt (for throughput reports) and document counts per release.

ALTER TABLE shards ADD COLUMN wall_seconds REAL;
ALTER TABLE releases ADD COLUMN docs INTEGER;
CREATE INDEX ix_models_promoted ON models (name, promoted);
