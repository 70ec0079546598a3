-- Models with their metrics (JSON text), the promoted one first, newest next.
SELECT m.name AS name, m.version AS version, m.promoted AS promoted, m.metrics AS metrics,
       ss.name AS seed_set, m.uri AS uri, m.created_at AS created_at
FROM models m
LEFT JOIN seed_sets ss ON ss.id = m.seed_set_id
ORDER BY m.name, m.promoted DESC, m.created_at DESC, m.id DESC
