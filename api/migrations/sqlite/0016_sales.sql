-- Property sales imported for comparable sales and market trends. Equivalent to the other
-- engine's 0016_sales.sql.
CREATE TABLE api_sales (
    id                TEXT     PRIMARY KEY,
    address           TEXT     NOT NULL,
    city              TEXT     NOT NULL,
    region            TEXT     NOT NULL,
    -- lower(city) '|' lower(region): the area trends are asked for.
    area_key          TEXT     NOT NULL,
    postal_code       TEXT,
    latitude          TEXT,
    longitude         TEXT,
    sale_date         TEXT     NOT NULL,
    -- USD in cents.
    price_minor       INTEGER   NOT NULL CHECK (price_minor > 0),
    living_area_sqft  INTEGER,
    lot_size_sqft     INTEGER,
    bedrooms          INTEGER,
    bathrooms_tenths  INTEGER,
    year_built        INTEGER,
    property_type     TEXT     NOT NULL,
    condition         TEXT,
    source            TEXT     NOT NULL,
    imported_at       INTEGER   NOT NULL,
    UNIQUE (address, area_key, sale_date, price_minor)
) STRICT;
CREATE INDEX api_sales_area ON api_sales (area_key, sale_date);
