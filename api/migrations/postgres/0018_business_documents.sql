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
    head_version       BIGINT  NOT NULL,
    review_version     BIGINT,
    published_version  BIGINT,
    approvals_required BIGINT  NOT NULL CHECK (approvals_required BETWEEN 1 AND 10),
    restricted         BOOLEAN NOT NULL,
    owner              TEXT    NOT NULL,
    search_text        TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);
-- Titles and the head version's section text, for search.
CREATE INDEX api_business_documents_search ON api_business_documents
    USING GIN (to_tsvector('english', title || ' ' || search_text));

CREATE TABLE api_business_document_versions (
    document_id TEXT    NOT NULL REFERENCES api_business_documents (id),
    number      BIGINT  NOT NULL,
    parent      BIGINT,
    base        BIGINT,
    kind        TEXT    NOT NULL CHECK (kind IN ('created', 'edited', 'merged', 'rolled_back')),
    title       TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    sha256      BYTEA   NOT NULL CHECK (length(sha256) = 32),
    author      TEXT    NOT NULL,
    author_name TEXT,
    comment     TEXT,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (document_id, number)
);

CREATE TABLE api_business_document_members (
    document_id TEXT NOT NULL REFERENCES api_business_documents (id),
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'approver')),
    PRIMARY KEY (document_id, role, subject)
);
CREATE INDEX api_business_document_members_subject ON api_business_document_members (subject);

CREATE TABLE api_business_document_approvals (
    document_id TEXT    NOT NULL REFERENCES api_business_documents (id),
    version     BIGINT  NOT NULL,
    approver    TEXT    NOT NULL,
    decision    TEXT    NOT NULL CHECK (decision IN ('approved', 'rejected')),
    comment     TEXT,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (document_id, version, approver)
);

CREATE TABLE api_business_document_events (
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id TEXT    NOT NULL REFERENCES api_business_documents (id),
    at          BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    actor_name  TEXT,
    action      TEXT    NOT NULL,
    version     BIGINT,
    detail      TEXT    NOT NULL
);
CREATE INDEX api_business_document_events_doc ON api_business_document_events (document_id, seq);

-- The audit trail is append-only.
CREATE TRIGGER api_business_document_events_append_only BEFORE UPDATE OR DELETE
    ON api_business_document_events
    FOR EACH ROW EXECUTE FUNCTION api_refuse_change();
CREATE TRIGGER api_business_document_events_no_truncate BEFORE TRUNCATE
    ON api_business_document_events
    FOR EACH STATEMENT EXECUTE FUNCTION api_refuse_change();

-- Publications numbered 1, 2, ... without gaps: publishing takes the next number from the
-- head row (its row lock orders concurrent publishers), so publications commit in number
-- order and a root covers a prefix.
CREATE TABLE api_business_document_publication_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count BIGINT  NOT NULL
);
INSERT INTO api_business_document_publication_head (id, count) VALUES (1, 0);

CREATE TABLE api_business_document_publications (
    seq          BIGINT  PRIMARY KEY,
    document_id  TEXT    NOT NULL REFERENCES api_business_documents (id),
    version      BIGINT  NOT NULL,
    sha256       BYTEA   NOT NULL CHECK (length(sha256) = 32),
    leaf         BYTEA   NOT NULL CHECK (length(leaf) = 32),
    published_by TEXT    NOT NULL,
    published_at BIGINT  NOT NULL,
    UNIQUE (document_id, version)
);

-- Each Merkle root an anchor recorded, and how many publications it covers.
CREATE TABLE api_business_document_roots (
    root  BYTEA   PRIMARY KEY CHECK (length(root) = 32),
    count BIGINT  NOT NULL
);

CREATE TABLE api_business_document_attachments (
    id           TEXT    PRIMARY KEY,
    document_id  TEXT    NOT NULL REFERENCES api_business_documents (id),
    title        TEXT    NOT NULL,
    filename     TEXT,
    content_type TEXT    NOT NULL,
    sha256       BYTEA   NOT NULL REFERENCES api_blobs (sha256),
    size         BIGINT  NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX api_business_document_attachments_doc ON api_business_document_attachments (document_id, id);
