-- Quarantine reasons (JSON text per shard) of one snapshot (:snapshot), per shard.
SELECT sh.shard_index AS shard_index, sh.docs_quarantined AS docs_quarantined,
       sh.quarantine_reasons AS reasons
FROM shards sh
JOIN snapshots s ON s.id = sh.snapshot_id
WHERE s.name = :snapshot AND sh.docs_quarantined > 0
ORDER BY sh.shard_index
