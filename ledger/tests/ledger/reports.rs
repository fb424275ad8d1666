//! Reports over a small property history.

use propledger_ledger::Ledger;
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{
    Account, AccountCode, AccountId, AccountType, DimValue, Dimensions, EntryDraft, EntryStatus,
    NewAccount,
};
use propledger_ledger::entry::{EntryFilter, SourceKind};
use propledger_ledger::report::Scope;

use crate::support::{TestDb, amt, both_engines, date, dim, key, op, usd};

both_engines!(
    trial_balance_balances_and_respects_dates,
    balance_sheet_and_income_statement,
    budget_vs_actual_by_line,
    investor_capital_accounts,
    scopes_select_property_and_deal,
    entry_search_filters_and_pages,
);

pub(crate) struct Oak {
    pub(crate) treasury: AccountId,
    pub(crate) operating: AccountId,
    pub(crate) property: AccountId,
    pub(crate) payable: AccountId,
    pub(crate) rent: AccountId,
    pub(crate) fees: AccountId,
    pub(crate) loan_acq: AccountId,
    pub(crate) roof: AccountId,
    pub(crate) kitchen: AccountId,
    pub(crate) capital: [AccountId; 2],
    pub(crate) distributions: [AccountId; 2],
}

fn code_of(chart: &[Account], code: &str) -> AccountId {
    chart.iter().find(|a| a.code.as_str() == code).unwrap().id
}

async fn per(ledger: &Ledger, code: &str, name: &str, t: AccountType, d: Dimensions) -> AccountId {
    ledger
        .accounts()
        .open(NewAccount::new(AccountCode::parse(code).unwrap(), name, t, usd()).with_dimensions(d))
        .await
        .unwrap()
        .id
}

/// The Oak Street history (see the module tests for the numbers) plus one Elm entry.
pub(crate) async fn oak(ledger: &Ledger) -> Oak {
    let p = dim("oak");
    let chart = ledger
        .accounts()
        .open_property_chart(&p, usd())
        .await
        .unwrap();
    let investor = |i: &str| Dimensions::property(p.clone()).with_investor(dim(i));
    let line = |l: &str| Dimensions::property(p.clone()).with_budget_line(dim(l));
    let oak = Oak {
        treasury: code_of(&chart, codes::TREASURY_CASH),
        operating: code_of(&chart, codes::OPERATING_CASH),
        property: code_of(&chart, codes::PROPERTY_AT_COST),
        payable: code_of(&chart, codes::DISTRIBUTIONS_PAYABLE),
        rent: code_of(&chart, codes::RENTAL_INCOME),
        fees: code_of(&chart, codes::MANAGEMENT_FEES),
        loan_acq: per(
            ledger,
            codes::LOANS_PAYABLE,
            "Acquisition loan",
            AccountType::Liability,
            Dimensions::property(p.clone()).with_deal(dim("acq")),
        )
        .await,
        roof: per(
            ledger,
            codes::CAPITALIZED_IMPROVEMENTS,
            "Roof",
            AccountType::Asset,
            line("roof"),
        )
        .await,
        kitchen: per(
            ledger,
            codes::CAPITALIZED_IMPROVEMENTS,
            "Kitchen",
            AccountType::Asset,
            line("kitchen"),
        )
        .await,
        capital: [
            per(
                ledger,
                codes::INVESTOR_CAPITAL,
                "Capital inv-1",
                AccountType::Equity,
                investor("inv-1"),
            )
            .await,
            per(
                ledger,
                codes::INVESTOR_CAPITAL,
                "Capital inv-2",
                AccountType::Equity,
                investor("inv-2"),
            )
            .await,
        ],
        distributions: [
            per(
                ledger,
                codes::DISTRIBUTIONS,
                "Distributions inv-1",
                AccountType::Equity,
                investor("inv-1"),
            )
            .await,
            per(
                ledger,
                codes::DISTRIBUTIONS,
                "Distributions inv-2",
                AccountType::Equity,
                investor("inv-2"),
            )
            .await,
        ],
    };
    let budgets = ledger.budgets();
    budgets
        .set(&p, &dim("roof"), amt("12000.00"))
        .await
        .unwrap();
    assert_eq!(
        budgets
            .set(&p, &dim("roof"), amt("10000.00"))
            .await
            .unwrap(),
        2
    );
    budgets
        .set(&p, &dim("kitchen"), amt("5000.00"))
        .await
        .unwrap();

    let e = |k: &str, d, desc: &str| EntryDraft::builder(key(k), d, op(k)).description(desc);
    let drafts = vec![
        e("c1", date(2024, 1, 5), "inv-1 buys shares")
            .debit(oak.treasury, amt("60000.00"))
            .credit(oak.capital[0], amt("60000.00")),
        e("c2", date(2024, 1, 5), "inv-2 buys shares")
            .debit(oak.treasury, amt("40000.00"))
            .credit(oak.capital[1], amt("40000.00")),
        e("buy", date(2024, 1, 10), "purchase, part financed")
            .debit(oak.property, amt("100000.00"))
            .credit(oak.treasury, amt("80000.00"))
            .credit(oak.loan_acq, amt("20000.00")),
        e("roof-1", date(2024, 2, 1), "roof draw 1")
            .debit(oak.roof, amt("7000.00"))
            .credit(oak.treasury, amt("7000.00")),
        e("kitchen-1", date(2024, 2, 15), "kitchen draw")
            .debit(oak.kitchen, amt("6000.00"))
            .credit(oak.treasury, amt("6000.00")),
        e("rent-mar", date(2024, 3, 1), "March rent")
            .debit(oak.operating, amt("2000.00"))
            .credit(oak.rent, amt("2000.00")),
        e("fee-mar", date(2024, 3, 5), "March management fee")
            .debit(oak.fees, amt("200.00"))
            .credit(oak.operating, amt("200.00")),
        e("dist-q1", date(2024, 3, 31), "Q1 distribution declared")
            .debit(oak.distributions[0], amt("600.00"))
            .debit(oak.distributions[1], amt("400.00"))
            .credit(oak.payable, amt("1000.00")),
        e("roof-2", date(2024, 4, 2), "roof draw 2, awaiting finality")
            .debit(oak.roof, amt("1000.00"))
            .credit(oak.treasury, amt("1000.00"))
            .pending(),
    ];
    let drafts = drafts.into_iter().map(|b| b.build().unwrap()).collect();
    ledger.entries().record_batch(drafts).await.unwrap();

    // Another property, to show scoping.
    let elm = ledger
        .accounts()
        .open_property_chart(&dim("elm"), usd())
        .await
        .unwrap();
    ledger
        .entries()
        .record(
            EntryDraft::builder(key("elm-1"), date(2024, 1, 7), op("elm"))
                .debit(code_of(&elm, codes::TREASURY_CASH), amt("5.00"))
                .credit(code_of(&elm, codes::RENTAL_INCOME), amt("5.00"))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    oak
}

fn oak_scope() -> Scope {
    Scope::property(DimValue::parse("oak").unwrap())
}

async fn trial_balance_balances_and_respects_dates(db: TestDb) {
    let oak = oak(&db.ledger).await;
    let reports = db.ledger.reports();
    let tb = reports.trial_balance(&oak_scope(), None).await.unwrap();
    assert_eq!(tb.totals.len(), 1);
    let t = tb.totals[0];
    assert!(t.is_balanced(), "{t:?}");
    assert_eq!(t.posted.debit, amt("123000.00"));
    assert!(!t.pending.debit.is_zero(), "pending shown apart");
    let line = |id| tb.lines.iter().find(|l| l.account.id == id).unwrap();
    assert_eq!(line(oak.treasury).posted.debit, amt("7000.00"));
    assert_eq!(line(oak.treasury).pending.credit, amt("1000.00"));
    assert_eq!(line(oak.capital[0]).posted.credit, amt("60000.00"));
    // Accounts without activity are left out.
    assert!(
        tb.lines
            .iter()
            .all(|l| l.account.code.as_str() != codes::INSURANCE)
    );

    let jan = reports
        .trial_balance(&oak_scope(), Some(date(2024, 1, 31)))
        .await
        .unwrap();
    assert!(jan.totals[0].is_balanced());
    assert_eq!(jan.totals[0].posted.debit, amt("120000.00"));
    assert!(jan.lines.iter().all(|l| l.account.id != oak.roof));

    let everything = reports.trial_balance(&Scope::all(), None).await.unwrap();
    assert!(everything.totals[0].is_balanced());
    assert_eq!(everything.totals[0].posted.debit, amt("123005.00"));
}

async fn balance_sheet_and_income_statement(db: TestDb) {
    let _ = oak(&db.ledger).await;
    let reports = db.ledger.reports();
    let bs = reports.balance_sheet(&oak_scope(), None).await.unwrap();
    let t = bs.totals[0];
    assert_eq!(t.assets, amt("121800.00"));
    assert_eq!(t.liabilities, amt("21000.00"));
    assert_eq!(t.equity, amt("99000.00"));
    assert_eq!(t.current_earnings, amt("1800.00"));
    assert!(t.is_balanced(), "{t:?}");

    let q1 = reports
        .income_statement(
            &oak_scope(),
            Some(date(2024, 1, 1)),
            Some(date(2024, 3, 31)),
        )
        .await
        .unwrap();
    assert_eq!(q1.totals[0].income, amt("2000.00"));
    assert_eq!(q1.totals[0].expenses, amt("200.00"));
    assert_eq!(q1.totals[0].net_income, amt("1800.00"));
    assert_eq!(q1.income.len(), 1);
    assert_eq!(q1.expenses.len(), 1);
    let feb = reports
        .income_statement(
            &oak_scope(),
            Some(date(2024, 2, 1)),
            Some(date(2024, 2, 29)),
        )
        .await
        .unwrap();
    assert!(feb.income.is_empty() && feb.totals.is_empty());
}

async fn budget_vs_actual_by_line(db: TestDb) {
    let _ = oak(&db.ledger).await;
    let lines = db
        .ledger
        .reports()
        .budget_vs_actual(&dim("oak"))
        .await
        .unwrap();
    assert_eq!(lines.len(), 2);
    let kitchen = &lines[0];
    assert_eq!(kitchen.budget_line, dim("kitchen"));
    assert_eq!(kitchen.budget, Some(amt("5000.00")));
    assert_eq!(kitchen.actual, amt("6000.00"));
    assert_eq!(kitchen.remaining, Some(amt("-1000.00")));
    let roof = &lines[1];
    assert_eq!(
        roof.budget,
        Some(amt("10000.00")),
        "the latest revision counts"
    );
    assert_eq!(roof.actual, amt("7000.00"));
    assert_eq!(roof.pending, amt("1000.00"));
    assert_eq!(roof.remaining, Some(amt("3000.00")));
}

async fn investor_capital_accounts(db: TestDb) {
    let _ = oak(&db.ledger).await;
    let capital = db
        .ledger
        .reports()
        .investor_capital(&oak_scope())
        .await
        .unwrap();
    assert_eq!(capital.len(), 2);
    assert_eq!(capital[0].investor, dim("inv-1"));
    assert_eq!(capital[0].contributed, amt("60000.00"));
    assert_eq!(capital[0].distributed, amt("600.00"));
    assert_eq!(capital[0].balance, amt("59400.00"));
    assert_eq!(capital[1].balance, amt("39600.00"));
}

async fn scopes_select_property_and_deal(db: TestDb) {
    let oak = oak(&db.ledger).await;
    let deal = oak_scope().with_deal(dim("acq"));
    let tb = db
        .ledger
        .reports()
        .trial_balance(&deal, None)
        .await
        .unwrap();
    assert_eq!(tb.lines.len(), 1);
    assert_eq!(tb.lines[0].account.id, oak.loan_acq);
    assert_eq!(tb.lines[0].posted.credit, amt("20000.00"));
    let elm = db
        .ledger
        .reports()
        .income_statement(&Scope::property(dim("elm")), None, None)
        .await
        .unwrap();
    assert_eq!(elm.totals[0].income, amt("5.00"));
}

/// The keys of the entries a search finds, reading pages of `limit` until the end.
async fn found(ledger: &Ledger, filter: &EntryFilter, limit: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = ledger.entries().search(filter, after, limit).await.unwrap();
        assert!(page.len() <= limit);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        keys.extend(page.iter().map(|e| e.key.as_str().to_owned()));
    }
    keys
}

async fn entry_search_filters_and_pages(db: TestDb) {
    let oak = oak(&db.ledger).await;
    let l = &db.ledger;
    let of_oak = EntryFilter {
        property: Some(dim("oak")),
        ..EntryFilter::default()
    };
    let all_oak = [
        "c1",
        "c2",
        "buy",
        "roof-1",
        "kitchen-1",
        "rent-mar",
        "fee-mar",
        "dist-q1",
        "roof-2",
    ];
    // Pages of 4 cover the same entries as one page, in id order, with no repeat.
    assert_eq!(found(l, &of_oak, 4).await, all_oak);
    assert_eq!(found(l, &of_oak, 1000).await, all_oak);
    assert_eq!(
        found(
            l,
            &EntryFilter {
                status: Some(EntryStatus::Pending),
                ..of_oak.clone()
            },
            10
        )
        .await,
        ["roof-2"]
    );
    assert_eq!(
        found(
            l,
            &EntryFilter {
                account: Some(oak.roof),
                ..EntryFilter::default()
            },
            10
        )
        .await,
        ["roof-1", "roof-2"]
    );
    assert_eq!(
        found(
            l,
            &EntryFilter {
                deal: Some(dim("acq")),
                ..EntryFilter::default()
            },
            10
        )
        .await,
        ["buy"]
    );
    assert_eq!(
        found(
            l,
            &EntryFilter {
                from: Some(date(2024, 2, 1)),
                to: Some(date(2024, 3, 5)),
                ..of_oak.clone()
            },
            3
        )
        .await,
        ["roof-1", "kitchen-1", "rent-mar", "fee-mar"]
    );
    assert!(
        found(
            l,
            &EntryFilter {
                source: Some(SourceKind::Chain),
                ..EntryFilter::default()
            },
            10
        )
        .await
        .is_empty()
    );
    assert_eq!(
        found(
            l,
            &EntryFilter {
                property: Some(dim("elm")),
                source: Some(SourceKind::Operator),
                ..EntryFilter::default()
            },
            10
        )
        .await,
        ["elm-1"]
    );
    // Filters that hold together select nothing when one of them fails.
    assert!(
        found(
            l,
            &EntryFilter {
                property: Some(dim("elm")),
                account: Some(oak.roof),
                ..EntryFilter::default()
            },
            10
        )
        .await
        .is_empty()
    );
}
