-- Drop and quarantine rates per snapshot over time (completed shards only).
-- The completed shards' totals are the snapshot's own columns, kept as its shards are
-- booked (migration 0011): summing every done shard row of every snapshot took 580 ms for a
-- year of nightly snapshots of 500 shards on SQLite. A snapshot without a done shard is
-- not listed.
SELECT s.name AS snapshot,
       s.created_at AS created_at,
       s.shards_done AS shards_done,
       s.done_docs_read AS docs_read,
       s.done_docs_kept AS docs_kept,
       s.done_docs_dropped AS docs_dropped,
       s.done_docs_quarantined AS docs_quarantined,
       ROUND(s.done_docs_dropped * 1.0 / NULLIF(s.done_docs_written, 0), 4) AS drop_rate,
       ROUND(s.done_docs_quarantined * 1.0 / NULLIF(s.done_docs_read, 0), 4) AS quarantine_rate
FROM snapshots s
WHERE s.shards_done > 0
ORDER BY s.created_at, s.name
