-- Which Airflow run released a snapshot (its release task's run id): the snapshot's own
-- dag_run_id names the run that booked its plan last, which a later rerun of the date
-- overwrites. Empty for a release made by `prox release` or booked before this migration.

ALTER TABLE releases ADD COLUMN dag_run_id TEXT;
