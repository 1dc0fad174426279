"""Normalisation of raw pages into note rows, in SQL inside DuckDB.

The raw layer (``warehouse/raw.py``) holds each page's exact response body. Turning
those bodies into typed note rows happens here, set-based, so replaying a million
notes takes seconds, not minutes. The reading rules are the client's
(``justoneapi/models.py``), restated in SQL:

- counts (readNum, likeNum, collectNum, thirdReadUserNum): a JSON integer, or a string
  of 1-18 digits ("1142"); anything else (null, missing, "12.5", true) is NULL;
- flags (isVideo, isAdvertise): true/false, "true"/"false", 0/1; else NULL;
- texts (title, brandName, imgUrl) and ids: JSON strings only;
- date: only a ``YYYY-MM-DD`` string that is a real calendar date ("2026-02-30", "20260308",
  "2026-3-8", "2026-03-08 12:00:00", a number are NULL, and flagged ``date_unreadable``);
- a note that appears twice within a fetch (it moved between pages) keeps its first
  sighting in page order.

Only pages the client accepted (code 0, well-formed) are ever stored, and lines cut by a
crash are skipped. The raw lines embed the body as JSON (``warehouse/raw.py``), so one
parse reads both the page's metadata and its notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

_FIELDS = (
    "noteId",
    "title",
    "date",
    "isVideo",
    "isAdvertise",
    "brandName",
    "imgUrl",
    "readNum",
    "likeNum",
    "collectNum",
    "thirdReadUserNum",
)
# Every note field is read as JSON so its type can be checked (a count may come as a string).
_NOTE = "STRUCT(" + ", ".join(f'"{f}" JSON' for f in _FIELDS) + ")"
_BODY_TYPE = f"STRUCT(data STRUCT(list {_NOTE}[]))"
_BODY_JSON = '{"data":{"list":[{' + ",".join(f'"{f}":"JSON"' for f in _FIELDS) + "}]}}"
_COLUMNS = (
    "{fetch_id: 'VARCHAR', user_id: 'VARCHAR', page_number: 'INTEGER', fetched_at: 'VARCHAR', "
    f"code: 'INTEGER', body: '{_BODY_TYPE}', body_text: 'VARCHAR'}}"
)


def _count(field: str) -> str:
    v = f"n.{field}"
    return f"""CASE json_type({v})
        WHEN 'UBIGINT' THEN TRY_CAST({v} AS BIGINT)
        WHEN 'BIGINT' THEN TRY_CAST({v} AS BIGINT)
        WHEN 'VARCHAR' THEN CASE WHEN regexp_full_match({v}->>'$', '[0-9]{{1,18}}')
                                 THEN CAST({v}->>'$' AS BIGINT) END
    END"""


def _text(field: str) -> str:
    return f"CASE WHEN json_type(n.{field}) = 'VARCHAR' THEN n.{field}->>'$' END"


def _flag(field: str) -> str:
    v = f"n.{field}"
    return f"""CASE json_type({v})
        WHEN 'BOOLEAN' THEN TRY_CAST({v} AS BOOLEAN)
        WHEN 'VARCHAR' THEN CASE lower({v}->>'$') WHEN 'true' THEN true WHEN 'false' THEN false END
        WHEN 'UBIGINT' THEN CASE {v}->>'$' WHEN '0' THEN false WHEN '1' THEN true END
        WHEN 'BIGINT' THEN CASE {v}->>'$' WHEN '0' THEN false WHEN '1' THEN true END
    END"""


def _date(field: str) -> str:
    # TRY_CAST alone is far more lenient than the client ("2026/03/08", "2026-3-8" and
    # timestamps become dates, year 0000 a BC date), so the shape is checked first.
    v = _text(field)
    return f"""CASE WHEN regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND {v} >= '0001'
                THEN TRY_CAST({v} AS DATE) END"""


def _stage_sql(dedupe: bool) -> str:
    rows = f"""
SELECT user_id,
       {_text("noteId")} AS note_id,
       fetch_id,
       fetched_at,
       page_number,
       {_text("title")} AS title,
       {_date("date")} AS publish_date,
       {_flag("isVideo")} AS is_video,
       {_flag("isAdvertise")} AS is_advertise,
       {_text("brandName")} AS brand_name,
       {_text("imgUrl")} AS img_url,
       {_count("readNum")} AS read_num,
       {_count("likeNum")} AS like_num,
       {_count("collectNum")} AS collect_num,
       {_count("thirdReadUserNum")} AS third_read_user_num,
       coalesce(json_type(n.date), 'NULL') <> 'NULL' AND {_date("date")} IS NULL AS date_unreadable
FROM items
WHERE {_text("noteId")} IS NOT NULL"""
    if dedupe:
        rows += "\nQUALIFY row_number() OVER (PARTITION BY fetch_id, note_id ORDER BY page_number, idx) = 1"
    return f"""
WITH pages AS (
    SELECT fetch_id, user_id, page_number, CAST(fetched_at AS TIMESTAMPTZ) AS fetched_at,
           coalesce(body.data.list, from_json(body_text, '{_BODY_JSON}').data.list) AS items
    FROM read_json($files, format = 'newline_delimited', columns = {_COLUMNS},
                   ignore_errors = true)  -- a line cut by a crash does not parse: skipped
    WHERE code = 0
), items AS (
    SELECT fetch_id, user_id, page_number, fetched_at, unnest(items) AS n, generate_subscripts(items, 1) AS idx
    FROM pages
){rows}
"""


# Files per query: bounds memory (each chunk's text is parsed in one go) at no cost in speed.
_CHUNK = 1000


def stage_notes(
    conn: duckdb.DuckDBPyConnection, files: Sequence[str | Path], dedupe: Sequence[str | Path] = ()
) -> int:
    """Load the notes of these raw fetch files into the temp table ``_note_batch``; returns its rows.

    ``dedupe`` lists the files of fetches in which a note came twice (the client counted
    it in ``duplicates_dropped``): only those pay for the de-duplication.
    """
    conn.execute("CREATE OR REPLACE TEMP TABLE _note_batch AS SELECT * FROM (" + _EMPTY + ")")
    needs = {str(f) for f in dedupe}
    plain = [str(f) for f in files if str(f) not in needs]
    for group, dedup in ((plain, False), (sorted(needs), True)):
        for i in range(0, len(group), _CHUNK):
            conn.execute("INSERT INTO _note_batch " + _stage_sql(dedup), {"files": group[i : i + _CHUNK]})
    row = conn.execute("SELECT count(*) FROM _note_batch").fetchone()
    return int(row[0]) if row else 0


_EMPTY = """
SELECT NULL::VARCHAR AS user_id, NULL::VARCHAR AS note_id, NULL::VARCHAR AS fetch_id,
       NULL::TIMESTAMPTZ AS fetched_at, NULL::INTEGER AS page_number, NULL::VARCHAR AS title,
       NULL::DATE AS publish_date, NULL::BOOLEAN AS is_video, NULL::BOOLEAN AS is_advertise,
       NULL::VARCHAR AS brand_name, NULL::VARCHAR AS img_url, NULL::BIGINT AS read_num,
       NULL::BIGINT AS like_num, NULL::BIGINT AS collect_num, NULL::BIGINT AS third_read_user_num,
       NULL::BOOLEAN AS date_unreadable
WHERE false
"""
