-- Views: code, not schema. Re-created whenever this file changes (see migrations.py), so
-- they always match the pipeline's definitions. All read the tables of the migrations.

-- The one definition of "today" for every window of the views: the calendar day in
-- Asia/Shanghai (the platform's and the quota's day), whatever the connection's time zone.
CREATE OR REPLACE MACRO pgy_today() AS CAST(timezone('Asia/Shanghai', now()) AS DATE);

CREATE OR REPLACE VIEW note_engagement AS
SELECT
    n.user_id,
    n.note_id,
    n.publish_date,
    n.is_video,
    coalesce(n.is_advertise, false) OR n.brand_name IS NOT NULL AS is_cooperation,
    n.read_num,
    n.like_num,
    n.collect_num,
    n.like_num + n.collect_num AS like_collect,
    CASE WHEN n.read_num > 0 THEN (n.like_num + n.collect_num) / n.read_num END AS like_collect_rate,
    CASE WHEN n.read_num > 0 THEN n.like_num / n.read_num END AS like_rate,
    CASE WHEN n.read_num > 0 THEN n.collect_num / n.read_num END AS collect_rate,
    pgy_today() - n.publish_date AS age_days,
    n.last_seen_at
FROM notes n
WHERE n.gone_at IS NULL AND n.scope = 'default';
COMMENT ON VIEW note_engagement IS 'Per-note engagement of live notes of the default listing (gone notes and third_platform-scope notes left out: see notes.scope), always current with notes. like_collect = likes + collects; this endpoint has no comments or shares, so this is not the platform''s full engagement rate (互动率).';
COMMENT ON COLUMN note_engagement.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN note_engagement.note_id IS 'Xiaohongshu note id.';
COMMENT ON COLUMN note_engagement.publish_date IS 'Publish date of the note.';
COMMENT ON COLUMN note_engagement.is_video IS 'TRUE for a video note, FALSE for photo-and-text.';
COMMENT ON COLUMN note_engagement.is_cooperation IS 'TRUE for a cooperation (sponsored) note: flagged advertising or carrying a brand name.';
COMMENT ON COLUMN note_engagement.read_num IS 'Reads as of last_seen_at.';
COMMENT ON COLUMN note_engagement.like_num IS 'Likes as of last_seen_at.';
COMMENT ON COLUMN note_engagement.collect_num IS 'Collects as of last_seen_at.';
COMMENT ON COLUMN note_engagement.like_collect IS 'Likes + collects (赞藏); NULL when either is unknown.';
COMMENT ON COLUMN note_engagement.like_collect_rate IS 'like_collect / reads; NULL when reads are 0 or unknown. Not the full 互动率.';
COMMENT ON COLUMN note_engagement.like_rate IS 'Likes / reads; NULL when reads are 0 or unknown.';
COMMENT ON COLUMN note_engagement.collect_rate IS 'Collects / reads; NULL when reads are 0 or unknown.';
COMMENT ON COLUMN note_engagement.age_days IS 'Days since publish_date, today in Asia/Shanghai.';
COMMENT ON COLUMN note_engagement.last_seen_at IS 'When the metrics were fetched (UTC).';

CREATE OR REPLACE VIEW kol_leaderboard AS
SELECT e.user_id, k.label, count(*) AS notes,
       sum(e.like_collect) FILTER (WHERE e.read_num > 0) / nullif(sum(e.read_num) FILTER (WHERE e.like_collect IS NOT NULL), 0)
           AS like_collect_rate_pooled,
       median(e.like_collect_rate) AS like_collect_rate_median,
       median(e.read_num) AS reads_median,
       rank() OVER (ORDER BY sum(e.like_collect) FILTER (WHERE e.read_num > 0) / nullif(sum(e.read_num) FILTER (WHERE e.like_collect IS NOT NULL), 0) DESC NULLS LAST) AS rank
FROM note_engagement e LEFT JOIN kols k USING (user_id)
GROUP BY e.user_id, k.label
HAVING count(*) >= 10;
COMMENT ON VIEW kol_leaderboard IS 'KOLs ranked by pooled like_collect rate (likes + collects per read) over their live notes of the default listing (from note_engagement), only KOLs with at least 10 notes (fewer make the rate noise). Not the full 互动率: no comments or shares.';

CREATE OR REPLACE VIEW kol_organic_vs_cooperation AS
SELECT e.user_id, k.label,
       CASE WHEN e.is_cooperation THEN 'cooperation' ELSE 'organic' END AS kind,
       count(*) AS notes,
       median(e.read_num) AS reads_median,
       median(e.like_collect) AS like_collect_median,
       sum(e.like_collect) FILTER (WHERE e.read_num > 0) / nullif(sum(e.read_num) FILTER (WHERE e.like_collect IS NOT NULL), 0)
           AS like_collect_rate_pooled
FROM note_engagement e LEFT JOIN kols k USING (user_id)
GROUP BY ALL;
COMMENT ON VIEW kol_organic_vs_cooperation IS 'Per KOL, over live notes of the default listing (from note_engagement), organic (daily) notes against cooperation (advertised or branded) notes: how sponsored content performs next to the KOL''s own.';

CREATE OR REPLACE VIEW kol_recent_notes AS
SELECT n.user_id, n.note_id, n.title, n.publish_date, n.is_video,
       coalesce(n.is_advertise, false) OR n.brand_name IS NOT NULL AS is_cooperation, n.brand_name,
       n.read_num, n.like_num, n.collect_num, n.last_seen_at,
       n.publish_date > pgy_today() - 30 AS in_last_30d
FROM notes n
WHERE n.gone_at IS NULL AND n.scope = 'default' AND n.publish_date > pgy_today() - 90;
COMMENT ON VIEW kol_recent_notes IS 'Each KOL''s live notes of the default listing (notes.scope) published in the last 90 days up to today in Asia/Shanghai (in_last_30d marks the last 30), newest metrics.';

CREATE OR REPLACE VIEW note_growth AS
SELECT s.user_id, s.note_id, s.scope, s.fetched_at, s.read_num, s.like_num, s.collect_num,
       s.read_num - lag(s.read_num) OVER w AS reads_gained,
       s.like_num - lag(s.like_num) OVER w AS likes_gained,
       s.collect_num - lag(s.collect_num) OVER w AS collects_gained,
       s.fetched_at - lag(s.fetched_at) OVER w AS since_previous
FROM note_snapshots s
WINDOW w AS (PARTITION BY s.user_id, s.note_id ORDER BY s.fetched_at);
COMMENT ON VIEW note_growth IS 'Metric growth of each note between consecutive snapshots (NULL on its first snapshot).';

CREATE OR REPLACE VIEW api_spend_daily AS
SELECT CAST(timezone('Asia/Shanghai', called_at) AS DATE) AS day,
       count(*) FILTER (WHERE billed) AS calls_billed,
       count(*) FILTER (WHERE NOT billed) AS calls_unbilled,
       count(*) AS calls,
       count(*) FILTER (WHERE code = 0) AS calls_ok,
       count(*) FILTER (WHERE code IS DISTINCT FROM 0) AS calls_failed,
       count(DISTINCT user_id) AS kols,
       round(avg(latency_ms), 1) AS avg_latency_ms
FROM api_calls
GROUP BY ALL;
COMMENT ON VIEW api_spend_daily IS 'API spend per day (Asia/Shanghai, the quota''s day): calls_billed is what the vendor bills (codes 0 and 201); the other codes are free.';

COMMENT ON COLUMN kol_leaderboard.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN kol_leaderboard.label IS 'Roster label of the KOL.';
COMMENT ON COLUMN kol_leaderboard.notes IS 'Live notes counted (at least 10).';
COMMENT ON COLUMN kol_leaderboard.like_collect_rate_pooled IS 'Sum of likes + collects / sum of reads.';
COMMENT ON COLUMN kol_leaderboard.like_collect_rate_median IS 'Median per-note like_collect_rate.';
COMMENT ON COLUMN kol_leaderboard.reads_median IS 'Median reads per note.';
COMMENT ON COLUMN kol_leaderboard.rank IS '1 = highest pooled like_collect rate.';
COMMENT ON COLUMN kol_organic_vs_cooperation.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN kol_organic_vs_cooperation.label IS 'Roster label of the KOL.';
COMMENT ON COLUMN kol_organic_vs_cooperation.kind IS 'organic or cooperation (advertised or branded).';
COMMENT ON COLUMN kol_organic_vs_cooperation.notes IS 'Live notes of that kind.';
COMMENT ON COLUMN kol_organic_vs_cooperation.reads_median IS 'Median reads of those notes.';
COMMENT ON COLUMN kol_organic_vs_cooperation.like_collect_median IS 'Median likes + collects of those notes.';
COMMENT ON COLUMN kol_organic_vs_cooperation.like_collect_rate_pooled IS 'Sum of likes + collects / sum of reads of those notes.';
COMMENT ON COLUMN kol_recent_notes.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN kol_recent_notes.note_id IS 'Xiaohongshu note id.';
COMMENT ON COLUMN kol_recent_notes.title IS 'Note title.';
COMMENT ON COLUMN kol_recent_notes.publish_date IS 'Publish date (within the last 90 days).';
COMMENT ON COLUMN kol_recent_notes.is_video IS 'TRUE for a video note.';
COMMENT ON COLUMN kol_recent_notes.is_cooperation IS 'TRUE for an advertised or branded note.';
COMMENT ON COLUMN kol_recent_notes.brand_name IS 'Brand of a cooperation note.';
COMMENT ON COLUMN kol_recent_notes.read_num IS 'Reads as of last_seen_at.';
COMMENT ON COLUMN kol_recent_notes.like_num IS 'Likes as of last_seen_at.';
COMMENT ON COLUMN kol_recent_notes.collect_num IS 'Collects as of last_seen_at.';
COMMENT ON COLUMN kol_recent_notes.last_seen_at IS 'When the metrics were fetched (UTC).';
COMMENT ON COLUMN kol_recent_notes.in_last_30d IS 'TRUE when published in the last 30 days.';
COMMENT ON COLUMN note_growth.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN note_growth.note_id IS 'Xiaohongshu note id.';
COMMENT ON COLUMN note_growth.scope IS 'Listing of the snapshot: default or third_platform (see note_snapshots.scope).';
COMMENT ON COLUMN note_growth.fetched_at IS 'When this snapshot was fetched (UTC).';
COMMENT ON COLUMN note_growth.read_num IS 'Reads at fetched_at.';
COMMENT ON COLUMN note_growth.like_num IS 'Likes at fetched_at.';
COMMENT ON COLUMN note_growth.collect_num IS 'Collects at fetched_at.';
COMMENT ON COLUMN note_growth.reads_gained IS 'Reads gained since the previous snapshot.';
COMMENT ON COLUMN note_growth.likes_gained IS 'Likes gained since the previous snapshot.';
COMMENT ON COLUMN note_growth.collects_gained IS 'Collects gained since the previous snapshot.';
COMMENT ON COLUMN note_growth.since_previous IS 'Time since the previous snapshot.';
COMMENT ON COLUMN api_spend_daily.day IS 'Calendar day in Asia/Shanghai.';
COMMENT ON COLUMN api_spend_daily.calls_billed IS 'Calls the vendor bills (code 0 or 201): the spend, what PGY_DAILY_CALL_BUDGET caps.';
COMMENT ON COLUMN api_spend_daily.calls_unbilled IS 'Calls the vendor does not bill (301, 302, 500, HTTP errors, no answer).';
COMMENT ON COLUMN api_spend_daily.calls IS 'Every call that day, billed or not (retries included).';
COMMENT ON COLUMN api_spend_daily.calls_ok IS 'Calls answered with code 0.';
COMMENT ON COLUMN api_spend_daily.calls_failed IS 'Calls that failed (any other code, or no answer).';
COMMENT ON COLUMN api_spend_daily.kols IS 'Distinct KOLs called for.';
COMMENT ON COLUMN api_spend_daily.avg_latency_ms IS 'Mean round-trip time in milliseconds.';

-- Brands of each KOL's cooperation notes against its organic notes: who worked with whom, and how it did.
CREATE OR REPLACE VIEW kol_brands AS
WITH organic AS (
    SELECT user_id, count(*) AS organic_notes, median(read_num) AS organic_reads_median,
           median(like_collect) AS organic_like_collect_median
    FROM note_engagement WHERE NOT is_cooperation GROUP BY user_id
)
SELECT e.user_id, k.label, k.category, n.brand_name AS brand, count(*) AS notes,
       min(e.publish_date) AS first_date, max(e.publish_date) AS last_date,
       median(e.read_num) AS reads_median, median(e.like_collect) AS like_collect_median,
       any_value(o.organic_notes) AS organic_notes,
       any_value(o.organic_reads_median) AS organic_reads_median,
       any_value(o.organic_like_collect_median) AS organic_like_collect_median,
       median(e.read_num) / nullif(any_value(o.organic_reads_median), 0) AS reads_vs_organic,
       median(e.like_collect) / nullif(any_value(o.organic_like_collect_median), 0) AS like_collect_vs_organic
FROM note_engagement e
JOIN notes n USING (user_id, note_id)
LEFT JOIN kols k USING (user_id)
LEFT JOIN organic o USING (user_id)
WHERE e.is_cooperation AND n.brand_name IS NOT NULL
GROUP BY e.user_id, k.label, k.category, n.brand_name;
COMMENT ON VIEW kol_brands IS 'Per KOL and brand: the live cooperation notes carrying that brand name (verbatim from the API), their dates, and how they did against the KOL''s organic notes. Cooperation notes without a brand name (advertising flag only) are left out. like_collect is not the full 互动 (no comments or shares).';
COMMENT ON COLUMN kol_brands.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN kol_brands.label IS 'Roster label of the KOL.';
COMMENT ON COLUMN kol_brands.category IS 'Roster category of the KOL.';
COMMENT ON COLUMN kol_brands.brand IS 'Brand name as the API sent it (notes.brand_name): spellings are not merged.';
COMMENT ON COLUMN kol_brands.notes IS 'Live cooperation notes of the KOL with this brand.';
COMMENT ON COLUMN kol_brands.first_date IS 'Publish date of the first of those notes.';
COMMENT ON COLUMN kol_brands.last_date IS 'Publish date of the latest of those notes.';
COMMENT ON COLUMN kol_brands.reads_median IS 'Median reads of those notes.';
COMMENT ON COLUMN kol_brands.like_collect_median IS 'Median likes + collects of those notes.';
COMMENT ON COLUMN kol_brands.organic_notes IS 'Live organic notes of the KOL (all dates).';
COMMENT ON COLUMN kol_brands.organic_reads_median IS 'Median reads of the KOL''s organic notes.';
COMMENT ON COLUMN kol_brands.organic_like_collect_median IS 'Median likes + collects of the KOL''s organic notes.';
COMMENT ON COLUMN kol_brands.reads_vs_organic IS 'reads_median / organic_reads_median: above 1, the brand''s notes were read more than the KOL''s own; NULL without organic notes.';
COMMENT ON COLUMN kol_brands.like_collect_vs_organic IS 'like_collect_median / organic_like_collect_median.';

-- kol_prices is a table (migration 002); its meaning changed when it became a copy of the
-- analysts' own file, so its comment is kept here with the code that fills it.
COMMENT ON TABLE kol_prices IS 'Prices you pay KOLs (the API gives none), copied from data/kol_prices.csv on every pipeline write: edit that file or run `pgy prices import FILE`; rows written into pgy.duckdb directly are replaced at the next refresh. Join on user_id to compute CPE/CPM.';
