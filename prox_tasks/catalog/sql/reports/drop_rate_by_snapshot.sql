-- Drop and quarantine rates per snapshot over time (completed shards only).
-- The shards are summed per snapshot id first (in the order of the shards' index, no
-- sort), then named: grouped by the snapshot's name and date, SQLite sorted every shard row
-- (580 ms for a year of nightly snapshots of 500 shards).
SELECT s.name AS snapshot,
       s.created_at AS created_at,
       t.shards_done AS shards_done,
       t.docs_read AS docs_read,
       t.docs_kept AS docs_kept,
       t.docs_dropped AS docs_dropped,
       t.docs_quarantined AS docs_quarantined,
       ROUND(t.docs_dropped * 1.0 / NULLIF(t.docs_written, 0), 4) AS drop_rate,
       ROUND(t.docs_quarantined * 1.0 / NULLIF(t.docs_read, 0), 4) AS quarantine_rate
FROM (
    SELECT sh.snapshot_id AS snapshot_id,
           COUNT(sh.id) AS shards_done,
           SUM(sh.docs_read) AS docs_read,
           SUM(sh.docs_written) AS docs_written,
           SUM(sh.docs_kept) AS docs_kept,
           SUM(sh.docs_dropped) AS docs_dropped,
           SUM(sh.docs_quarantined) AS docs_quarantined
    FROM shards sh
    WHERE sh.status = 'done'
    GROUP BY sh.snapshot_id) t
JOIN snapshots s ON s.id = t.snapshot_id
ORDER BY s.created_at, s.name
