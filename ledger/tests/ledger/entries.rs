//! Recording, idempotency, finality, reversals, balance limits, concurrency, append-only.

use std::sync::Arc;

use propledger_ledger::Error;
use propledger_ledger::core::{
    AccountType, Amount, BalanceLimit, Currency, EntryDraft, EntryId, EntryStatus,
};

use crate::support::{
    Basic, TestDb, amt, assert_invariants, basic, both_engines, date, entry, key, op, open,
    transfer,
};

both_engines!(
    records_and_reads_back,
    replays_are_no_ops_and_conflicts_are_refused,
    batches_are_all_or_nothing,
    duplicate_keys_inside_a_batch,
    pending_entries_post_or_void,
    reversals_mirror_and_happen_once,
    bad_input_is_refused_with_typed_errors,
    balances_as_of_a_date,
    dated_sums_page_through_many_postings,
    concurrent_writers_lose_no_updates,
    concurrent_withdrawals_never_overdraw,
    handles_never_write_from_stale_balances,
    rows_are_append_only,
);

async fn records_and_reads_back(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    let draft = entry("deposit-1")
        .description("capital from investor 1")
        .debit(cash, amt("1000.00"))
        .credit(capital, amt("1000.00"))
        .build()
        .unwrap();
    let r = db.ledger.entries().record(draft.clone()).await.unwrap();
    assert_eq!(r.status, EntryStatus::Posted);
    assert!(!r.replayed);
    let link = r.chain.expect("posted entries are chained");
    assert_eq!(link.seq, 1);

    let e = db.ledger.entries().get(r.id).await.unwrap();
    assert_eq!(e.key, key("deposit-1"));
    assert_eq!(e.description, "capital from investor 1");
    assert_eq!(e.postings, draft.postings());
    assert_eq!(e.content_hash, draft.content_hash());
    assert_eq!(e.chain, Some(link));
    assert_eq!(
        db.ledger.entries().by_key(&key("deposit-1")).await.unwrap(),
        Some(e)
    );
    assert_eq!(
        db.ledger.entries().by_key(&key("nope")).await.unwrap(),
        None
    );

    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("1000.00"));
    assert_eq!(b.pending().unwrap(), amt("0.00"));
    let b = db.ledger.accounts().balance(capital, None).await.unwrap();
    assert_eq!(
        b.posted().unwrap(),
        amt("1000.00"),
        "equity shows on its credit side"
    );
    assert_invariants(&db.ledger).await;
}

async fn replays_are_no_ops_and_conflicts_are_refused(db: TestDb) {
    let Basic {
        cash,
        capital,
        rent,
        ..
    } = basic(&db.ledger).await;
    let first = db
        .ledger
        .entries()
        .record(transfer("k1", cash, capital, "10.00"))
        .await
        .unwrap();
    let replay = db
        .ledger
        .entries()
        .record(transfer("k1", cash, capital, "10.00"))
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.id, first.id);
    assert_eq!(replay.chain, first.chain);
    // Replaying as pending is still the same content: the entry on record comes back.
    let as_pending = entry("k1")
        .debit(cash, amt("10.00"))
        .credit(capital, amt("10.00"))
        .pending()
        .build()
        .unwrap();
    let r = db.ledger.entries().record(as_pending).await.unwrap();
    assert!(r.replayed && r.status == EntryStatus::Posted);

    let conflict = db
        .ledger
        .entries()
        .record(transfer("k1", cash, rent, "10.00"))
        .await;
    assert!(matches!(
        conflict,
        Err(Error::IdempotencyConflict { ref key, existing }) if key.as_str() == "k1" && existing == first.id
    ));
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("10.00"));
    assert_eq!(db.count("SELECT COUNT(*) FROM ledger_entries").await, 1);
    assert_invariants(&db.ledger).await;
}

async fn batches_are_all_or_nothing(db: TestDb) {
    let Basic {
        cash,
        capital,
        repairs,
        ..
    } = basic(&db.ledger).await;
    let batch: Vec<EntryDraft> = (0..50)
        .map(|i| transfer(&format!("b-{i}"), cash, capital, "1.00"))
        .collect();
    let receipts = db.ledger.entries().record_batch(batch).await.unwrap();
    assert_eq!(receipts.len(), 50);
    let seqs: Vec<u64> = receipts.iter().map(|r| r.chain.unwrap().seq).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());

    // The last entry would overdraw cash: nothing of this batch is stored.
    let mut bad: Vec<EntryDraft> = (0..10)
        .map(|i| transfer(&format!("c-{i}"), cash, capital, "1.00"))
        .collect();
    bad.push(transfer("c-overdraw", repairs, cash, "1000.00"));
    let err = db.ledger.entries().record_batch(bad).await.unwrap_err();
    assert!(
        matches!(err, Error::NegativeBalance { ref key, account, .. } if key.as_str() == "c-overdraw" && account == cash),
        "{err:?}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM ledger_entries").await, 50);
    assert_eq!(db.count("SELECT COUNT(*) FROM ledger_postings").await, 100);
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("50.00"));

    // Replaying the first batch alongside new entries records only the new ones.
    let mut mixed: Vec<EntryDraft> = (45..50)
        .map(|i| transfer(&format!("b-{i}"), cash, capital, "1.00"))
        .collect();
    mixed.push(transfer("d-1", repairs, cash, "5.00"));
    let receipts = db.ledger.entries().record_batch(mixed).await.unwrap();
    assert_eq!(receipts.iter().filter(|r| r.replayed).count(), 5);
    assert_eq!(receipts[5].chain.unwrap().seq, 51);
    assert!(
        db.ledger
            .entries()
            .record_batch(Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_invariants(&db.ledger).await;
}

async fn duplicate_keys_inside_a_batch(db: TestDb) {
    let Basic {
        cash,
        capital,
        rent,
        ..
    } = basic(&db.ledger).await;
    let receipts = db
        .ledger
        .entries()
        .record_batch(vec![
            transfer("x", cash, capital, "2.00"),
            transfer("x", cash, capital, "2.00"),
        ])
        .await
        .unwrap();
    assert_eq!(receipts[0].id, receipts[1].id);
    assert!(!receipts[0].replayed && receipts[1].replayed);
    let err = db
        .ledger
        .entries()
        .record_batch(vec![
            transfer("y", cash, capital, "2.00"),
            transfer("y", cash, rent, "2.00"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdempotencyConflict { .. }), "{err:?}");
    assert_eq!(db.count("SELECT COUNT(*) FROM ledger_entries").await, 1);
    assert_invariants(&db.ledger).await;
}

async fn pending_entries_post_or_void(db: TestDb) {
    let Basic {
        cash,
        capital,
        repairs,
        ..
    } = basic(&db.ledger).await;
    let entries = db.ledger.entries();
    entries
        .record(transfer("fund", cash, capital, "100.00"))
        .await
        .unwrap();
    let seen = entries
        .record(
            entry("chain-1")
                .debit(cash, amt("40.00"))
                .credit(capital, amt("40.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(seen.status, EntryStatus::Pending);
    assert_eq!(seen.chain, None, "pending entries are not chained");
    let spend = entries
        .record(
            entry("chain-2")
                .debit(repairs, amt("30.00"))
                .credit(cash, amt("30.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();

    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("100.00"));
    assert_eq!(b.pending().unwrap(), amt("10.00"));
    assert_eq!(b.with_pending().unwrap(), amt("110.00"));

    // Post the first, void the second.
    let posted = entries.post(seen.id).await.unwrap();
    assert_eq!(posted.status, EntryStatus::Posted);
    assert_eq!(posted.chain.unwrap().seq, 2);
    let voided = entries.void(spend.id).await.unwrap();
    assert_eq!(voided.status, EntryStatus::Voided);
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("140.00"));
    assert_eq!(b.pending().unwrap(), amt("0.00"));
    let b = db.ledger.accounts().balance(repairs, None).await.unwrap();
    assert_eq!(b.with_pending().unwrap(), amt("0.00"));

    // Repeats are replays; crossing over is refused.
    assert!(entries.post(seen.id).await.unwrap().replayed);
    assert!(entries.void(spend.id).await.unwrap().replayed);
    assert!(matches!(
        entries.void(seen.id).await,
        Err(Error::NotPending {
            status: EntryStatus::Posted,
            ..
        })
    ));
    assert!(matches!(
        entries.post(spend.id).await,
        Err(Error::NotPending {
            status: EntryStatus::Voided,
            ..
        })
    ));
    assert!(matches!(
        entries.post(EntryId::new(999)).await,
        Err(Error::UnknownEntry(_))
    ));
    // Replaying a voided entry's key returns it, voided.
    let again = entries
        .record(
            entry("chain-2")
                .debit(repairs, amt("30.00"))
                .credit(cash, amt("30.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(again.replayed && again.status == EntryStatus::Voided);
    assert_invariants(&db.ledger).await;
}

async fn reversals_mirror_and_happen_once(db: TestDb) {
    let Basic {
        cash,
        capital,
        rent,
        ..
    } = basic(&db.ledger).await;
    let entries = db.ledger.entries();
    let original = entries
        .record(transfer("rent-1", cash, rent, "25.00"))
        .await
        .unwrap();
    entries
        .record(transfer("cap", cash, capital, "5.00"))
        .await
        .unwrap();
    let rev = entries
        .reverse(
            original.id,
            key("rent-1-rev"),
            date(2024, 2, 1),
            "wrong tenant",
            op("fix-7"),
        )
        .await
        .unwrap();
    assert!(!rev.replayed);
    let stored = entries.get(rev.id).await.unwrap();
    assert_eq!(stored.reverses, Some(original.id));
    assert_eq!(stored.postings.len(), 2);
    let b = db.ledger.accounts().balance(rent, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("0.00"));

    // Same key again: a replay. Another key: already reversed.
    let replay = entries
        .reverse(
            original.id,
            key("rent-1-rev"),
            date(2024, 2, 1),
            "wrong tenant",
            op("fix-7"),
        )
        .await
        .unwrap();
    assert!(replay.replayed && replay.id == rev.id);
    assert!(matches!(
        entries
            .reverse(original.id, key("rent-1-rev2"), date(2024, 2, 1), "again", op("fix-8"))
            .await,
        Err(Error::AlreadyReversed { entry, reversal }) if entry == original.id && reversal == rev.id
    ));
    // A pending entry is voided, not reversed.
    let pending = entries
        .record(
            entry("p")
                .debit(cash, amt("1.00"))
                .credit(rent, amt("1.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(matches!(
        entries
            .reverse(pending.id, key("p-rev"), date(2024, 2, 1), "", op("x"))
            .await,
        Err(Error::NotPosted { .. })
    ));
    // A reversal that would overdraw cash is refused like any entry.
    let cap = entries.by_key(&key("cap")).await.unwrap().unwrap();
    entries
        .record(transfer("spend", rent, cash, "5.00"))
        .await
        .unwrap();
    assert!(matches!(
        entries
            .reverse(cap.id, key("cap-rev"), date(2024, 2, 1), "", op("x"))
            .await,
        Err(Error::NegativeBalance { .. })
    ));
    assert_invariants(&db.ledger).await;
}

async fn bad_input_is_refused_with_typed_errors(db: TestDb) {
    let Basic {
        cash,
        capital,
        rent,
        ..
    } = basic(&db.ledger).await;
    let eur_account = db
        .ledger
        .accounts()
        .open(propledger_ledger::core::NewAccount::new(
            propledger_ledger::core::AccountCode::parse("1001").unwrap(),
            "EUR cash",
            AccountType::Asset,
            Currency::parse("EUR", 2).unwrap(),
        ))
        .await
        .unwrap()
        .id;
    let entries = db.ledger.entries();
    entries
        .record(transfer("seed", cash, capital, "10.00"))
        .await
        .unwrap();
    let before_entries = db.count("SELECT COUNT(*) FROM ledger_entries").await;
    let before_postings = db.count("SELECT COUNT(*) FROM ledger_postings").await;
    let before = db.ledger.accounts().balance(cash, None).await.unwrap();

    // Unbalanced: refused before it reaches the store.
    assert!(matches!(
        entry("u")
            .debit(cash, amt("1.00"))
            .credit(rent, amt("2.00"))
            .build(),
        Err(Error::Unbalanced { .. })
    ));
    // Unknown account.
    let missing = propledger_ledger::core::AccountId::new(4242);
    assert!(matches!(
        entries.record(transfer("unknown", cash, missing, "1.00")).await,
        Err(Error::UnknownAccount { key: Some(ref k), account }) if k.as_str() == "unknown" && account == missing
    ));
    // Currency mismatch: USD postings into a EUR account.
    assert!(matches!(
        entries.record(transfer("fx", eur_account, rent, "1.00")).await,
        Err(Error::CurrencyMismatch { account: Some(a), .. }) if a == eur_account
    ));
    // Scale overflow: three decimals into a two-decimal currency.
    let usd3 = Currency::parse("USD", 3).unwrap();
    let fine = Amount::parse("1.005", usd3).unwrap();
    assert!(matches!(
        entries
            .record(
                entry("scale")
                    .debit(cash, fine)
                    .credit(rent, fine)
                    .build()
                    .unwrap()
            )
            .await,
        Err(Error::ScaleOverflow { .. })
    ));
    assert!(matches!(
        Amount::parse("1.005", crate::support::usd()),
        Err(Error::ScaleOverflow { .. })
    ));
    // Negative cash where forbidden.
    assert!(matches!(
        entries.record(transfer("overdraw", rent, cash, "10.01")).await,
        Err(Error::NegativeBalance { account, .. }) if account == cash
    ));
    // Idempotency conflict.
    assert!(matches!(
        entries
            .record(transfer("seed", cash, capital, "10.01"))
            .await,
        Err(Error::IdempotencyConflict { .. })
    ));
    // Batch over the limit.
    let too_many = vec![transfer("t", cash, capital, "1.00"); 10_001];
    assert!(matches!(
        entries.record_batch(too_many).await,
        Err(Error::BatchTooLarge { .. })
    ));

    assert_eq!(
        db.count("SELECT COUNT(*) FROM ledger_entries").await,
        before_entries
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM ledger_postings").await,
        before_postings
    );
    assert_eq!(
        db.ledger.accounts().balance(cash, None).await.unwrap(),
        before
    );
    assert_invariants(&db.ledger).await;
}

async fn balances_as_of_a_date(db: TestDb) {
    let Basic {
        cash,
        capital,
        rent,
        ..
    } = basic(&db.ledger).await;
    let entries = db.ledger.entries();
    let on = |k: &str, d, debit, credit, a: &str| {
        EntryDraft::builder(key(k), d, op("t"))
            .debit(debit, amt(a))
            .credit(credit, amt(a))
            .build()
            .unwrap()
    };
    entries
        .record(on("a", date(2024, 1, 1), cash, capital, "100.00"))
        .await
        .unwrap();
    entries
        .record(on("b", date(2024, 2, 1), cash, rent, "10.00"))
        .await
        .unwrap();
    entries
        .record(on("c", date(2024, 3, 1), cash, rent, "20.00"))
        .await
        .unwrap();
    let ledger = &db.ledger;
    let balance = |d| async move {
        ledger
            .accounts()
            .balance(cash, d)
            .await
            .unwrap()
            .posted()
            .unwrap()
    };
    assert_eq!(balance(Some(date(2023, 12, 31))).await, amt("0.00"));
    assert_eq!(balance(Some(date(2024, 1, 1))).await, amt("100.00"));
    assert_eq!(balance(Some(date(2024, 2, 15))).await, amt("110.00"));
    assert_eq!(balance(None).await, amt("130.00"));
    assert_eq!(balance(Some(date(2030, 1, 1))).await, amt("130.00"));
}

async fn dated_sums_page_through_many_postings(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    // More postings than one page (2,000) of the dated readers.
    let batch = (0..1_500)
        .map(|i| transfer(&format!("m-{i}"), cash, capital, "0.01"))
        .collect();
    db.ledger.entries().record_batch(batch).await.unwrap();
    let dated = db
        .ledger
        .accounts()
        .balance(cash, Some(date(2024, 12, 31)))
        .await
        .unwrap();
    let current = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(dated, current);
    assert_eq!(dated.posted().unwrap(), amt("15.00"));
    let tb = db
        .ledger
        .reports()
        .trial_balance(
            &propledger_ledger::report::Scope::all(),
            Some(date(2024, 12, 31)),
        )
        .await
        .unwrap();
    assert_eq!(tb.totals[0].posted.debit, amt("15.00"));
}

async fn concurrent_writers_lose_no_updates(db: TestDb) {
    let Basic {
        cash,
        capital,
        rent,
        ..
    } = basic(&db.ledger).await;
    let ledger = Arc::new(db.reopen().await);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let ledger = Arc::clone(&ledger);
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                let k = format!("w{w}-{i}");
                if i % 3 == 0 {
                    let batch = vec![
                        transfer(&format!("{k}-a"), cash, capital, "1.00"),
                        transfer(&format!("{k}-b"), cash, rent, "0.50"),
                    ];
                    ledger.entries().record_batch(batch).await.unwrap();
                } else {
                    ledger
                        .entries()
                        .record(transfer(&k, cash, capital, "1.00"))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // 8 writers x (5 batches of 1.00 + 0.50, 10 singles of 1.00) = 8 x 17.50 = 140.00.
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("140.00"));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM ledger_entries").await,
        8 * 20
    );
    let chain = db.ledger.verifier().chain().await.unwrap();
    assert_eq!(chain.entries_checked, 160);
    assert_invariants(&db.ledger).await;
}

async fn concurrent_withdrawals_never_overdraw(db: TestDb) {
    let cash = open(
        &db.ledger,
        "1000",
        AccountType::Asset,
        BalanceLimit::NonNegative,
    )
    .await;
    let capital = open(
        &db.ledger,
        "3000",
        AccountType::Equity,
        BalanceLimit::Unlimited,
    )
    .await;
    let repairs = open(
        &db.ledger,
        "5000",
        AccountType::Expense,
        BalanceLimit::Unlimited,
    )
    .await;
    db.ledger
        .entries()
        .record(transfer("fund", cash, capital, "10.00"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let ledger = db.ledger.clone();
        tasks.push(tokio::spawn(async move {
            ledger
                .entries()
                .record(transfer(&format!("spend-{i}"), repairs, cash, "1.00"))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::NegativeBalance { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 10, "exactly the funded withdrawals succeed");
    let b = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(b.posted().unwrap(), amt("0.00"));
    assert_invariants(&db.ledger).await;
}

/// Two handles on one database take turns (as two processes would): each remembers the state
/// its last write left, which the other's writes (and settlements) make stale; a write never
/// goes through on stale balances or a stale head.
async fn handles_never_write_from_stale_balances(db: TestDb) {
    let cash = open(
        &db.ledger,
        "1000",
        AccountType::Asset,
        BalanceLimit::NonNegative,
    )
    .await;
    let capital = open(
        &db.ledger,
        "3000",
        AccountType::Equity,
        BalanceLimit::Unlimited,
    )
    .await;
    let repairs = open(
        &db.ledger,
        "5000",
        AccountType::Expense,
        BalanceLimit::Unlimited,
    )
    .await;
    let a = db.ledger.entries();
    let other = db.reopen().await;
    let b = other.entries();
    a.record(transfer("fund", cash, capital, "10.00"))
        .await
        .unwrap();
    a.record(transfer("a-1", repairs, cash, "4.00"))
        .await
        .unwrap();
    b.record(transfer("b-1", repairs, cash, "4.00"))
        .await
        .unwrap();
    // A last saw 6.00 in cash; there are 2.00.
    assert!(matches!(
        a.record(transfer("a-2", repairs, cash, "3.00")).await,
        Err(Error::NegativeBalance { .. })
    ));
    a.record(transfer("a-3", repairs, cash, "2.00"))
        .await
        .unwrap();
    assert!(matches!(
        b.record(transfer("b-2", repairs, cash, "0.01")).await,
        Err(Error::NegativeBalance { .. })
    ));
    // Settlements move the head on too: a pending deposit voided by B, one posted by A.
    let voided = a
        .record(
            entry("p-1")
                .debit(cash, amt("5.00"))
                .credit(capital, amt("5.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    b.void(voided.id).await.unwrap();
    assert!(matches!(
        a.record(transfer("a-4", repairs, cash, "5.00")).await,
        Err(Error::NegativeBalance { .. })
    ));
    let posted = b
        .record(
            entry("p-2")
                .debit(cash, amt("5.00"))
                .credit(capital, amt("5.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    a.post(posted.id).await.unwrap();
    b.record(transfer("b-3", repairs, cash, "5.00"))
        .await
        .unwrap();
    a.record(transfer("a-5", repairs, cash, "0.01"))
        .await
        .unwrap_err();
    // Replays through either handle, after the other wrote.
    let replay = a
        .record(transfer("b-3", repairs, cash, "5.00"))
        .await
        .unwrap();
    assert!(replay.replayed);
    a.record(transfer("a-6", cash, capital, "1.00"))
        .await
        .unwrap();
    a.record(transfer("a-7", repairs, cash, "1.00"))
        .await
        .unwrap();
    let balance = db.ledger.accounts().balance(cash, None).await.unwrap();
    assert_eq!(balance.posted().unwrap(), amt("0.00"));
    let chain = other.verifier().chain().await.unwrap();
    assert!(chain.is_intact());
    assert_eq!(chain.entries_checked, 8);
    assert_invariants(&db.ledger).await;
    assert_invariants(&other).await;
}

async fn rows_are_append_only(db: TestDb) {
    let Basic { cash, capital, .. } = basic(&db.ledger).await;
    let entries = db.ledger.entries();
    entries
        .record(transfer("a", cash, capital, "3.00"))
        .await
        .unwrap();
    entries
        .record(
            entry("p")
                .debit(cash, amt("1.00"))
                .credit(capital, amt("1.00"))
                .pending()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    for sql in [
        "UPDATE ledger_postings SET amount = '4.00'",
        "DELETE FROM ledger_postings",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_entries SET description = 'changed'",
        "UPDATE ledger_entries SET status = 'voided' WHERE idempotency_key = 'a'",
        "UPDATE ledger_entries SET status = 'pending' WHERE idempotency_key = 'p'",
        "UPDATE ledger_accounts SET balance_limit = 'unlimited'",
        "UPDATE ledger_currencies SET scale = 3",
    ] {
        assert!(db.raw(sql).await.is_err(), "{sql} must be refused");
    }
    assert_invariants(&db.ledger).await;
}
