-- Business documents (SOPs, business plans, policies, deal memos, statement templates): every
-- save an immutable version, per-document permissions, approvals, an audit trail, the
-- published versions' hashes in the order they were published (anchored on chain as a Merkle
-- root), attachments in the blob store, and a full-text index. Equivalent to the other
-- engine's 0018_business_documents.sql.
CREATE TABLE api_business_documents (
    id                 TEXT    PRIMARY KEY,
    doc_type           TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('draft', 'in_review', 'published', 'archived')),
    head_version       INTEGER NOT NULL,
    review_version     INTEGER,
    published_version  INTEGER,
    approvals_required INTEGER NOT NULL CHECK (approvals_required BETWEEN 1 AND 10),
    restricted         INTEGER NOT NULL CHECK (restricted IN (0, 1)),
    owner              TEXT    NOT NULL,
    search_text        TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;

CREATE TABLE api_business_document_versions (
    document_id TEXT    NOT NULL REFERENCES api_business_documents (id),
    number      INTEGER NOT NULL,
    parent      INTEGER,
    base        INTEGER,
    kind        TEXT    NOT NULL CHECK (kind IN ('created', 'edited', 'merged', 'rolled_back')),
    title       TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    sha256      BLOB    NOT NULL CHECK (length(sha256) = 32),
    author      TEXT    NOT NULL,
    author_name TEXT,
    comment     TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (document_id, number)
) STRICT;

CREATE TABLE api_business_document_members (
    document_id TEXT NOT NULL REFERENCES api_business_documents (id),
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'approver')),
    PRIMARY KEY (document_id, role, subject)
) STRICT;
CREATE INDEX api_business_document_members_subject ON api_business_document_members (subject);

CREATE TABLE api_business_document_approvals (
    document_id TEXT    NOT NULL REFERENCES api_business_documents (id),
    version     INTEGER NOT NULL,
    approver    TEXT    NOT NULL,
    decision    TEXT    NOT NULL CHECK (decision IN ('approved', 'rejected')),
    comment     TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (document_id, version, approver)
) STRICT;

CREATE TABLE api_business_document_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT    NOT NULL REFERENCES api_business_documents (id),
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    actor_name  TEXT,
    action      TEXT    NOT NULL,
    version     INTEGER,
    detail      TEXT    NOT NULL
) STRICT;
CREATE INDEX api_business_document_events_doc ON api_business_document_events (document_id, seq);

-- The audit trail is append-only.
CREATE TRIGGER api_business_document_events_no_update BEFORE UPDATE ON api_business_document_events
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER api_business_document_events_no_delete BEFORE DELETE ON api_business_document_events
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

-- Publications numbered 1, 2, ... without gaps: publishing takes the next number from the
-- head row, so publications commit in number order and a root covers a prefix.
CREATE TABLE api_business_document_publication_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL
) STRICT;
INSERT INTO api_business_document_publication_head (id, count) VALUES (1, 0);

CREATE TABLE api_business_document_publications (
    seq          INTEGER PRIMARY KEY,
    document_id  TEXT    NOT NULL REFERENCES api_business_documents (id),
    version      INTEGER NOT NULL,
    sha256       BLOB    NOT NULL CHECK (length(sha256) = 32),
    leaf         BLOB    NOT NULL CHECK (length(leaf) = 32),
    published_by TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    UNIQUE (document_id, version)
) STRICT;

-- Each Merkle root an anchor recorded, and how many publications it covers.
CREATE TABLE api_business_document_roots (
    root  BLOB    PRIMARY KEY CHECK (length(root) = 32),
    count INTEGER NOT NULL
) STRICT;

CREATE TABLE api_business_document_attachments (
    id           TEXT    PRIMARY KEY,
    document_id  TEXT    NOT NULL REFERENCES api_business_documents (id),
    title        TEXT    NOT NULL,
    filename     TEXT,
    content_type TEXT    NOT NULL,
    sha256       BLOB    NOT NULL REFERENCES api_blobs (sha256),
    size         INTEGER NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX api_business_document_attachments_doc ON api_business_document_attachments (document_id, id);

-- Titles and the head version's section text, for search (Porter stemming, as PostgreSQL's
-- english configuration stems).
CREATE VIRTUAL TABLE api_business_documents_fts USING fts5 (
    id UNINDEXED,
    title,
    body,
    tokenize = 'porter unicode61'
);
