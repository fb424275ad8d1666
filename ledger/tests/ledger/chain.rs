//! The hash chain: verification and tamper detection.

use propledger_ledger::Backend;
use propledger_ledger::core::{EntryHash, EntryId};
use propledger_ledger::verify::BreakReason;

use crate::support::{Basic, TestDb, amt, basic, both_engines, entry, transfer};

both_engines!(
    chain_links_posted_entries_in_posting_order,
    altered_amount_is_found,
    altered_description_is_found,
    removed_entries_are_found,
);

/// Lets the test edit rows as an intruder with full database access would.
async fn drop_append_only_guards(db: &TestDb) {
    match db.ledger.backend() {
        Backend::Sqlite => {
            for trigger in [
                "ledger_postings_append_only_update",
                "ledger_postings_append_only_delete",
                "ledger_entries_append_only_delete",
                "ledger_entries_finality_only",
            ] {
                let sql = format!("DROP TRIGGER {trigger}");
                db.raw(Box::leak(sql.into_boxed_str())).await.unwrap();
            }
        }
        Backend::Postgres => {
            db.raw("ALTER TABLE ledger_postings DISABLE TRIGGER USER")
                .await
                .unwrap();
            db.raw("ALTER TABLE ledger_entries DISABLE TRIGGER USER")
                .await
                .unwrap();
        }
    }
}

/// Five posted entries (ids 1..=5), a pending one, a voided one.
async fn seeded(db: &TestDb) -> Basic {
    let b = basic(&db.ledger).await;
    let entries = db.ledger.entries();
    for i in 1..=3 {
        entries
            .record(transfer(&format!("e{i}"), b.cash, b.capital, "10.00"))
            .await
            .unwrap();
    }
    let pending = entries
        .record(
            entry("pending")
                .debit(b.cash, amt("1.00"))
                .credit(b.rent, amt("1.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let voided = entries
        .record(
            entry("voided")
                .debit(b.cash, amt("2.00"))
                .credit(b.rent, amt("2.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    entries.void(voided.id).await.unwrap();
    entries.post(pending.id).await.unwrap();
    entries
        .record(transfer("e6", b.repairs, b.cash, "3.00"))
        .await
        .unwrap();
    b
}

async fn chain_links_posted_entries_in_posting_order(db: TestDb) {
    let report = db.ledger.verifier().chain().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.entries_checked, 0);
    assert_eq!(report.head_hash, EntryHash::GENESIS);

    seeded(&db).await;
    let report = db.ledger.verifier().chain().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries_checked, 5);
    assert_eq!(report.head_seq, 5);
    // The pending entry (id 4) was posted after id 5 was voided, so it is 4th in the chain, and
    // the head is the last entry recorded (id 6).
    let e4 = db.ledger.entries().get(EntryId::new(4)).await.unwrap();
    assert_eq!(e4.chain.unwrap().seq, 4);
    let e6 = db.ledger.entries().get(EntryId::new(6)).await.unwrap();
    assert_eq!(e6.chain.unwrap().seq, 5);
    assert_eq!(e6.chain.unwrap().prev_hash, e4.chain.unwrap().hash);
    assert_eq!(report.head_hash, e6.chain.unwrap().hash);
    let voided = db.ledger.entries().get(EntryId::new(5)).await.unwrap();
    assert_eq!(voided.chain, None);
}

async fn altered_amount_is_found(db: TestDb) {
    seeded(&db).await;
    drop_append_only_guards(&db).await;
    db.raw("UPDATE ledger_postings SET amount = '10.01' WHERE entry_id = 2")
        .await
        .unwrap();
    let report = db.ledger.verifier().chain().await.unwrap();
    let found = report.first_break.expect("tampering is detected");
    assert_eq!(found.entry, Some(EntryId::new(2)));
    assert_eq!(found.seq, 2);
    assert_eq!(found.reason, BreakReason::ContentAltered);
    // The balance projection no longer matches either.
    let audit = db.ledger.verifier().audit().await.unwrap();
    assert!(!audit.is_clean());
}

async fn altered_description_is_found(db: TestDb) {
    seeded(&db).await;
    drop_append_only_guards(&db).await;
    db.raw("UPDATE ledger_entries SET description = 'nothing to see' WHERE id = 3")
        .await
        .unwrap();
    let found = db
        .ledger
        .verifier()
        .chain()
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(found.entry, Some(EntryId::new(3)));
    assert_eq!(found.reason, BreakReason::ContentAltered);
}

async fn removed_entries_are_found(db: TestDb) {
    seeded(&db).await;
    drop_append_only_guards(&db).await;
    // Remove the last posted entry: the head no longer matches.
    db.raw("DELETE FROM ledger_postings WHERE entry_id = 6")
        .await
        .unwrap();
    db.raw("DELETE FROM ledger_entries WHERE id = 6")
        .await
        .unwrap();
    let found = db
        .ledger
        .verifier()
        .chain()
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(found.reason, BreakReason::HeadMismatch);
    // Remove one in the middle: the next entry names the gap.
    db.raw("DELETE FROM ledger_postings WHERE entry_id = 2")
        .await
        .unwrap();
    db.raw("DELETE FROM ledger_entries WHERE id = 2")
        .await
        .unwrap();
    let found = db
        .ledger
        .verifier()
        .chain()
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(found.entry, Some(EntryId::new(3)));
    assert_eq!(found.reason, BreakReason::SequenceGap { expected: 2 });
}
