-- Schema version 1: the tables analysts build on. Every table and column carries a COMMENT
-- (read them with duckdb_tables() and duckdb_columns()).

CREATE TABLE IF NOT EXISTS kols (
    user_id    VARCHAR PRIMARY KEY,
    label      VARCHAR,
    added_at   TIMESTAMPTZ NOT NULL,
    removed_at TIMESTAMPTZ
);
COMMENT ON TABLE kols IS 'The KOL roster as the pipeline last saw it (data/kols.csv, the UI and `pgy kols`). A removed KOL keeps its row (removed_at set) and all its history.';
COMMENT ON COLUMN kols.user_id IS 'Xiaohongshu user id of the KOL (the Dagster partition key).';
COMMENT ON COLUMN kols.label IS 'Free-text label from the roster (e.g. the KOL''s display name); may be NULL.';
COMMENT ON COLUMN kols.added_at IS 'When the KOL first appeared on the roster (UTC).';
COMMENT ON COLUMN kols.removed_at IS 'When the KOL was removed from the roster (UTC); NULL while on the roster.';

CREATE TABLE IF NOT EXISTS notes (
    user_id             VARCHAR NOT NULL,
    note_id             VARCHAR NOT NULL,
    title               VARCHAR,
    publish_date        DATE,
    is_video            BOOLEAN,
    is_advertise        BOOLEAN,
    brand_name          VARCHAR,
    img_url             VARCHAR,
    read_num            BIGINT,
    like_num            BIGINT,
    collect_num         BIGINT,
    third_read_user_num BIGINT,
    first_seen_at       TIMESTAMPTZ NOT NULL,
    last_seen_at        TIMESTAMPTZ NOT NULL,
    gone_at             TIMESTAMPTZ,
    last_fetch_id       VARCHAR NOT NULL
    -- (user_id, note_id) is unique by construction (one writer, MERGE): no index to slow
    -- bulk writes down; the notes_unique_per_kol asset check verifies it.
);
COMMENT ON TABLE notes IS 'One row per (user_id, note_id): the latest known state of every note of every KOL, from the PGY Notes Details (V1) endpoint. Metrics are cumulative totals as of last_seen_at; their history is in note_snapshots.';
COMMENT ON COLUMN notes.user_id IS 'Xiaohongshu user id of the KOL who published the note.';
COMMENT ON COLUMN notes.note_id IS 'Xiaohongshu note id (24 hex characters).';
COMMENT ON COLUMN notes.title IS 'Note title as published (may contain emoji).';
COMMENT ON COLUMN notes.publish_date IS 'Publish date of the note (the API''s `date`, China calendar date).';
COMMENT ON COLUMN notes.is_video IS 'TRUE for a video note, FALSE for a photo-and-text note; NULL when the API did not say.';
COMMENT ON COLUMN notes.is_advertise IS 'TRUE when PGY flags the note as advertising (a paid cooperation note).';
COMMENT ON COLUMN notes.brand_name IS 'Brand of a cooperation note; NULL for organic notes.';
COMMENT ON COLUMN notes.img_url IS 'Cover image URL.';
COMMENT ON COLUMN notes.read_num IS 'Reads (阅读量) as of last_seen_at; NULL when the API sent no usable value (never silently 0).';
COMMENT ON COLUMN notes.like_num IS 'Likes (点赞) as of last_seen_at; NULL when unknown.';
COMMENT ON COLUMN notes.collect_num IS 'Collects/saves (收藏) as of last_seen_at; NULL when unknown.';
COMMENT ON COLUMN notes.third_read_user_num IS 'Readers from third-party platforms (thirdReadUserNum); NULL when unknown.';
COMMENT ON COLUMN notes.first_seen_at IS 'When the pipeline first fetched this note (UTC).';
COMMENT ON COLUMN notes.last_seen_at IS 'When a fetch last returned this note (UTC); the metrics are as of this time.';
COMMENT ON COLUMN notes.gone_at IS 'Set when a complete, unfiltered fetch of the KOL no longer returned the note (deleted or hidden); the row is kept. NULL while the note is live. Cleared if the note comes back.';
COMMENT ON COLUMN notes.last_fetch_id IS 'The fetch (see fetches) that last wrote this row.';

CREATE TABLE IF NOT EXISTS note_snapshots (
    fetch_id            VARCHAR NOT NULL,
    user_id             VARCHAR NOT NULL,
    note_id             VARCHAR NOT NULL,
    fetched_at          TIMESTAMPTZ NOT NULL,
    page_number         INTEGER NOT NULL,
    read_num            BIGINT,
    like_num            BIGINT,
    collect_num         BIGINT,
    third_read_user_num BIGINT
    -- (fetch_id, note_id) is unique by construction; no index, for bulk write speed.
);
COMMENT ON TABLE note_snapshots IS 'Metrics history: one row per note per fetch. Trend a note by ordering its rows by fetched_at.';
COMMENT ON COLUMN note_snapshots.fetch_id IS 'The fetch that observed these values (see fetches).';
COMMENT ON COLUMN note_snapshots.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN note_snapshots.note_id IS 'Xiaohongshu note id.';
COMMENT ON COLUMN note_snapshots.fetched_at IS 'When the page holding the note was fetched (UTC).';
COMMENT ON COLUMN note_snapshots.page_number IS 'Page of the API listing the note was read from.';
COMMENT ON COLUMN note_snapshots.read_num IS 'Reads at fetched_at; NULL when unknown.';
COMMENT ON COLUMN note_snapshots.like_num IS 'Likes at fetched_at; NULL when unknown.';
COMMENT ON COLUMN note_snapshots.collect_num IS 'Collects at fetched_at; NULL when unknown.';
COMMENT ON COLUMN note_snapshots.third_read_user_num IS 'Third-party-platform readers at fetched_at; NULL when unknown.';

CREATE TABLE IF NOT EXISTS fetches (
    fetch_id          VARCHAR PRIMARY KEY,
    user_id           VARCHAR NOT NULL,
    run_id            VARCHAR,
    advertise_switch  VARCHAR NOT NULL,
    order_type        VARCHAR NOT NULL,
    note_type         VARCHAR NOT NULL,
    is_third_platform VARCHAR NOT NULL,
    is_full           BOOLEAN NOT NULL,
    status            VARCHAR NOT NULL,
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ NOT NULL,
    reported_total    INTEGER,
    reported_total_min INTEGER,
    notes_returned    INTEGER NOT NULL,
    pages             INTEGER NOT NULL,
    pages_reused      INTEGER NOT NULL,
    calls             INTEGER NOT NULL,
    retries           INTEGER NOT NULL,
    null_metrics      INTEGER NOT NULL,
    duplicates_dropped INTEGER NOT NULL,
    stop_reason       VARCHAR,
    error_code        INTEGER,
    error_kind        VARCHAR,
    failed_pages      VARCHAR,
    message           VARCHAR
);
COMMENT ON TABLE fetches IS 'One row per attempt to fetch all pages of one KOL with one set of filters: what it cost and how it ended.';
COMMENT ON COLUMN fetches.fetch_id IS 'Identifier of the fetch; raw pages live under data/raw/<user_id>/<fetch_id>.jsonl.';
COMMENT ON COLUMN fetches.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN fetches.run_id IS 'Dagster run that performed (or finished) the fetch.';
COMMENT ON COLUMN fetches.advertise_switch IS 'API filter advertiseSwitch: ALL or ORGANIC_ONLY.';
COMMENT ON COLUMN fetches.order_type IS 'API ordering orderType: LATEST, MOST_READ or MOST_INTERACT.';
COMMENT ON COLUMN fetches.note_type IS 'API filter noteType: ALL, COOPERATION, PHOTO_TEXT or VIDEO.';
COMMENT ON COLUMN fetches.is_third_platform IS 'API filter isThirdPlatform: NO or YES.';
COMMENT ON COLUMN fetches.is_full IS 'TRUE when the fetch used no filter (only such fetches may mark notes as gone).';
COMMENT ON COLUMN fetches.status IS 'complete (every page read), incomplete (page cap hit) or failed (see error_*).';
COMMENT ON COLUMN fetches.started_at IS 'When the first page of the fetch was bought (UTC).';
COMMENT ON COLUMN fetches.finished_at IS 'When the fetch ended (UTC).';
COMMENT ON COLUMN fetches.reported_total IS 'Largest `total` the API reported during the fetch (it drifts between calls).';
COMMENT ON COLUMN fetches.reported_total_min IS 'Smallest `total` the API reported during the fetch; with reported_total it bounds the drift.';
COMMENT ON COLUMN fetches.notes_returned IS 'Distinct notes the fetch returned (after de-duplication by note_id).';
COMMENT ON COLUMN fetches.pages IS 'Pages the fetch holds (bought now or reused from an earlier attempt).';
COMMENT ON COLUMN fetches.pages_reused IS 'Pages reused from an earlier failed attempt instead of being bought again.';
COMMENT ON COLUMN fetches.calls IS 'HTTP calls made by this attempt, retries included (each one is billed).';
COMMENT ON COLUMN fetches.retries IS 'Calls that were retries of a failed call.';
COMMENT ON COLUMN fetches.null_metrics IS 'Metric values the API sent as null, missing or unreadable (stored as NULL).';
COMMENT ON COLUMN fetches.duplicates_dropped IS 'Notes returned twice across pages (a note moved while paging) and dropped.';
COMMENT ON COLUMN fetches.stop_reason IS 'Why paging stopped: empty_page, short_page, total_reached or page_cap.';
COMMENT ON COLUMN fetches.error_code IS 'Business code of the failure (e.g. 301, 600), NULL for transport errors or success.';
COMMENT ON COLUMN fetches.error_kind IS 'What the failure asks for: retry, slow_down, stop (token/quota/balance/budget) or rejected.';
COMMENT ON COLUMN fetches.failed_pages IS 'Pages that could not be fetched, as "page:reason" items.';
COMMENT ON COLUMN fetches.message IS 'Human-readable outcome (never contains the token).';

CREATE TABLE IF NOT EXISTS api_calls (
    called_at   TIMESTAMPTZ NOT NULL,
    user_id     VARCHAR NOT NULL,
    page_number INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    http_status INTEGER,
    code        INTEGER,
    outcome     VARCHAR NOT NULL,
    latency_ms  DOUBLE,
    run_id      VARCHAR,
    fetch_id    VARCHAR
);
COMMENT ON TABLE api_calls IS 'Ledger of every HTTP call made to Just One API (each one is billed): sum it to know the spend.';
COMMENT ON COLUMN api_calls.called_at IS 'When the call was made (UTC).';
COMMENT ON COLUMN api_calls.user_id IS 'KOL the call was for.';
COMMENT ON COLUMN api_calls.page_number IS 'Page requested.';
COMMENT ON COLUMN api_calls.attempt IS '1 for the first try of a page, 2+ for retries.';
COMMENT ON COLUMN api_calls.http_status IS 'HTTP status of the answer; NULL when none came (timeout, connection error).';
COMMENT ON COLUMN api_calls.code IS 'Business code of the answer (0 = success); NULL when the body had none.';
COMMENT ON COLUMN api_calls.outcome IS 'ok, retry, slow_down, stop or rejected.';
COMMENT ON COLUMN api_calls.latency_ms IS 'Round-trip time of the call in milliseconds.';
COMMENT ON COLUMN api_calls.run_id IS 'Dagster run that made the call.';
COMMENT ON COLUMN api_calls.fetch_id IS 'Fetch the call belonged to.';
