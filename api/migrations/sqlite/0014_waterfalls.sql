-- Each property's distribution waterfall, versioned: a change adds a version and the earlier
-- ones stay. Equivalent to the other engine's 0014_waterfalls.sql.
CREATE TABLE api_waterfalls (
    property_id TEXT     NOT NULL,
    version     INTEGER  NOT NULL,
    doc         TEXT     NOT NULL,
    set_at      INTEGER  NOT NULL,
    PRIMARY KEY (property_id, version)
) STRICT;
