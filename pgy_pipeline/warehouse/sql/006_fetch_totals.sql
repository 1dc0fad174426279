-- Schema version 6: each fetch's totals over its snapshots, written with them.
--
-- The report draws each KOL's totals across its complete full fetches. Summed from note_snapshots
-- at every report, that read the whole history: a year of daily fetches of 1,000 KOLs (46 million
-- snapshots) took ~1.3 s of every report, even one that changed no page. The writer now stores each
-- fetch's totals in the same transaction as its snapshots (warehouse/writes.py), from the stored
-- snapshots of that fetch, so they cannot disagree; the fetches written before are summed here once.

CREATE TABLE fetch_totals (
    fetch_id     VARCHAR NOT NULL,  -- unique by construction (writes.py); no index, as note_snapshots
    notes        BIGINT NOT NULL,
    reads        BIGINT,
    like_collect BIGINT
);

INSERT INTO fetch_totals BY NAME
SELECT fetch_id, count(*) AS notes, sum(read_num) AS reads, sum(like_num + collect_num) AS like_collect
FROM note_snapshots GROUP BY fetch_id;

COMMENT ON TABLE fetch_totals IS 'Totals of each fetch''s snapshots (one row per fetch that listed a note), written with them: what the report draws as a KOL''s totals across refreshes (its complete full fetches). Equal to summing note_snapshots by fetch_id.';
COMMENT ON COLUMN fetch_totals.fetch_id IS 'The fetch (see fetches).';
COMMENT ON COLUMN fetch_totals.notes IS 'Snapshots of the fetch: the distinct notes it listed.';
COMMENT ON COLUMN fetch_totals.reads IS 'Sum of read_num over them (NULL values left out; NULL when every one is NULL).';
COMMENT ON COLUMN fetch_totals.like_collect IS 'Sum of like_num + collect_num over them (a snapshot missing either is left out; NULL when every one is).';
