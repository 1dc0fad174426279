-- Schema version 4: the KOL's category from the roster, the peer group of its percentiles.

ALTER TABLE kols ADD COLUMN category VARCHAR;
COMMENT ON COLUMN kols.category IS 'Category from the roster (data/kols.csv, `pgy kols add --category`): the peer group the KOL''s percentiles are computed within (kol_percentiles). NULL when the roster gives none; such a KOL is compared with the whole roster only.';
