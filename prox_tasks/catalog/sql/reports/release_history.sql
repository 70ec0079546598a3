-- Releases with their snapshot, gate result and model (the version the snapshot was refined
-- with when the model has no registry row: an ad-hoc path, the embedded default) and the
-- Airflow run that released it (empty: released by `prox release`, or before migration 0009)
-- and who released it (JSON: the DAG run or `prox release`'s user and host; empty: booked
-- before migration 0010).
SELECT r.name AS release, s.name AS snapshot, r.docs AS docs, q.suite AS suite,
       q.success AS gate_passed, m.name AS model,
       COALESCE(m.version, s.model_version) AS model_version, r.uri AS uri,
       r.created_at AS created_at, r.dag_run_id AS dag_run_id, r.released_by AS released_by
FROM releases r
JOIN snapshots s ON s.id = r.snapshot_id
LEFT JOIN quality_reports q ON q.id = r.quality_report_id
LEFT JOIN models m ON m.id = r.model_id
ORDER BY r.created_at, r.id
