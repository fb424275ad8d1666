-- Cash moved from the property's bank account into its treasury on chain is recorded as a
-- transaction of its own category. Equivalent to the other engine's 0011_treasury_transfers.sql.
ALTER TABLE api_transactions DROP CONSTRAINT api_transactions_category_check;
ALTER TABLE api_transactions ADD CONSTRAINT api_transactions_category_check
    CHECK (category IN ('rent', 'management', 'taxes', 'insurance', 'utilities', 'repairs',
                        'hoa', 'other', 'treasury_transfer'));
