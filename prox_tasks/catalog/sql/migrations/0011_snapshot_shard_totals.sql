-- Each snapshot's shard totals, kept as its shards are booked (prox_tasks.catalog.catalog:
-- every statement that writes shard rows adjusts them in its transaction), so the PROX
-- report's overview reads one row a snapshot instead of summing every shard row of every
-- snapshot on each view (0.4-0.5 s for a year of nightly snapshots of 500 shards, growing
-- with the nights kept). shards_booked: the snapshot's shard rows; shards_done: those
-- 'done'; shard_attempts: the attempts of all; done_docs_*: the documents of the 'done'
-- ones. Existing snapshots get their totals from their shard rows here.

ALTER TABLE snapshots ADD COLUMN shards_booked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN shards_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN shard_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN done_docs_read BIGINT NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN done_docs_written BIGINT NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN done_docs_kept BIGINT NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN done_docs_dropped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN done_docs_quarantined BIGINT NOT NULL DEFAULT 0;

UPDATE snapshots SET
    shards_booked = (SELECT COUNT(*) FROM shards sh WHERE sh.snapshot_id = snapshots.id),
    shards_done = (SELECT COUNT(*) FROM shards sh
                   WHERE sh.snapshot_id = snapshots.id AND sh.status = 'done'),
    shard_attempts = (SELECT COALESCE(SUM(sh.attempts), 0) FROM shards sh
                      WHERE sh.snapshot_id = snapshots.id),
    done_docs_read = (SELECT COALESCE(SUM(sh.docs_read), 0) FROM shards sh
                      WHERE sh.snapshot_id = snapshots.id AND sh.status = 'done'),
    done_docs_written = (SELECT COALESCE(SUM(sh.docs_written), 0) FROM shards sh
                         WHERE sh.snapshot_id = snapshots.id AND sh.status = 'done'),
    done_docs_kept = (SELECT COALESCE(SUM(sh.docs_kept), 0) FROM shards sh
                      WHERE sh.snapshot_id = snapshots.id AND sh.status = 'done'),
    done_docs_dropped = (SELECT COALESCE(SUM(sh.docs_dropped), 0) FROM shards sh
                         WHERE sh.snapshot_id = snapshots.id AND sh.status = 'done'),
    done_docs_quarantined = (SELECT COALESCE(SUM(sh.docs_quarantined), 0) FROM shards sh
                             WHERE sh.snapshot_id = snapshots.id AND sh.status = 'done');
