-- What a shard's written documents came to beyond kept/dropped: drops by reason (junk drops
-- of the model apart from the document-quality decision's) and program errors by kind.

ALTER TABLE shards ADD COLUMN drop_reasons TEXT;
ALTER TABLE shards ADD COLUMN program_errors TEXT;
ALTER TABLE shards ADD COLUMN docs_with_program_errors INTEGER;
