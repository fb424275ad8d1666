-- The outbox action listing a tokenized property's share token on the platform's share market
-- (once per property). Equivalent to the other engine's 0019_market_listing.sql.
ALTER TABLE api_tokenizations ADD COLUMN market_action_id TEXT;
