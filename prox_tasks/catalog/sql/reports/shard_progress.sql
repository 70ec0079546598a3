-- Shard counts by status for one snapshot (:snapshot), with attempts and unbalanced shards.
SELECT sh.status AS status,
       COUNT(*) AS shards,
       SUM(sh.attempts) AS attempts,
       SUM(sh.docs_planned) AS docs_planned,
       SUM(CASE WHEN sh.docs_read IS NOT NULL
                 AND sh.docs_read <> sh.docs_written + sh.docs_quarantined THEN 1 ELSE 0 END)
           AS unbalanced
FROM shards sh
JOIN snapshots s ON s.id = sh.snapshot_id
WHERE s.name = :snapshot
GROUP BY sh.status
ORDER BY sh.status
