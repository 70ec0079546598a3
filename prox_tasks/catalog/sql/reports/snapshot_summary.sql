-- One row per snapshot (or only :snapshot; NULL for all): its columns (error: why its last
-- refine failed), shard totals (completed shards' documents) and its latest report of suite
-- :suite (success, stats, report_uri).
-- The shard totals are the snapshot's own columns, kept as its shards are booked (migration
-- 0011): summing every shard row of every snapshot on each view took 0.4-0.5 s for a year
-- of nightly snapshots of 500 shards on SQLite, a shard row more each shard of each night.
SELECT s.id AS id, s.name AS name, s.status AS status, s.created_at AS created_at,
       s.logical_date AS logical_date, s.dag_run_id AS dag_run_id,
       s.model_version AS model_version, s.output_uri AS output_uri, s.error AS error,
       s.docs_planned AS docs_planned, s.num_shards AS num_shards,
       s.shards_booked AS shards, s.shards_done AS shards_done,
       s.shard_attempts AS attempts,
       s.done_docs_kept AS docs_kept, s.done_docs_dropped AS docs_dropped,
       s.done_docs_quarantined AS docs_quarantined,
       q.success AS gate_success, q.stats AS gate_stats, q.report_uri AS gate_report_uri
FROM snapshots s
LEFT JOIN quality_reports q ON q.id = (
    SELECT q2.id FROM quality_reports q2
    WHERE q2.snapshot_id = s.id AND (:suite IS NULL OR q2.suite = :suite)
    ORDER BY q2.created_at DESC, q2.id DESC LIMIT 1)
WHERE (:snapshot IS NULL OR s.name = :snapshot)
ORDER BY s.created_at, s.id
