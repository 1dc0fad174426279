-- Schema version 2: a price table analysts fill in (CPE/CPM need prices; the API gives none).

CREATE TABLE IF NOT EXISTS kol_prices (
    user_id     VARCHAR NOT NULL,
    price_type  VARCHAR NOT NULL,
    price       DECIMAL(12, 2) NOT NULL,
    currency    VARCHAR NOT NULL DEFAULT 'CNY',
    valid_from  DATE NOT NULL,
    valid_to    DATE,
    note        VARCHAR
);
COMMENT ON TABLE kol_prices IS 'Prices you pay KOLs, entered by analysts (the API gives none); join on user_id to compute CPE/CPM. The pipeline never writes here.';
COMMENT ON COLUMN kol_prices.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN kol_prices.price_type IS 'What the price buys, e.g. photo_note or video_note.';
COMMENT ON COLUMN kol_prices.price IS 'Price per note of that type.';
COMMENT ON COLUMN kol_prices.currency IS 'ISO currency code (CNY by default).';
COMMENT ON COLUMN kol_prices.valid_from IS 'First day the price applies.';
COMMENT ON COLUMN kol_prices.valid_to IS 'Last day the price applies; NULL while current.';
COMMENT ON COLUMN kol_prices.note IS 'Free text (source of the quote, agency...).';
