-- Why a snapshot's refine failed: a run that fails after planning books the snapshot
-- 'failed' with this error (redacted) instead of leaving it 'planned'; the next plan or
-- successful refine clears it.

ALTER TABLE snapshots ADD COLUMN error TEXT;
