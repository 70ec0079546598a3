-- The catalog: snapshots and their shards, seed sets, models, quality reports, releases.

CREATE TABLE snapshots (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    input_uri TEXT NOT NULL,
    output_uri TEXT NOT NULL,
    manifest_uri TEXT,
    manifest_id TEXT,
    status TEXT NOT NULL DEFAULT 'planned',
    num_shards INTEGER NOT NULL DEFAULT 0,
    docs_planned INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE shards (
    id {{id}},
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    shard_index INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'planned',
    attempts INTEGER NOT NULL DEFAULT 0,
    docs_planned INTEGER NOT NULL DEFAULT 0,
    bytes_planned BIGINT NOT NULL DEFAULT 0,
    docs_read INTEGER,
    docs_written INTEGER,
    docs_kept INTEGER,
    docs_dropped INTEGER,
    docs_quarantined INTEGER,
    quarantine_reasons TEXT,
    output_uri TEXT,
    output_bytes BIGINT,
    checksum TEXT,
    error TEXT,
    started_at TEXT,
    finished_at TEXT,
    UNIQUE (snapshot_id, shard_index)
);

CREATE TABLE seed_sets (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    teacher TEXT NOT NULL,
    uri TEXT NOT NULL,
    num_docs INTEGER NOT NULL DEFAULT 0,
    stats TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE models (
    id {{id}},
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    uri TEXT NOT NULL,
    base TEXT,
    seed_set_id INTEGER REFERENCES seed_sets (id),
    metrics TEXT,
    promoted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE quality_reports (
    id {{id}},
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    suite TEXT NOT NULL,
    success INTEGER NOT NULL,
    stats TEXT,
    report_uri TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE releases (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    snapshot_id INTEGER NOT NULL REFERENCES snapshots (id),
    quality_report_id INTEGER REFERENCES quality_reports (id),
    model_id INTEGER REFERENCES models (id),
    uri TEXT NOT NULL,
    notes TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX ix_shards_status ON shards (snapshot_id, status);
CREATE INDEX ix_quality_reports_snapshot ON quality_reports (snapshot_id, created_at);
