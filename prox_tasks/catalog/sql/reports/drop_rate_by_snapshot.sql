-- Drop and quarantine rates per snapshot over time (completed shards only).
SELECT s.name AS snapshot,
       s.created_at AS created_at,
       COUNT(sh.id) AS shards_done,
       SUM(sh.docs_read) AS docs_read,
       SUM(sh.docs_kept) AS docs_kept,
       SUM(sh.docs_dropped) AS docs_dropped,
       SUM(sh.docs_quarantined) AS docs_quarantined,
       ROUND(SUM(sh.docs_dropped) * 1.0 / NULLIF(SUM(sh.docs_written), 0), 4) AS drop_rate,
       ROUND(SUM(sh.docs_quarantined) * 1.0 / NULLIF(SUM(sh.docs_read), 0), 4) AS quarantine_rate
FROM snapshots s
JOIN shards sh ON sh.snapshot_id = s.id AND sh.status = 'done'
GROUP BY s.id, s.name, s.created_at
ORDER BY s.created_at, s.name
