-- One row per snapshot (or only :snapshot; NULL for all): its columns (error: why its last
-- refine failed), shard totals (completed shards' documents) and its latest report of suite
-- :suite (success, stats, report_uri).
-- The shards are summed per snapshot id first (the inner query, grouped by the id alone),
-- then joined to the snapshot's columns and report: grouped by every column, the report's
-- stats included, each shard row carried them into the grouping sort (2 s for a year of
-- nightly snapshots of 500 shards on SQLite, a shard row more each shard of each night).
SELECT s.id AS id, s.name AS name, s.status AS status, s.created_at AS created_at,
       s.logical_date AS logical_date, s.dag_run_id AS dag_run_id,
       s.model_version AS model_version, s.output_uri AS output_uri, s.error AS error,
       s.docs_planned AS docs_planned, s.num_shards AS num_shards,
       t.shards AS shards, t.shards_done AS shards_done, t.attempts AS attempts,
       t.docs_kept AS docs_kept, t.docs_dropped AS docs_dropped,
       t.docs_quarantined AS docs_quarantined,
       q.success AS gate_success, q.stats AS gate_stats, q.report_uri AS gate_report_uri
FROM (
    SELECT s.id AS snapshot_id,
           COUNT(sh.id) AS shards,
           SUM(CASE WHEN sh.status = 'done' THEN 1 ELSE 0 END) AS shards_done,
           COALESCE(SUM(sh.attempts), 0) AS attempts,
           COALESCE(SUM(CASE WHEN sh.status = 'done' THEN sh.docs_kept END), 0) AS docs_kept,
           COALESCE(SUM(CASE WHEN sh.status = 'done' THEN sh.docs_dropped END), 0)
               AS docs_dropped,
           COALESCE(SUM(CASE WHEN sh.status = 'done' THEN sh.docs_quarantined END), 0)
               AS docs_quarantined
    FROM snapshots s
    LEFT JOIN shards sh ON sh.snapshot_id = s.id
    WHERE (:snapshot IS NULL OR s.name = :snapshot)
    GROUP BY s.id) t
JOIN snapshots s ON s.id = t.snapshot_id
LEFT JOIN quality_reports q ON q.id = (
    SELECT q2.id FROM quality_reports q2
    WHERE q2.snapshot_id = s.id AND (:suite IS NULL OR q2.suite = :suite)
    ORDER BY q2.created_at DESC, q2.id DESC LIMIT 1)
ORDER BY s.created_at, s.id
