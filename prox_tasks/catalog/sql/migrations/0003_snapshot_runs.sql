-- Which Airflow run refined a snapshot, for which logical date, with which model version.

ALTER TABLE snapshots ADD COLUMN logical_date TEXT;
ALTER TABLE snapshots ADD COLUMN dag_run_id TEXT;
ALTER TABLE snapshots ADD COLUMN model_version TEXT;
