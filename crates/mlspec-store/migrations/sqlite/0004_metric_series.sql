-- mlspec store schema version 4 (SQLite): metric series beside the documents (src/series.rs).
-- A run's metric history is kept per (run, key) in chunks of 1024 points, in logged order: a
-- compressed columnar body and the envelopes of its 64-point sub-buckets (src/chunk.rs), so a
-- long curve is drawn without decoding its points. Only a series' last chunk is open; once
-- full it is sealed, chained by hash to the series' previous sealed chunk, and never changes.
-- Nothing is deleted. Stores upgraded from version 3 start with no series: runs are read from
-- their documents' metrics until a writer appends.
-- metric_chunks keeps its rowid: a chunk row is about 12 KB, and in a WITHOUT ROWID table
-- (an index b-tree) only its first kilobyte would stay on its page, so reading the envelopes
-- (which come before the body) would follow an overflow page for every chunk.

CREATE TABLE metric_series (
    series_id INTEGER PRIMARY KEY NOT NULL,
    run_key BIGINT NOT NULL,
    key TEXT NOT NULL,
    points BIGINT NOT NULL,
    min_step BIGINT,
    max_step BIGINT,
    min_us BIGINT,
    max_us BIGINT,
    first_value REAL,
    min_value REAL,
    max_value REAL,
    last_value REAL,
    head_hash BLOB NOT NULL,
    UNIQUE (run_key, key)
);
CREATE TRIGGER metric_series_refuse_delete BEFORE DELETE ON metric_series
BEGIN SELECT RAISE(ABORT, 'mlspec: metric series are never deleted'); END;

CREATE TABLE metric_chunks (
    series_id BIGINT NOT NULL,
    chunk_no BIGINT NOT NULL,
    sealed INTEGER NOT NULL,
    points INTEGER NOT NULL,
    min_step BIGINT NOT NULL,
    max_step BIGINT NOT NULL,
    min_us BIGINT,
    max_us BIGINT,
    envelope BLOB NOT NULL,
    body BLOB NOT NULL,
    hash BLOB,
    PRIMARY KEY (series_id, chunk_no)
);
CREATE INDEX metric_chunks_by_step ON metric_chunks (series_id, min_step, max_step);
CREATE TRIGGER metric_chunks_sealed BEFORE UPDATE ON metric_chunks WHEN OLD.sealed = 1
BEGIN SELECT RAISE(ABORT, 'mlspec: sealed metric chunks are append-only'); END;
CREATE TRIGGER metric_chunks_refuse_delete BEFORE DELETE ON metric_chunks
BEGIN SELECT RAISE(ABORT, 'mlspec: metric points are never deleted'); END;
