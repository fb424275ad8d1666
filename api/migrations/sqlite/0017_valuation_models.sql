-- Trained valuation models, by area and version. Equivalent to the other engine's
-- 0017_valuation_models.sql.
CREATE TABLE api_valuation_models (
    id          TEXT     PRIMARY KEY,
    -- lower(city) '|' lower(region), as api_sales.
    area_key    TEXT     NOT NULL,
    version     INTEGER  NOT NULL CHECK (version > 0),
    -- The latest sale learned from: the model values later days only.
    last_sale   TEXT     NOT NULL,
    created_at  INTEGER  NOT NULL,
    -- The model as the API shows it (settings, metrics, who and when).
    doc         TEXT     NOT NULL,
    -- The forest, as gzip-compressed JSON.
    model       BLOB     NOT NULL,
    UNIQUE (area_key, version)
) STRICT;

-- Each area's sales generation, raised by every import that stores one of its sales: a process
-- keeps an area's sales in memory, ready to value from, until it changes.
CREATE TABLE api_sales_areas (
    area_key    TEXT     PRIMARY KEY,
    generation  INTEGER  NOT NULL
) STRICT;
INSERT INTO api_sales_areas (area_key, generation) SELECT DISTINCT area_key, 1 FROM api_sales;
