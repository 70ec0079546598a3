-- Input problems of a shard that lost no record, by kind (misnamed_compression: a .jsonl.gz
-- holding plain text, read as plain): reported beside the quarantine reasons.

ALTER TABLE shards ADD COLUMN input_notices TEXT;
