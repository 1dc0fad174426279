-- Schema version 4: what the vendor bills, and the data contract's counts per fetch.
--
-- The vendor bills a call by its code: only 0 and 201 (api/FACTS.md). Each call of the ledger now
-- says whether it was billed (justoneapi.is_billed, the one home of that rule); the calls recorded
-- before this version get the same rule, frozen here: a known code decides, else an HTTP 200 whose
-- body could not be read counts as billed (it may have been a billed answer cut short).

ALTER TABLE api_calls ADD COLUMN billed BOOLEAN;
UPDATE api_calls SET billed = CASE WHEN code IS NOT NULL THEN code IN (0, 201) ELSE http_status = 200 END;

ALTER TABLE fetches ADD COLUMN field_counts JSON;

COMMENT ON TABLE api_calls IS 'Ledger of every HTTP call made to Just One API, billed or not (billed): count the billed ones to know the spend.';
COMMENT ON COLUMN api_calls.billed IS 'TRUE when the vendor bills the call: code 0 or 201 (no content). Every other code, and every HTTP error or missing answer, is free; an HTTP 200 whose body could not be read counts as billed.';
COMMENT ON COLUMN api_calls.outcome IS 'ok, retry, slow_down, stop, rejected or no_content (code 201).';
COMMENT ON COLUMN fetches.calls IS 'HTTP calls made by this attempt, retries included (api_calls.billed says which were billed).';
COMMENT ON COLUMN fetches.status IS 'complete (every note the API reported was read), incomplete (stopped short: page cap, fewer notes than total, date window) or failed (see error_*; a 201 is failed with error_kind no_content).';
COMMENT ON COLUMN fetches.error_kind IS 'What the failure asks for: retry, slow_down, stop (token/quota/balance/budget), rejected, schema (the answers changed shape: nothing written, never retried; on an incomplete fetch, a drifted fetch a later version could read, rebuilt by pgy replay) or no_content (code 201).';
COMMENT ON COLUMN fetches.field_counts IS 'The data contract''s counts over the fetch''s pages, as JSON: notes read, and per note field the values sent as null, missing or unreadable. The asset check notes_fields_readable compares the latest fetch of each KOL with its own history.';
COMMENT ON COLUMN notes.title IS 'Note title as published (may contain emoji); the last known value: a later NULL or unreadable value never overwrites it.';
COMMENT ON COLUMN notes.publish_date IS 'Publish date of the note (the API''s `date`, China calendar date). Only a YYYY-MM-DD string that is a real date is read; a later NULL or unreadable date never overwrites a known one. NULL only when never known.';
COMMENT ON COLUMN notes.is_video IS 'TRUE for a video note, FALSE for photo and text; the last known value (a later NULL never overwrites it).';
COMMENT ON COLUMN notes.is_advertise IS 'TRUE when the API flags the note as advertising; the last known value (a later NULL never overwrites it).';
COMMENT ON COLUMN notes.brand_name IS 'Brand of a cooperation note; NULL for organic notes. The last known value: a later NULL never overwrites a brand.';
COMMENT ON COLUMN notes.img_url IS 'Cover image URL; the last known value (a later NULL never overwrites it).';
