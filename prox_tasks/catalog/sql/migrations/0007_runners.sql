-- Who booked a shard's running attempt (host, process id and start time, the Airflow task
-- try), so a later run or try can tell an attempt whose process was killed outright (SIGKILL,
-- out of memory, a lost worker) and book it failed instead of leaving it 'running'; and who
-- booked a snapshot's plan last, so a run that was replaced does not book over the status of
-- the run that replaced it.

ALTER TABLE shards ADD COLUMN runner TEXT;
ALTER TABLE snapshots ADD COLUMN runner TEXT;
