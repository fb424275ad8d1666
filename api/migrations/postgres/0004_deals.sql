-- Deals, PostgreSQL schema. Equivalent to the other engine's 0004_deals.sql.

-- A deal on a property: its status and version as columns (filters, optimistic writes), the
-- rest in the rendered view.
CREATE TABLE api_deals (
    id          TEXT    PRIMARY KEY,
    property_id TEXT    NOT NULL REFERENCES api_properties (id),
    status      TEXT    NOT NULL CHECK (status IN ('lead', 'analyzing', 'offer_made',
                    'under_contract', 'acquired', 'rehab', 'listed', 'stabilized', 'exited', 'dead')),
    version     BIGINT  NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    doc         TEXT    NOT NULL
);
CREATE INDEX api_deals_property ON api_deals (property_id, id);
CREATE INDEX api_deals_status ON api_deals (status, id);

-- Every move of a deal's pipeline, in order (appended, never changed).
CREATE TABLE api_deal_transitions (
    deal_id      TEXT    NOT NULL REFERENCES api_deals (id),
    seq          BIGINT  NOT NULL,
    from_status  TEXT,
    to_status    TEXT    NOT NULL,
    effective_on TEXT    NOT NULL,
    recorded_by  TEXT    NOT NULL,
    recorded_at  BIGINT  NOT NULL,
    PRIMARY KEY (deal_id, seq)
);
