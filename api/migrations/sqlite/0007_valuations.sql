-- Valuations of properties, SQLite schema. Equivalent to the other engine's 0007_valuations.sql.

-- What a property was worth on a day, and who said so. Appended, never changed: a property's
-- current value is its latest valuation (latest day, then latest recorded).
CREATE TABLE api_valuations (
    id          TEXT    PRIMARY KEY,
    property_id TEXT    NOT NULL REFERENCES api_properties (id),
    valued_on   TEXT    NOT NULL,
    -- USD in cents.
    value_minor INTEGER  NOT NULL CHECK (value_minor > 0),
    source      TEXT    NOT NULL CHECK (source IN ('appraisal', 'broker_opinion', 'automated',
                    'operator', 'sale')),
    recorded_by TEXT    NOT NULL,
    recorded_at INTEGER  NOT NULL,
    doc         TEXT    NOT NULL
) STRICT;
CREATE INDEX api_valuations_property ON api_valuations (property_id, valued_on, id);
