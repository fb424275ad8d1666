//! Property tests: random sequences of entries, batches, reversals, pending/post/void and replays
//! against a model, on both engines. After every case: each entry balances per currency, all
//! accounts sum to zero per currency, every balance equals the sum of its postings and the
//! model's, replays changed nothing, and the hash chain verifies.
//!
//! Cases share one database per engine (creating a PostgreSQL database per case would dominate
//! the run); each case works in its own accounts and keys, and the global checks cover them all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use propledger_ledger::core::{
    AccountCode, AccountId, AccountType, Amount, BalanceLimit, Currency, EntryDraft, EntryHash,
    EntryId, EntryStatus, IdempotencyKey, NewAccount, Receipt, Totals,
};
use propledger_ledger::{Error, Ledger};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::support::{TestDb, both_engines, date, key, op};

both_engines!(random_histories_keep_every_invariant);

const CASES: u32 = 64;

#[derive(Clone, Debug)]
struct Leg {
    debit: usize,
    credit: usize,
    minor: i64,
}

#[derive(Clone, Debug)]
struct Spec {
    key: u8,
    usdc: bool,
    legs: Vec<Leg>,
    pending: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Record(Spec),
    Batch(Vec<Spec>),
    Post(usize),
    Void(usize),
    Reverse(usize, u8),
    Replay(usize),
}

fn leg() -> impl Strategy<Value = Leg> {
    (0..3usize, 0..3usize, 1..5_000i64).prop_map(|(debit, credit, minor)| Leg {
        debit,
        credit,
        minor,
    })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..16u8,
        any::<bool>(),
        prop::collection::vec(leg(), 1..3),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(key, usdc, legs, pending)| Spec {
            key,
            usdc,
            legs,
            pending,
        })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => spec().prop_map(Op::Record),
        2 => prop::collection::vec(spec(), 1..6).prop_map(Op::Batch),
        2 => any::<usize>().prop_map(Op::Post),
        1 => any::<usize>().prop_map(Op::Void),
        1 => (any::<usize>(), 0..2u8).prop_map(|(i, a)| Op::Reverse(i, a)),
        2 => any::<usize>().prop_map(Op::Replay),
    ]
}

/// Per currency: cash (asset, may not go negative), capital (equity), costs (expense).
struct Books {
    accounts: [[(AccountId, AccountType, BalanceLimit); 3]; 2],
    currencies: [Currency; 2],
}

#[derive(Clone)]
struct Model {
    totals: HashMap<AccountId, Totals>,
    kinds: HashMap<AccountId, (AccountType, BalanceLimit)>,
    by_key: HashMap<IdempotencyKey, (EntryId, EntryHash)>,
    status: HashMap<EntryId, EntryStatus>,
    drafts: HashMap<EntryId, EntryDraft>,
    reversed: HashMap<EntryId, EntryId>,
    order: Vec<EntryId>,
    next_id: i64,
}

/// What the model expects of a request.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    New,
    Replay(EntryId),
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::NegativeBalance { .. } => "negative balance",
        Error::IdempotencyConflict { .. } => "idempotency conflict",
        Error::NotPending { .. } => "not pending",
        Error::NotPosted { .. } => "not posted",
        Error::AlreadyReversed { .. } => "already reversed",
        _ => "other",
    }
}

impl Model {
    /// Applies one new-or-replayed draft; returns the expectation and updates self when new.
    fn record(&mut self, draft: &EntryDraft) -> Result<Expect, &'static str> {
        let hash = draft.content_hash();
        if let Some((id, h)) = self.by_key.get(draft.key()) {
            return if *h == hash {
                Ok(Expect::Replay(*id))
            } else {
                Err("idempotency conflict")
            };
        }
        if let Some(original) = draft.reverses() {
            if self.status.get(&original) != Some(&EntryStatus::Posted) {
                return Err("not posted");
            }
            if self.reversed.contains_key(&original) {
                return Err("already reversed");
            }
        }
        let status = if draft.finality() == propledger_ledger::core::Finality::Pending {
            EntryStatus::Pending
        } else {
            EntryStatus::Posted
        };
        let mut totals = self.totals.clone();
        for p in draft.postings() {
            totals
                .get_mut(&p.account)
                .unwrap()
                .add(p.direction, p.amount, status)
                .unwrap();
        }
        for p in draft.postings() {
            let (t, limit) = self.kinds[&p.account];
            if !totals[&p.account].within(limit, t.normal_side()).unwrap() {
                return Err("negative balance");
            }
        }
        let id = EntryId::new(self.next_id);
        self.next_id += 1;
        self.totals = totals;
        self.by_key.insert(draft.key().clone(), (id, hash));
        self.status.insert(id, status);
        self.drafts.insert(id, draft.clone());
        if let Some(original) = draft.reverses() {
            self.reversed.insert(original, id);
        }
        self.order.push(id);
        Ok(Expect::New)
    }

    fn settle(&mut self, id: EntryId, to: EntryStatus) -> Result<Expect, &'static str> {
        match self.status[&id] {
            s if s == to => Ok(Expect::Replay(id)),
            EntryStatus::Pending => {
                for p in self.drafts[&id].postings() {
                    self.totals
                        .get_mut(&p.account)
                        .unwrap()
                        .settle(p.direction, p.amount, to)
                        .unwrap();
                }
                self.status.insert(id, to);
                Ok(Expect::New)
            }
            _ => Err("not pending"),
        }
    }
}

fn check(
    what: &str,
    expect: Result<Expect, &'static str>,
    got: &Result<Receipt, Error>,
) -> Result<(), TestCaseError> {
    match (&expect, got) {
        (Ok(Expect::New), Ok(r)) => prop_assert!(!r.replayed, "{what}: expected new, got {r:?}"),
        (Ok(Expect::Replay(id)), Ok(r)) => {
            prop_assert!(
                r.replayed && r.id == *id,
                "{what}: expected replay of {id}, got {r:?}"
            )
        }
        (Err(k), Err(e)) => prop_assert_eq!(*k, kind(e), "{}: {:?}", what, e),
        _ => prop_assert!(false, "{what}: expected {expect:?}, got {got:?}"),
    }
    Ok(())
}

fn draft(books: &Books, case: u32, s: &Spec) -> EntryDraft {
    let c = usize::from(s.usdc);
    let currency = books.currencies[c];
    let mut b = EntryDraft::builder(
        IdempotencyKey::parse(&format!("c{case}-k{}", s.key)).unwrap(),
        date(2024, 1, 1 + u32::from(s.key)),
        op("prop"),
    );
    for l in &s.legs {
        let amount = Amount::from_minor(i128::from(l.minor), currency).unwrap();
        b = b
            .debit(books.accounts[c][l.debit].0, amount)
            .credit(books.accounts[c][l.credit].0, amount);
    }
    if s.pending {
        b = b.pending();
    }
    b.build().unwrap()
}

async fn open_books(ledger: &Ledger, case: u32) -> Books {
    let currencies = [
        Currency::parse("USD", 2).unwrap(),
        Currency::parse("USDC", 6).unwrap(),
    ];
    let kinds = [
        ("cash", AccountType::Asset, BalanceLimit::NonNegative),
        ("capital", AccountType::Equity, BalanceLimit::Unlimited),
        ("costs", AccountType::Expense, BalanceLimit::Unlimited),
    ];
    let mut accounts = [[(
        AccountId::new(0),
        AccountType::Asset,
        BalanceLimit::Unlimited,
    ); 3]; 2];
    for (c, currency) in currencies.iter().enumerate() {
        for (i, (name, t, limit)) in kinds.iter().enumerate() {
            let code = AccountCode::parse(&format!("c{case}-{name}-{}", currency.code())).unwrap();
            let a = ledger
                .accounts()
                .open(NewAccount::new(code, name, *t, *currency).with_limit(*limit))
                .await
                .unwrap();
            accounts[c][i] = (a.id, *t, *limit);
        }
    }
    Books {
        accounts,
        currencies,
    }
}

async fn run_case(ledger: &Ledger, case: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let books = open_books(ledger, case).await;
    let mut model = Model {
        totals: HashMap::new(),
        kinds: HashMap::new(),
        by_key: HashMap::new(),
        status: HashMap::new(),
        drafts: HashMap::new(),
        reversed: HashMap::new(),
        order: Vec::new(),
        next_id: 0,
    };
    for (c, currency) in books.currencies.iter().enumerate() {
        for (id, t, limit) in books.accounts[c] {
            model.totals.insert(id, Totals::zero(*currency));
            model.kinds.insert(id, (t, limit));
        }
    }
    let entries = ledger.entries();
    for (step, operation) in ops.into_iter().enumerate() {
        // Ids come from the ledger; the model learns the next one from each receipt.
        match operation {
            Op::Record(s) => {
                let d = draft(&books, case, &s);
                let mut trial = model.clone();
                let got = entries.record(d.clone()).await;
                if let Ok(r) = &got
                    && !r.replayed
                {
                    trial.next_id = r.id.get();
                }
                let expect = trial.record(&d);
                check(&format!("step {step} record"), expect, &got)?;
                if got.is_ok() {
                    model = trial;
                }
            }
            Op::Batch(specs) => {
                let drafts: Vec<EntryDraft> =
                    specs.iter().map(|s| draft(&books, case, s)).collect();
                let got = entries.record_batch(drafts.clone()).await;
                let mut trial = model.clone();
                if let Ok(rs) = &got
                    && let Some(first_new) = rs.iter().find(|r| !r.replayed)
                {
                    trial.next_id = first_new.id.get();
                }
                let mut outcome: Result<Vec<Expect>, &'static str> = Ok(Vec::new());
                for d in &drafts {
                    match trial.record(d) {
                        Ok(e) => {
                            if let Ok(v) = &mut outcome {
                                v.push(e);
                            }
                        }
                        Err(k) => {
                            outcome = Err(k);
                            break;
                        }
                    }
                }
                match (&outcome, &got) {
                    (Ok(expects), Ok(receipts)) => {
                        prop_assert_eq!(expects.len(), receipts.len());
                        for (e, r) in expects.iter().zip(receipts) {
                            match e {
                                Expect::New => prop_assert!(!r.replayed),
                                Expect::Replay(id) => prop_assert!(r.replayed && r.id == *id),
                            }
                        }
                        model = trial;
                    }
                    (Err(k), Err(e)) => {
                        prop_assert_eq!(*k, kind(e), "step {} batch: {:?}", step, e)
                    }
                    _ => prop_assert!(
                        false,
                        "step {step} batch: expected {outcome:?}, got {got:?}"
                    ),
                }
            }
            Op::Post(i) | Op::Void(i) if !model.order.is_empty() => {
                let id = model.order[i % model.order.len()];
                let to = if matches!(operation, Op::Post(_)) {
                    EntryStatus::Posted
                } else {
                    EntryStatus::Voided
                };
                let got = if to == EntryStatus::Posted {
                    entries.post(id).await
                } else {
                    entries.void(id).await
                };
                let expect = model.settle(id, to);
                check(&format!("step {step} {to}"), expect, &got)?;
            }
            Op::Reverse(i, attempt) if !model.order.is_empty() => {
                let id = model.order[i % model.order.len()];
                let rev_key = key(&format!("c{case}-rev-{}-{attempt}", id.get()));
                let got = entries
                    .reverse(
                        id,
                        rev_key.clone(),
                        date(2024, 6, 1),
                        "correction",
                        op("prop"),
                    )
                    .await;
                let original = entries.get(id).await.unwrap();
                let mut trial = model.clone();
                let expect = match EntryDraft::reversal_of(
                    &original,
                    rev_key,
                    date(2024, 6, 1),
                    "correction",
                    op("prop"),
                ) {
                    Ok(d) => {
                        if let Ok(r) = &got
                            && !r.replayed
                        {
                            trial.next_id = r.id.get();
                        }
                        trial.record(&d)
                    }
                    Err(e) => Err(kind(&e)),
                };
                check(&format!("step {step} reverse"), expect, &got)?;
                if got.is_ok() {
                    model = trial;
                }
            }
            Op::Replay(i) if !model.order.is_empty() => {
                let id = model.order[i % model.order.len()];
                let d = model.drafts[&id].clone();
                let before = ledger.verifier().chain().await.unwrap();
                let got = entries.record(d).await;
                let r = got.map_err(|e| TestCaseError::fail(format!("replay refused: {e:?}")))?;
                prop_assert!(r.replayed && r.id == id && r.status == model.status[&id]);
                let after = ledger.verifier().chain().await.unwrap();
                prop_assert_eq!(before, after, "a replay changed the chain");
            }
            _ => {}
        }
        // Every balance equals the model's.
        for (id, t) in &model.totals {
            let b = ledger.accounts().balance(*id, None).await.unwrap();
            prop_assert_eq!(&b.totals, t, "step {}: account {}", step, id);
        }
    }
    let audit = ledger.verifier().audit().await.unwrap();
    prop_assert!(audit.is_clean(), "{audit:?}");
    let chain = ledger.verifier().chain().await.unwrap();
    prop_assert!(chain.is_intact(), "{chain:?}");
    Ok(())
}

async fn random_histories_keep_every_invariant(db: TestDb) {
    static CASE: AtomicU32 = AtomicU32::new(0);
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&prop::collection::vec(op_strategy(), 1..12), |ops| {
                let case = CASE.fetch_add(1, Ordering::Relaxed);
                handle.block_on(run_case(&db.ledger, case, ops))
            })
            .unwrap();
    });
}
