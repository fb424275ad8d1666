-- Money moved off chain: cash moved from the property's bank account into its treasury is a
-- transaction of its own category, and a rehab draw may be paid through the bank instead of
-- the treasury. Equivalent to the other engine's 0011_off_chain_payments.sql.
ALTER TABLE api_transactions DROP CONSTRAINT api_transactions_category_check;
ALTER TABLE api_transactions ADD CONSTRAINT api_transactions_category_check
    CHECK (category IN ('rent', 'management', 'taxes', 'insurance', 'utilities', 'repairs',
                        'hoa', 'other', 'treasury_transfer'));
ALTER TABLE api_rehab_draws DROP CONSTRAINT api_rehab_draws_status_check;
ALTER TABLE api_rehab_draws ADD CONSTRAINT api_rehab_draws_status_check
    CHECK (status IN ('requested', 'approved', 'released', 'paid_off_chain'));
