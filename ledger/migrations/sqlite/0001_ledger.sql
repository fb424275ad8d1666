-- Double-entry ledger, SQLite schema. Equivalent to migrations/postgres/0001_ledger.sql.

CREATE TABLE ledger_currencies (
    code  TEXT    PRIMARY KEY,
    scale INTEGER NOT NULL CHECK (scale BETWEEN 0 AND 18)
) STRICT;

CREATE TABLE ledger_accounts (
    id            INTEGER PRIMARY KEY,
    code          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    account_type  TEXT    NOT NULL CHECK (account_type IN ('asset', 'liability', 'equity', 'income', 'expense')),
    currency      TEXT    NOT NULL REFERENCES ledger_currencies (code),
    -- Dimensions; '' when not set, so the unique key below treats "not set" as one value.
    property      TEXT    NOT NULL DEFAULT '',
    deal          TEXT    NOT NULL DEFAULT '',
    investor      TEXT    NOT NULL DEFAULT '',
    budget_line   TEXT    NOT NULL DEFAULT '',
    balance_limit TEXT    NOT NULL CHECK (balance_limit IN ('unlimited', 'non_negative')),
    created_at    TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (property, deal, investor, budget_line, code)
) STRICT;

-- Running totals per account, maintained in the same transaction as the postings. A projection
-- of ledger_postings (the verifier recomputes it), needed to enforce balance limits atomically.
CREATE TABLE ledger_balances (
    account_id     INTEGER PRIMARY KEY REFERENCES ledger_accounts (id),
    posted_debit   TEXT    NOT NULL,
    posted_credit  TEXT    NOT NULL,
    pending_debit  TEXT    NOT NULL,
    pending_credit TEXT    NOT NULL
) STRICT;

-- The single row every writer locks first: it serializes writers, hands out entry ids and holds
-- the head of the hash chain.
CREATE TABLE ledger_head (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    next_entry_id INTEGER NOT NULL,
    chain_seq     INTEGER NOT NULL,
    chain_hash    BLOB    NOT NULL
) STRICT;
INSERT INTO ledger_head (id, next_entry_id, chain_seq, chain_hash) VALUES (1, 1, 0, zeroblob(32));

CREATE TABLE ledger_entries (
    id                INTEGER PRIMARY KEY,
    idempotency_key   TEXT    NOT NULL UNIQUE,
    content_hash      BLOB    NOT NULL,
    effective_date    TEXT    NOT NULL,
    description       TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    reverses_entry_id INTEGER REFERENCES ledger_entries (id),
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'posted', 'voided')),
    chain_seq         INTEGER UNIQUE,
    prev_hash         BLOB,
    hash              BLOB,
    recorded_at       TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CHECK ((status = 'posted') = (chain_seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL))
) STRICT;
-- An entry is reversed at most once; partial, so the many entries that reverse nothing cost no
-- index write.
CREATE UNIQUE INDEX ledger_entries_reverses ON ledger_entries (reverses_entry_id)
    WHERE reverses_entry_id IS NOT NULL;

CREATE TABLE ledger_postings (
    entry_id   INTEGER NOT NULL REFERENCES ledger_entries (id),
    idx        INTEGER NOT NULL,
    account_id INTEGER NOT NULL REFERENCES ledger_accounts (id),
    direction  TEXT    NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount     TEXT    NOT NULL,
    currency   TEXT    NOT NULL,
    PRIMARY KEY (entry_id, idx)
) STRICT, WITHOUT ROWID;
CREATE INDEX ledger_postings_account ON ledger_postings (account_id, entry_id);

-- Rehab budgets: append-only revisions, the latest revision of a line is the budget.
CREATE TABLE ledger_budget_lines (
    property    TEXT    NOT NULL,
    budget_line TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    currency    TEXT    NOT NULL REFERENCES ledger_currencies (code),
    amount      TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (property, budget_line, revision)
) STRICT;

-- Append-only: postings never change; an entry's content never changes, and its status only
-- moves from pending to posted or voided (with its chain link set on posting).
CREATE TRIGGER ledger_postings_append_only_update BEFORE UPDATE ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger postings are append-only');
END;
CREATE TRIGGER ledger_postings_append_only_delete BEFORE DELETE ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger postings are append-only');
END;
CREATE TRIGGER ledger_entries_append_only_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only');
END;
CREATE TRIGGER ledger_entries_finality_only BEFORE UPDATE ON ledger_entries
WHEN OLD.status <> 'pending'
  OR NEW.status NOT IN ('posted', 'voided')
  OR NEW.id IS NOT OLD.id
  OR NEW.idempotency_key IS NOT OLD.idempotency_key
  OR NEW.content_hash IS NOT OLD.content_hash
  OR NEW.effective_date IS NOT OLD.effective_date
  OR NEW.description IS NOT OLD.description
  OR NEW.source IS NOT OLD.source
  OR NEW.reverses_entry_id IS NOT OLD.reverses_entry_id
  OR NEW.recorded_at IS NOT OLD.recorded_at
BEGIN
    SELECT RAISE(ABORT, 'ledger entries are append-only: only a pending entry may become posted or voided');
END;
-- Accounts and currencies never change once created (the ledger caches accounts in process).
CREATE TRIGGER ledger_accounts_immutable_update BEFORE UPDATE ON ledger_accounts
BEGIN
    SELECT RAISE(ABORT, 'ledger accounts are immutable');
END;
CREATE TRIGGER ledger_accounts_immutable_delete BEFORE DELETE ON ledger_accounts
BEGIN
    SELECT RAISE(ABORT, 'ledger accounts are immutable');
END;
CREATE TRIGGER ledger_currencies_immutable_update BEFORE UPDATE ON ledger_currencies
BEGIN
    SELECT RAISE(ABORT, 'ledger currencies are immutable');
END;
CREATE TRIGGER ledger_currencies_immutable_delete BEFORE DELETE ON ledger_currencies
BEGIN
    SELECT RAISE(ABORT, 'ledger currencies are immutable');
END;
CREATE TRIGGER ledger_budget_lines_append_only_update BEFORE UPDATE ON ledger_budget_lines
BEGIN
    SELECT RAISE(ABORT, 'budget revisions are append-only');
END;
CREATE TRIGGER ledger_budget_lines_append_only_delete BEFORE DELETE ON ledger_budget_lines
BEGIN
    SELECT RAISE(ABORT, 'budget revisions are append-only');
END;
