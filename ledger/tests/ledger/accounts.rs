//! Accounts and currencies.

use propledger_ledger::Error;
use propledger_ledger::account::AccountFilter;
use propledger_ledger::core::chart::{PROPERTY_TEMPLATE, codes};
use propledger_ledger::core::{
    AccountCode, AccountId, AccountType, BalanceLimit, Currency, Dimensions, NewAccount,
};

use crate::support::{TestDb, both_engines, dim, usd};

both_engines!(
    opening_is_idempotent,
    currencies_keep_one_scale,
    property_chart_is_opened_once,
    opening_many_at_once_is_opening_each,
    unknown_account_lookups_fail,
);

async fn opening_is_idempotent(db: TestDb) {
    let accounts = db.ledger.accounts();
    let new = NewAccount::new(
        AccountCode::parse("3000").unwrap(),
        "Investor capital",
        AccountType::Equity,
        usd(),
    )
    .with_dimensions(Dimensions::property(dim("oak")).with_investor(dim("inv-1")));
    let a = accounts.open(new.clone()).await.unwrap();
    let again = accounts.open(new.clone()).await.unwrap();
    assert_eq!(a, again);
    assert_eq!(accounts.get(a.id).await.unwrap(), a);
    assert_eq!(
        accounts.find(&new.code, &new.dimensions).await.unwrap(),
        Some(a.clone())
    );

    // Same code and dimensions, different attributes: refused.
    let renamed = NewAccount {
        name: "Other".into(),
        ..new.clone()
    };
    assert!(matches!(
        accounts.open(renamed).await,
        Err(Error::AccountConflict { existing, .. }) if existing == a.id
    ));
    // Another investor is another account.
    let other = accounts
        .open(NewAccount {
            dimensions: Dimensions::property(dim("oak")).with_investor(dim("inv-2")),
            ..new
        })
        .await
        .unwrap();
    assert_ne!(other.id, a.id);
    let filter = AccountFilter {
        investor: Some(dim("inv-2")),
        ..AccountFilter::default()
    };
    assert_eq!(accounts.list(&filter).await.unwrap(), vec![other]);
}

async fn currencies_keep_one_scale(db: TestDb) {
    let accounts = db.ledger.accounts();
    accounts.define_currency(usd()).await.unwrap();
    accounts.define_currency(usd()).await.unwrap();
    let usd4 = Currency::parse("USD", 4).unwrap();
    assert!(matches!(
        accounts.define_currency(usd4).await,
        Err(Error::CurrencyScaleConflict {
            existing: 2,
            requested: 4,
            ..
        })
    ));
    assert!(matches!(
        accounts
            .open(NewAccount::new(
                AccountCode::parse("1").unwrap(),
                "x",
                AccountType::Asset,
                usd4
            ))
            .await,
        Err(Error::CurrencyScaleConflict { .. })
    ));
    accounts
        .define_currency(Currency::parse("USDC", 6).unwrap())
        .await
        .unwrap();
    let codes: Vec<String> = accounts
        .currencies()
        .await
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(codes, ["USD/2", "USDC/6"]);
}

async fn property_chart_is_opened_once(db: TestDb) {
    let accounts = db.ledger.accounts();
    let chart = accounts
        .open_property_chart(&dim("oak"), usd())
        .await
        .unwrap();
    assert_eq!(chart.len(), PROPERTY_TEMPLATE.len());
    let again = accounts
        .open_property_chart(&dim("oak"), usd())
        .await
        .unwrap();
    assert_eq!(chart, again);
    let cash = chart
        .iter()
        .find(|a| a.code.as_str() == codes::TREASURY_CASH)
        .unwrap();
    assert_eq!(cash.limit, BalanceLimit::NonNegative);
    assert_eq!(cash.dimensions.property, Some(dim("oak")));
    // A second property gets its own accounts.
    let elm = accounts
        .open_property_chart(&dim("elm"), usd())
        .await
        .unwrap();
    assert!(elm.iter().all(|a| chart.iter().all(|b| a.id != b.id)));
}

async fn unknown_account_lookups_fail(db: TestDb) {
    assert!(matches!(
        db.ledger.accounts().get(AccountId::new(999)).await,
        Err(Error::UnknownAccount { .. })
    ));
    assert!(matches!(
        db.ledger
            .accounts()
            .balance(AccountId::new(999), None)
            .await,
        Err(Error::UnknownAccount { .. })
    ));
}

async fn opening_many_at_once_is_opening_each(db: TestDb) {
    let accounts = db.ledger.accounts();
    let capital = |investor: &str| {
        NewAccount::new(
            AccountCode::parse("3000").unwrap(),
            "Investor capital",
            AccountType::Equity,
            usd(),
        )
        .with_dimensions(Dimensions::property(dim("oak")).with_investor(dim(investor)))
    };
    let before = accounts.open(capital("inv-1")).await.unwrap();
    // One open already, two new (one of them twice), one in another currency.
    let usdc = Currency::parse("USDC", 6).unwrap();
    let batch = vec![
        capital("inv-2"),
        capital("inv-1"),
        capital("inv-3"),
        capital("inv-2"),
        NewAccount {
            currency: usdc,
            ..capital("inv-4")
        },
    ];
    let opened = accounts.open_many(&batch).await.unwrap();
    assert_eq!(opened.len(), batch.len());
    assert_eq!(opened[1], before);
    assert_eq!(opened[0], opened[3]);
    assert_ne!(opened[0].id, opened[2].id);
    for (account, new) in opened.iter().zip(&batch) {
        assert!(account.matches(new), "{account:?} for {new:?}");
        assert_eq!(accounts.get(account.id).await.unwrap(), *account);
        assert_eq!(
            accounts
                .balance(account.id, None)
                .await
                .unwrap()
                .totals
                .posted_debits,
            propledger_ledger::core::Amount::zero(new.currency)
        );
    }
    // Opening them again finds them all.
    assert_eq!(accounts.open_many(&batch).await.unwrap(), opened);
    // Two handles opening the same new accounts at once (on PostgreSQL without the writers'
    // lock, racing on the unique key) get the same accounts.
    let racing: Vec<NewAccount> = (10..40).map(|i| capital(&format!("inv-{i}"))).collect();
    let other = db.reopen().await;
    let other_accounts = other.accounts();
    let (a, b) = tokio::join!(
        accounts.open_many(&racing),
        other_accounts.open_many(&racing)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(accounts.open_many(&racing).await.unwrap(), a);
    // A batch whose accounts disagree with one open, or with each other, opens nothing.
    let listed = accounts
        .list(&AccountFilter::default())
        .await
        .unwrap()
        .len();
    for bad in [
        vec![
            capital("inv-5"),
            NewAccount {
                name: "Other".into(),
                ..capital("inv-1")
            },
        ],
        vec![
            capital("inv-6"),
            NewAccount {
                name: "Other".into(),
                ..capital("inv-6")
            },
        ],
    ] {
        assert!(matches!(
            accounts.open_many(&bad).await,
            Err(Error::AccountConflict { .. })
        ));
        assert_eq!(
            accounts
                .list(&AccountFilter::default())
                .await
                .unwrap()
                .len(),
            listed
        );
    }
}
