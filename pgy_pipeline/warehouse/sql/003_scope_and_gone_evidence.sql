-- Schema version 3: the scope of every sighting, and notes marked gone only on evidence.
--
-- isThirdPlatform=YES lists notes the default listing does not (disjoint sets), so each
-- sighting records which listing it came from, and the gone rule compares like with like.
-- The gone marks of the one-fetch rule are recomputed here with the two-fetch rule
-- (warehouse/gone.py), so that the data agrees with a rebuild from the raw layer.

-- NOT NULL first: DuckDB cannot add the constraint after updates in the same transaction.
ALTER TABLE note_snapshots ADD COLUMN scope VARCHAR DEFAULT 'default';
ALTER TABLE note_snapshots ALTER COLUMN scope SET NOT NULL;
ALTER TABLE notes ADD COLUMN scope VARCHAR DEFAULT 'default';
ALTER TABLE notes ALTER COLUMN scope SET NOT NULL;

UPDATE note_snapshots SET scope = 'third_platform'
WHERE fetch_id IN (SELECT fetch_id FROM fetches WHERE is_third_platform = 'YES');
UPDATE notes SET scope = s.scope
FROM (SELECT user_id, note_id, min(scope) AS scope FROM note_snapshots GROUP BY user_id, note_id) s
WHERE notes.user_id = s.user_id AND notes.note_id = s.note_id AND notes.scope <> s.scope;

-- The rule of version 3, frozen here (the live copy is warehouse/gone.py).
UPDATE notes SET gone_at = g.gone_at
FROM (
    WITH evidence AS (
        SELECT user_id, CASE WHEN is_third_platform = 'YES' THEN 'third_platform' ELSE 'default' END AS scope,
               started_at,
               lead(finished_at) OVER (
                   PARTITION BY user_id, CASE WHEN is_third_platform = 'YES' THEN 'third_platform' ELSE 'default' END
                   ORDER BY started_at, fetch_id
               ) AS gone_at
        FROM fetches
        WHERE status = 'complete' AND advertise_switch = 'ALL' AND note_type = 'ALL'
          AND coalesce(stop_reason, '') NOT IN ('window_reached', 'short_of_total', 'page_cap') AND started_at IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY user_id, CASE WHEN is_third_platform = 'YES' THEN 'third_platform' ELSE 'default' END, started_at
            ORDER BY fetch_id
        ) = 1
    )
    SELECT n.user_id, n.note_id, e.gone_at
    FROM notes n ASOF LEFT JOIN evidence e
      ON n.user_id = e.user_id AND n.scope = e.scope AND n.last_seen_at < e.started_at
) g
WHERE notes.user_id = g.user_id AND notes.note_id = g.note_id AND notes.gone_at IS DISTINCT FROM g.gone_at;

COMMENT ON COLUMN notes.scope IS 'Listing the note belongs to: default (the endpoint''s default listing) or third_platform (only listed with isThirdPlatform=YES; the two sets are disjoint). A note ever seen in the default listing is default. Engagement tables and views cover the default scope.';
COMMENT ON COLUMN note_snapshots.scope IS 'Listing of the fetch that observed these values: default or third_platform (the fetch asked isThirdPlatform=YES).';
COMMENT ON COLUMN notes.gone_at IS 'Set when the note was absent from two consecutive complete fetches of its scope (status complete, no advertiseSwitch or noteType filter; any orderType): the finished_at of the second. Evidence, not one answer: a single glitchy answer (an empty page, total 0) never marks a note gone. The row and its history are kept; NULL while live; cleared when the note is seen again. A function of the fetches, so a rebuild from the raw layer gives the same marks.';
COMMENT ON COLUMN notes.read_num IS 'Reads (阅读量) as of the last fetch that gave a value; a later NULL from the API never overwrites a known value (note_snapshots keeps the NULL). NULL only when never known (never silently 0).';
COMMENT ON COLUMN notes.like_num IS 'Likes (点赞), the last known value (a NULL from the API keeps the previous one); NULL when never known.';
COMMENT ON COLUMN notes.collect_num IS 'Collects/saves (收藏), the last known value (a NULL from the API keeps the previous one); NULL when never known.';
COMMENT ON COLUMN notes.third_read_user_num IS 'Readers from third-party platforms (thirdReadUserNum), the last known value; NULL when never known.';
COMMENT ON COLUMN notes.publish_date IS 'Publish date of the note (the API''s `date`, China calendar date). Only a YYYY-MM-DD string that is a real date is read; anything else is NULL.';
COMMENT ON COLUMN fetches.is_full IS 'TRUE when the fetch used no filter at all (default listing, every note). The gone rule reads the filter columns instead: a complete fetch with advertiseSwitch=ALL and noteType=ALL is full for its scope (isThirdPlatform).';
COMMENT ON COLUMN fetches.null_metrics IS 'Metric values the API sent as null, missing or unreadable, stored as NULL in note_snapshots (counted by the warehouse from the raw pages).';
COMMENT ON COLUMN fetches.status IS 'complete (every note the API reported was read), incomplete (stopped short: page cap, fewer notes than total, date window) or failed (see error_*).';
COMMENT ON COLUMN fetches.stop_reason IS 'Why paging stopped: empty_page, short_page, total_reached, page_cap, short_of_total or window_reached.';
