//! Units of work that commit with the caller's own tables: [`Ledger::apply`], statements, bulk
//! loads, and hooks writing with sqlx inside the ledger's transaction.

use propledger_ledger::core::AccountId;
use propledger_ledger::core::{EntryStatus, Source};
use propledger_ledger::unit::MAX_UNIT_ENTRIES;
use propledger_ledger::unit::{BulkRows, Column, Insert, Retraction, Statement, Table, UnitOfWork};
use propledger_ledger::{Error, TxConn};

use crate::support::{
    Basic, TestDb, amt, assert_invariants, basic, both_engines, date, entry, key, select, transfer,
};

both_engines!(
    entries_and_statements_commit_together,
    a_failing_statement_rolls_everything_back,
    a_guard_that_matches_nothing_applies_nothing,
    unlocked_statements_and_preconditions,
    named_locks_exclude_other_holders,
    retraction_voids_pending_and_reverses_posted,
    posting_by_key_and_unknown_keys,
    loading_rows,
    a_refused_load_changes_nothing,
    hooks_write_an_outbox_row_per_entry_and_gap_free_numbers,
    a_failing_hook_applies_nothing,
    inserts_are_split_under_the_bind_limits,
    units_over_the_limit_are_refused,
);

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ext_marks (n BIGINT PRIMARY KEY, label TEXT NOT NULL, note TEXT)",
];

async fn marks(db: &TestDb) -> Vec<(i64, String, Option<String>)> {
    select(
        &db.ledger,
        "SELECT n, label, note FROM ext_marks ORDER BY n",
    )
    .await
}

/// Creates the tests' own tables, outside the ledger.
async fn create(db: &TestDb, schema: &[&'static str]) {
    for statement in schema {
        db.raw(statement).await.unwrap();
    }
}

fn retraction(of: &str) -> Retraction {
    Retraction {
        key: key(of),
        reversal_key: key(&format!("undo-{of}")),
        effective_date: date(2024, 3, 2),
        description: format!("{of} went away"),
        source: Source::operator("reorg").unwrap(),
    }
}

async fn entries_and_statements_commit_together(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    create(&db, SCHEMA).await;
    create(&db, SCHEMA).await;
    let mut changes = UnitOfWork::new();
    changes
        .record(transfer("a", cash, capital, "10.00"))
        .record(transfer("b", cash, capital, "5.00"))
        .insert({
            let mut rows = Insert::into_table("INSERT INTO ext_marks (n, label, note)", 3);
            rows.row([1.into(), "one".into(), None::<String>.into()]);
            rows.row([2.into(), "two".into(), Some("x".to_owned()).into()]);
            rows
        })
        .statement(
            Statement::new("UPDATE ext_marks SET note = $1 WHERE n = $2")
                .bind("y")
                .bind(1),
        );
    let applied = db.ledger.apply(changes).await.unwrap();
    assert_eq!(applied.recorded.len(), 2);
    assert_eq!(applied.rows_affected, vec![2, 1]);
    assert_eq!(
        marks(&db).await,
        vec![
            (1, "one".into(), Some("y".into())),
            (2, "two".into(), Some("x".into()))
        ]
    );
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("15.00"));
    assert_invariants(&db.ledger).await;
}

async fn a_failing_statement_rolls_everything_back(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    create(&db, SCHEMA).await;
    db.ledger
        .entries()
        .record(
            entry("p")
                .debit(cash, amt("3.00"))
                .credit(capital, amt("3.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let mut changes = UnitOfWork::new();
    changes
        .post(key("p"))
        .record(transfer("a", cash, capital, "10.00"))
        .statement(Statement::new(
            "INSERT INTO ext_marks (n, label) VALUES (1, 'one')",
        ))
        // Same primary key again: the statement fails, and so does the whole change.
        .statement(Statement::new(
            "INSERT INTO ext_marks (n, label) VALUES (1, 'again')",
        ));
    assert!(matches!(
        db.ledger.apply(changes).await,
        Err(Error::Database(_))
    ));
    assert!(marks(&db).await.is_empty());
    assert_eq!(db.ledger.entries().by_key(&key("a")).await.unwrap(), None);
    let p = db
        .ledger
        .entries()
        .by_key(&key("p"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, EntryStatus::Pending);
    assert_invariants(&db.ledger).await;
}

async fn a_guard_that_matches_nothing_applies_nothing(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    create(&db, SCHEMA).await;
    db.ledger
        .apply({
            let mut c = UnitOfWork::new();
            c.statement(Statement::new(
                "INSERT INTO ext_marks (n, label) VALUES (1, 'checkpoint-5')",
            ));
            c
        })
        .await
        .unwrap();
    // A writer that believes the checkpoint is at 5 moves it to 6: the guard matches.
    let advance = |from: &'static str, to: &'static str, entry: &str| {
        let mut c = UnitOfWork::new();
        c.record(transfer(entry, cash, capital, "1.00"))
            .guard(
                Statement::new("UPDATE ext_marks SET label = $1 WHERE n = 1 AND label = $2")
                    .bind(to)
                    .bind(from),
            )
            .statement(Statement::new(
                "INSERT INTO ext_marks (n, label) VALUES (2, 'after the guard')",
            ));
        c
    };
    let applied = db
        .ledger
        .apply(advance("checkpoint-5", "checkpoint-6", "first"))
        .await
        .unwrap();
    assert_eq!(applied.rows_affected, vec![1, 1]);
    db.ledger
        .apply({
            let mut c = UnitOfWork::new();
            c.statement(Statement::new("DELETE FROM ext_marks WHERE n = 2"));
            c
        })
        .await
        .unwrap();
    // A second writer with the same stale view is fenced off: its entry, its guard and the
    // statement after it are all absent.
    let err = db
        .ledger
        .apply(advance("checkpoint-5", "checkpoint-6", "stale"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GuardFailed { index: 0 }), "{err:?}");
    assert_eq!(marks(&db).await, vec![(1, "checkpoint-6".into(), None)]);
    assert_eq!(
        db.ledger.entries().by_key(&key("stale")).await.unwrap(),
        None
    );
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("1.00"));
    assert_invariants(&db.ledger).await;
}

async fn unlocked_statements_and_preconditions(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    create(&db, SCHEMA).await;
    let changes = |entry: &str, guard_label: &'static str| {
        let mut c = UnitOfWork::new();
        c.record(transfer(entry, cash, capital, "1.00"))
            .before_lock(Statement::new(
                "INSERT INTO ext_marks (n, label) VALUES (10, 'early')",
            ))
            .guard(
                Statement::new("UPDATE ext_marks SET note = 'seen' WHERE label = $1")
                    .bind(guard_label),
            );
        c
    };
    // A precondition that finds nothing turns the writer away before anything runs.
    let err = db
        .ledger
        .apply({
            let mut c = changes("early-out", "nowhere");
            c.precondition(Statement::new("SELECT n FROM ext_marks WHERE n = 1"));
            c
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GuardFailed { index: 2 }), "{err:?}");
    assert_eq!(marks(&db).await, vec![]);
    // A guard that fails takes the unlocked insert back with everything else.
    let err = db
        .ledger
        .apply(changes("refused", "nowhere"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GuardFailed { index: 1 }), "{err:?}");
    assert_eq!(marks(&db).await, vec![]);
    assert_eq!(
        db.ledger.entries().by_key(&key("refused")).await.unwrap(),
        None
    );

    if db.ledger.backend() == propledger_ledger::Backend::Postgres {
        // While another transaction holds the writers' lock, the insert is already made (its
        // table is locked by the waiting writer) and the rest waits for the lock.
        use sqlx::Connection;
        let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql("BEGIN; SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let ledger = db.ledger.clone();
        let mut writer = UnitOfWork::new();
        writer
            .before_lock(Statement::new(
                "INSERT INTO ext_marks (n, label) VALUES (10, 'early')",
            ))
            .record(transfer("waited", cash, capital, "1.00"));
        let waiting = tokio::spawn(async move { ledger.apply(writer).await });
        let mut inserted = false;
        for _ in 0..500 {
            let rows: Vec<(String, bool)> = sqlx::query_as(
                "SELECT l.mode, l.granted FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 WHERE c.relname = 'ext_marks' AND l.pid <> pg_backend_pid()",
            )
            .fetch_all(&mut holder)
            .await
            .unwrap();
            if rows
                .iter()
                .any(|(mode, granted)| mode == "RowExclusiveLock" && *granted)
            {
                inserted = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            inserted,
            "the unlocked insert ran before the lock was granted"
        );
        assert!(
            !waiting.is_finished(),
            "the rest waits for the writers' lock"
        );
        sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
        let applied = waiting.await.unwrap().unwrap();
        assert_eq!(applied.rows_affected, vec![1]);
        assert_eq!(marks(&db).await, vec![(10, "early".into(), None)]);
        db.ledger
            .apply({
                let mut c = UnitOfWork::new();
                c.statement(Statement::new("DELETE FROM ext_marks"));
                c
            })
            .await
            .unwrap();
    }

    // With the guard met, the unlocked insert commits with the entry.
    db.ledger
        .apply({
            let mut c = UnitOfWork::new();
            c.statement(Statement::new(
                "INSERT INTO ext_marks (n, label) VALUES (1, 'here')",
            ));
            c
        })
        .await
        .unwrap();
    let applied = db
        .ledger
        .apply({
            let mut c = changes("kept", "here");
            c.precondition(Statement::new("SELECT n FROM ext_marks WHERE n = 1"));
            c
        })
        .await
        .unwrap();
    assert_eq!(applied.rows_affected, vec![1, 1, 1]);
    assert_eq!(
        marks(&db).await,
        vec![
            (1, "here".into(), Some("seen".into())),
            (10, "early".into(), None)
        ]
    );
    assert!(
        db.ledger
            .entries()
            .by_key(&key("kept"))
            .await
            .unwrap()
            .is_some()
    );
    assert_invariants(&db.ledger).await;
}

async fn named_locks_exclude_other_holders(db: TestDb) {
    let other = db.reopen().await;
    let mut a = db
        .ledger
        .try_lock("indexer-1")
        .await
        .unwrap()
        .expect("free");
    assert_eq!(a.name(), "indexer-1");
    assert!(a.held().await);
    assert!(other.try_lock("indexer-1").await.unwrap().is_none());
    assert!(db.ledger.try_lock("indexer-1").await.unwrap().is_none());
    let b = other.try_lock("indexer-2").await.unwrap();
    assert!(b.is_some(), "another name is another lock");
    a.release().await;
    let mut again = other
        .try_lock("indexer-1")
        .await
        .unwrap()
        .expect("released");
    assert!(again.held().await);

    // Dropped without a release (as when the holder dies): the lock goes with the session or
    // the file descriptor.
    drop(again);
    let mut taken = None;
    for _ in 0..100 {
        taken = db.ledger.try_lock("indexer-1").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(taken.is_some(), "a dropped lock is free again");

    for bad in ["", "Indexer", "a b", "../x", &"x".repeat(65)] {
        let err = db.ledger.try_lock(bad).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "lock name",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
}

async fn retraction_voids_pending_and_reverses_posted(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    let entries = db.ledger.entries();
    entries
        .record(transfer("posted", cash, capital, "7.00"))
        .await
        .unwrap();
    entries
        .record(
            entry("pending")
                .debit(cash, amt("2.00"))
                .credit(capital, amt("2.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let mut changes = UnitOfWork::new();
    changes
        .retract(retraction("posted"))
        .retract(retraction("pending"))
        // A replacement recorded in the same transaction, as after a reorg.
        .record(transfer("replacement", cash, capital, "1.00"));
    let applied = db.ledger.apply(changes).await.unwrap();
    assert_eq!(applied.retracted[0].key, key("undo-posted"));
    assert_eq!(applied.retracted[0].status, EntryStatus::Posted);
    assert!(!applied.retracted[0].replayed);
    assert_eq!(applied.retracted[1].key, key("pending"));
    assert_eq!(applied.retracted[1].status, EntryStatus::Voided);
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("1.00"));
    assert_eq!(b.pending().unwrap(), amt("0.00"));

    // Retracting again changes nothing.
    let mut again = UnitOfWork::new();
    again
        .retract(retraction("posted"))
        .retract(retraction("pending"));
    let applied = db.ledger.apply(again).await.unwrap();
    assert!(applied.retracted.iter().all(|r| r.replayed));
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("1.00"));
    assert!(db.ledger.verifier().chain().await.unwrap().is_intact());
    assert_invariants(&db.ledger).await;
}

async fn posting_by_key_and_unknown_keys(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    for k in ["x", "y"] {
        db.ledger
            .entries()
            .record(
                entry(k)
                    .debit(cash, amt("4.00"))
                    .credit(capital, amt("4.00"))
                    .pending()
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let mut changes = UnitOfWork::new();
    changes.post(key("x")).post(key("nope"));
    assert!(matches!(
        db.ledger.apply(changes).await,
        Err(Error::UnknownKey(k)) if k == key("nope")
    ));
    let mut changes = UnitOfWork::new();
    changes.post(key("x")).post(key("y"));
    let applied = db.ledger.apply(changes).await.unwrap();
    assert!(
        applied
            .posted
            .iter()
            .all(|r| r.status == EntryStatus::Posted && !r.replayed)
    );
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("8.00"));
    // Posting again is a replay; retracting a posted entry reverses it.
    let mut changes = UnitOfWork::new();
    changes.post(key("x"));
    assert!(db.ledger.apply(changes).await.unwrap().posted[0].replayed);
    assert!(db.ledger.verifier().chain().await.unwrap().is_intact());
    assert_invariants(&db.ledger).await;
}

/// The table [`Statement::load`] fills in these tests: every column type, NULLs and an empty
/// blob.
const LOADED_SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS ext_loaded (
        n BIGINT PRIMARY KEY,
        label TEXT NOT NULL,
        note TEXT,
        data BYTEA NOT NULL
    )"];

static LOADED: Table = Table {
    name: "ext_loaded",
    columns: &[
        ("n", Column::Int),
        ("label", Column::Text),
        ("note", Column::Text),
        ("data", Column::Bytes),
    ],
};

type Loaded = (i64, String, Option<String>, Vec<u8>);

fn loaded_rows(rows: &[Loaded]) -> BulkRows {
    let mut out = BulkRows::with_capacity(0);
    for (n, label, note, data) in rows {
        out.row(4);
        out.push_i64(*n);
        out.push_text(label);
        match note {
            Some(note) => out.push_text(note),
            None => out.push_null(),
        }
        out.push_bytes(data);
    }
    out
}

async fn loaded(db: &TestDb) -> Vec<Loaded> {
    select(
        &db.ledger,
        "SELECT n, label, note, data FROM ext_loaded ORDER BY n",
    )
    .await
}

async fn loading_rows(db: TestDb) {
    create(&db, LOADED_SCHEMA).await;
    let rows: Vec<Loaded> = vec![
        (-1, "one".into(), Some("a\tb\\c\n".into()), vec![0, 255]),
        (2, "two".into(), None, Vec::new()),
        (i64::MAX, "ünï ✓".into(), Some(String::new()), vec![7; 5000]),
    ];
    let mut changes = UnitOfWork::new();
    changes.statement(Statement::load(&LOADED, loaded_rows(&rows)));
    changes.statement(
        Statement::new("UPDATE ext_loaded SET note = $1 WHERE n = $2")
            .bind("updated")
            .bind(2_i64),
    );
    let result = db.ledger.apply(changes).await.unwrap();
    assert_eq!(result.rows_affected, vec![3, 1]);
    let mut expected = rows;
    expected[1].2 = Some("updated".into());
    assert_eq!(loaded(&db).await, expected);
    // The empty blob is a blob, not NULL.
    let empty: Vec<(i64,)> = select(
        &db.ledger,
        "SELECT COUNT(*) FROM ext_loaded WHERE data IS NOT NULL AND length(data) = 0",
    )
    .await;
    assert_eq!(empty, vec![(1,)]);
    // No rows at all is a load of nothing.
    let mut changes = UnitOfWork::new();
    changes.statement(Statement::load(&LOADED, BulkRows::with_capacity(0)));
    assert_eq!(
        db.ledger.apply(changes).await.unwrap().rows_affected,
        vec![0]
    );
}

async fn a_refused_load_changes_nothing(db: TestDb) {
    create(&db, LOADED_SCHEMA).await;
    create(&db, SCHEMA).await;
    let first: Vec<Loaded> = vec![(1, "one".into(), None, vec![1])];
    let mut changes = UnitOfWork::new();
    changes.statement(Statement::load(&LOADED, loaded_rows(&first)));
    db.ledger.apply(changes).await.unwrap();

    // Each refused change also inserts a mark before its load, which must not stay.
    let refused = |rows: BulkRows| {
        let mut changes = UnitOfWork::new();
        changes.statement(
            Statement::new("INSERT INTO ext_marks (n, label) VALUES ($1, $2)")
                .bind(9_i64)
                .bind("nine"),
        );
        changes.statement(Statement::load(&LOADED, rows));
        changes
    };
    // A key already there, after rows that would have loaded.
    let duplicate = loaded_rows(&[
        (5, "five".into(), None, vec![5]),
        (1, "again".into(), None, vec![1]),
    ]);
    match db.ledger.apply(refused(duplicate)).await {
        Err(Error::Database(sqlx::Error::Database(e))) => {
            assert!(e.is_unique_violation(), "{e}");
        }
        other => panic!("a duplicate key loaded: {other:?}"),
    }
    // A NULL in a NOT NULL column.
    let mut null_label = BulkRows::with_capacity(0);
    null_label.row(4);
    null_label.push_i64(6);
    null_label.push_null();
    null_label.push_null();
    null_label.push_bytes(b"x");
    let result = db.ledger.apply(refused(null_label)).await;
    assert!(matches!(result, Err(Error::Database(_))), "{result:?}");
    // A row with fewer values than the load has columns.
    let mut short = BulkRows::with_capacity(0);
    short.row(2);
    short.push_i64(7);
    short.push_text("seven");
    let result = db.ledger.apply(refused(short)).await;
    assert!(
        matches!(result, Err(Error::InvalidInput { .. } | Error::Database(_))),
        "{result:?}"
    );
    assert_eq!(loaded(&db).await, first);
    assert!(marks(&db).await.is_empty());
}

/// SQLite: a write's pages reach the database file soon after it commits, copied by the
/// checkpointer beside the writer. The write here (about 2 MB, some 500 pages of log) is under
/// both SQLite's default automatic checkpoint and the writer's own backstop, so without the
/// checkpointer the pages would stay in the log.
#[tokio::test]
async fn sqlite_checkpoints_run_beside_the_writer() {
    let db = TestDb::new(propledger_ledger::Backend::Sqlite).await;
    create(
        &db,
        &["CREATE TABLE IF NOT EXISTS ext_blobs (n BIGINT PRIMARY KEY, b BYTEA)"],
    )
    .await;
    let path = std::path::PathBuf::from(db.url.strip_prefix("sqlite:").unwrap());
    let size = || std::fs::metadata(&path).map_or(0, |m| m.len());
    let before = size();
    let mut changes = UnitOfWork::new();
    for n in 0..500i64 {
        changes.statement(
            Statement::new("INSERT INTO ext_blobs (n, b) VALUES ($1, $2)")
                .bind(n)
                .bind(vec![n as u8; 4000]),
        );
    }
    db.ledger.apply(changes).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while size() < before + 2_000_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        size() >= before + 2_000_000,
        "database file {} bytes, {before} before the write",
        size()
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM ext_blobs WHERE length(b) = 4000")
            .await,
        500
    );
}

/// The API's pattern: an outbox row per recorded entry and a gap-free event number, both
/// written by a hook with sqlx inside the ledger's transaction.
const OUTBOX_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS api_outbox (entry_key TEXT PRIMARY KEY, entry_id BIGINT NOT NULL, \
     event_no BIGINT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS api_counter (id BIGINT PRIMARY KEY, next_no BIGINT NOT NULL)",
    "INSERT INTO api_counter (id, next_no) VALUES (1, 1)",
];

/// A unit recording `keys` (from `cash` to `capital`) whose hook numbers each new entry.
fn numbered_unit(keys: &[&str], cash: AccountId, capital: AccountId) -> UnitOfWork {
    let mut unit = UnitOfWork::new();
    for k in keys {
        unit.record(transfer(k, cash, capital, "1.00"));
    }
    unit.hook(|conn, applied| {
        Box::pin(async move {
            for receipt in applied.recorded.iter().filter(|r| !r.replayed) {
                // Taking the number and using it in one transaction keeps the sequence free of
                // gaps: a unit that rolls back gives its number back.
                let take = "UPDATE api_counter SET next_no = next_no + 1 WHERE id = 1 \
                            RETURNING next_no - 1";
                let insert =
                    "INSERT INTO api_outbox (entry_key, entry_id, event_no) VALUES ($1, $2, $3)";
                match &mut *conn {
                    TxConn::Sqlite(c) => {
                        let n: i64 = sqlx::query_scalar(take).fetch_one(&mut **c).await?;
                        sqlx::query(insert)
                            .bind(receipt.key.as_str())
                            .bind(receipt.id.get())
                            .bind(n)
                            .execute(&mut **c)
                            .await?;
                    }
                    TxConn::Postgres(c) => {
                        let n: i64 = sqlx::query_scalar(take).fetch_one(&mut **c).await?;
                        sqlx::query(insert)
                            .bind(receipt.key.as_str())
                            .bind(receipt.id.get())
                            .bind(n)
                            .execute(&mut **c)
                            .await?;
                    }
                }
            }
            Ok(())
        })
    });
    unit
}

async fn outbox(db: &TestDb) -> Vec<(String, i64, i64)> {
    select(
        &db.ledger,
        "SELECT entry_key, entry_id, event_no FROM api_outbox ORDER BY event_no",
    )
    .await
}

async fn hooks_write_an_outbox_row_per_entry_and_gap_free_numbers(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    create(&db, OUTBOX_SCHEMA).await;
    let applied = db
        .ledger
        .apply(numbered_unit(&["o1", "o2"], cash, capital))
        .await
        .unwrap();
    let ids: Vec<i64> = applied.recorded.iter().map(|r| r.id.get()).collect();
    // A unit refused by the ledger (a replay with other content) takes no number.
    let mut conflicting = numbered_unit(&["o3"], cash, capital);
    conflicting.record(transfer("o1", cash, capital, "9.00"));
    assert!(matches!(
        db.ledger.apply(conflicting).await,
        Err(Error::IdempotencyConflict { .. })
    ));
    // A replay of a recorded entry makes no new row; a new entry takes the next number.
    let applied = db
        .ledger
        .apply(numbered_unit(&["o2", "o4"], cash, capital))
        .await
        .unwrap();
    assert!(applied.recorded[0].replayed);
    assert_eq!(
        outbox(&db).await,
        vec![
            ("o1".into(), ids[0], 1),
            ("o2".into(), ids[1], 2),
            ("o4".into(), applied.recorded[1].id.get(), 3),
        ]
    );
    // Units applied at once from several handles still number without gaps or repeats.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let ledger = db.reopen().await;
        tasks.push(tokio::spawn(async move {
            ledger
                .apply(numbered_unit(&[&format!("c{i}")], cash, capital))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let numbers: Vec<i64> = outbox(&db).await.iter().map(|(_, _, n)| *n).collect();
    assert_eq!(numbers, (1..=11).collect::<Vec<_>>());
    assert_invariants(&db.ledger).await;
}

async fn a_failing_hook_applies_nothing(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    create(&db, OUTBOX_SCHEMA).await;
    let mut unit = numbered_unit(&["h1"], cash, capital);
    unit.hook(|_, _| Box::pin(async move { Err(Error::Hook("the caller's own refusal".into())) }));
    assert!(matches!(db.ledger.apply(unit).await, Err(Error::Hook(_))));
    assert!(outbox(&db).await.is_empty());
    assert_eq!(db.ledger.entries().by_key(&key("h1")).await.unwrap(), None);
    let counter: Vec<(i64,)> = select(&db.ledger, "SELECT next_no FROM api_counter").await;
    assert_eq!(counter, vec![(1,)]);
    assert_invariants(&db.ledger).await;
}

async fn inserts_are_split_under_the_bind_limits(db: TestDb) {
    create(&db, SCHEMA).await;
    // 3 columns: far more binds than one statement takes on either engine.
    let n = 25_001i64;
    let mut rows = Insert::into_table("INSERT INTO ext_marks (n, label, note)", 3)
        .then("ON CONFLICT (n) DO UPDATE SET note = excluded.note");
    for i in 0..n {
        rows.row([i.into(), "bulk".into(), None::<String>.into()]);
    }
    assert_eq!(rows.len(), n as usize);
    let mut unit = UnitOfWork::new();
    unit.insert(rows);
    let applied = db.ledger.apply(unit).await.unwrap();
    assert!(
        applied.rows_affected.len() > 1,
        "{:?}",
        applied.rows_affected
    );
    assert_eq!(applied.rows_affected.iter().sum::<u64>(), n as u64);
    let count: Vec<(i64,)> = select(&db.ledger, "SELECT COUNT(*) FROM ext_marks").await;
    assert_eq!(count, vec![(n,)]);
    // An `IN` list as long, split alike.
    let mut unit = UnitOfWork::new();
    unit.statement_in(
        "UPDATE ext_marks SET note = 'in' WHERE n IN",
        (0..n).map(Into::into),
    );
    let applied = db.ledger.apply(unit).await.unwrap();
    assert_eq!(applied.rows_affected.iter().sum::<u64>(), n as u64);
    // A row with the wrong number of values refuses the unit before anything runs.
    let mut bad = Insert::into_table("INSERT INTO ext_marks (n, label, note)", 3);
    bad.row([1.into(), "short".into()]);
    let mut unit = UnitOfWork::new();
    unit.insert(bad);
    assert!(matches!(
        db.ledger.apply(unit).await,
        Err(Error::InvalidInput { .. })
    ));
}

async fn units_over_the_limit_are_refused(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    let mut unit = UnitOfWork::new();
    for i in 0..=MAX_UNIT_ENTRIES {
        unit.record(transfer(&format!("big-{i}"), cash, capital, "1.00"));
    }
    assert_eq!(unit.entries(), MAX_UNIT_ENTRIES + 1);
    assert!(matches!(
        db.ledger.apply(unit).await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(
        db.ledger.entries().by_key(&key("big-0")).await.unwrap(),
        None
    );
}
