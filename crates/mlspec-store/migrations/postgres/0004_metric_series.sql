-- mlspec store schema version 4 (PostgreSQL): metric series beside the documents
-- (src/series.rs). A run's metric history is kept per (run, key) in chunks of 1024 points, in
-- logged order: a compressed columnar body and the envelopes of its 64-point sub-buckets
-- (src/chunk.rs), so a long curve is drawn without decoding its points. Only a series' last
-- chunk is open; once full it is sealed, chained by hash to the series' previous sealed chunk,
-- and never changes. Nothing is deleted. Stores upgraded from version 3 start with no series:
-- runs are read from their documents' metrics until a writer appends.

CREATE TABLE metric_series (
    series_id BIGSERIAL PRIMARY KEY,
    run_key BIGINT NOT NULL,
    key TEXT NOT NULL,
    points BIGINT NOT NULL,
    min_step BIGINT,
    max_step BIGINT,
    min_us BIGINT,
    max_us BIGINT,
    first_value DOUBLE PRECISION,
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    last_value DOUBLE PRECISION,
    head_hash BYTEA NOT NULL,
    UNIQUE (run_key, key)
);
CREATE TRIGGER metric_series_refuse_delete BEFORE DELETE ON metric_series
    FOR EACH ROW EXECUTE FUNCTION mlspec_refuse();
CREATE TRIGGER metric_series_refuse_truncate BEFORE TRUNCATE ON metric_series
    FOR EACH STATEMENT EXECUTE FUNCTION mlspec_refuse();

CREATE TABLE metric_chunks (
    series_id BIGINT NOT NULL,
    chunk_no BIGINT NOT NULL,
    sealed BIGINT NOT NULL,
    points BIGINT NOT NULL,
    min_step BIGINT NOT NULL,
    max_step BIGINT NOT NULL,
    min_us BIGINT,
    max_us BIGINT,
    envelope BYTEA NOT NULL,
    body BYTEA NOT NULL,
    hash BYTEA,
    PRIMARY KEY (series_id, chunk_no)
);
-- The body is compressed already: kept out of line as it is, not compressed again.
ALTER TABLE metric_chunks ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX metric_chunks_by_step ON metric_chunks (series_id, min_step, max_step);
CREATE FUNCTION mlspec_refuse_sealed_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.sealed = 1 THEN
        RAISE EXCEPTION 'mlspec: sealed metric chunks are append-only';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER metric_chunks_sealed BEFORE UPDATE ON metric_chunks
    FOR EACH ROW EXECUTE FUNCTION mlspec_refuse_sealed_chunk();
CREATE TRIGGER metric_chunks_refuse_delete BEFORE DELETE ON metric_chunks
    FOR EACH ROW EXECUTE FUNCTION mlspec_refuse();
CREATE TRIGGER metric_chunks_refuse_truncate BEFORE TRUNCATE ON metric_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION mlspec_refuse();
