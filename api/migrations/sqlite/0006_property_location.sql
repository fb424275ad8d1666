-- The location index covers what a geographic search reads to choose its hits (id, latitude,
-- longitude), so a search over a dense area reads index entries, not rows. Equivalent to the
-- other engine's 0006_property_location.sql.
DROP INDEX api_properties_latitude;
CREATE INDEX api_properties_location ON api_properties (latitude, longitude, id)
    WHERE latitude IS NOT NULL;
