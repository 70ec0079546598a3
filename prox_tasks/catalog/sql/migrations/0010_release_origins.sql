-- Who released a snapshot (JSON, prox_tasks.release.origin): the DAG run of its release task
-- ({"origin": "dag_run", "dag_id", "run_id"}) or `prox release` ({"origin": "cli", "user",
-- "host"}). Empty for a release booked before this migration: a row with a dag_run_id was
-- released by that run; one without is unknown (`prox release`, or booked before 0009).

ALTER TABLE releases ADD COLUMN released_by TEXT;
