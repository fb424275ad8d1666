//! CSV and Beancount exports; the Beancount file is checked with `bean-check`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use propledger_ledger::core::EntryDraft;
use propledger_ledger::export::{CSV_HEADER, ExportOptions};
use propledger_ledger::report::Scope;

use crate::reports::oak;
use crate::support::{TestDb, amt, both_engines, date, dim, key, op};

both_engines!(
    csv_has_one_row_per_posting,
    beancount_passes_bean_check,
    a_propertys_export_holds_its_books_alone,
);

async fn history(db: &TestDb) {
    let oak = oak(&db.ledger).await;
    db.ledger
        .entries()
        .record(
            EntryDraft::builder(key("quoted"), date(2024, 3, 20), op("INV-9"))
                .description(r#"plumber "Bob", invoice \9"#)
                .debit(oak.fees, amt("12.34"))
                .credit(oak.operating, amt("12.34"))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
}

async fn csv_has_one_row_per_posting(db: TestDb) {
    history(&db).await;
    let mut out = Vec::new();
    db.ledger
        .exports()
        .csv(&mut out, ExportOptions::default())
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], CSV_HEADER);
    let posted_postings = db
        .count(
            "SELECT COUNT(*) FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id \
             WHERE e.status = 'posted'",
        )
        .await;
    assert_eq!(lines.len() as i64 - 1, posted_postings);
    assert!(text.contains(r#""purchase, part financed""#));
    assert!(text.contains(r#""plumber ""Bob"", invoice \9""#));
    assert!(
        !text.contains("awaiting finality"),
        "pending left out by default"
    );

    let mut out = Vec::new();
    db.ledger
        .exports()
        .csv(
            &mut out,
            ExportOptions {
                include_pending: true,
                include_voided: true,
                ..ExportOptions::default()
            },
        )
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let all = db.count("SELECT COUNT(*) FROM ledger_postings").await;
    assert_eq!(text.lines().count() as i64 - 1, all);
    assert!(text.contains(",pending,2024-04-02,roof-2,"));
}

/// `bean-check` from PATH, or from the virtualenv `scripts/install-test-tools` creates.
fn bean_check_program() -> Option<PathBuf> {
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-tools/beancount/bin/bean-check");
    [PathBuf::from("bean-check"), venv].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn bean_check(program: &Path, text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("books.beancount");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(program).arg(&path).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn beancount_passes_bean_check(db: TestDb) {
    let Some(program) = bean_check_program() else {
        // CI installs it (scripts/test runs scripts/install-test-tools): there, a missing
        // bean-check is a broken setup, not a reason to skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "bean-check is not installed; run scripts/install-test-tools"
        );
        eprintln!(
            "SKIPPED: bean-check is not installed (pip install beancount, or run \
             scripts/install-test-tools); the Beancount export was not checked"
        );
        return;
    };
    history(&db).await;
    for include_pending in [false, true] {
        let mut out = Vec::new();
        let options = ExportOptions {
            include_pending,
            ..ExportOptions::default()
        };
        db.ledger
            .exports()
            .beancount(&mut out, options)
            .await
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        bean_check(&program, &text)
            .unwrap_or_else(|e| panic!("bean-check refused the export:\n{e}\n{text}"));
        assert_eq!(text.contains(" ! "), include_pending);

        // The balance assertions that bean-check verified are the trial balance.
        let asserted: HashMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once(" balance "))
            .filter_map(|(_, rest)| rest.split_once("  "))
            .collect();
        if !include_pending {
            let tb = db
                .ledger
                .reports()
                .trial_balance(&Scope::all(), None)
                .await
                .unwrap();
            assert!(!tb.lines.is_empty());
            // Account ids are in the export as metadata of each `open`.
            let mut name_of: HashMap<String, &str> = HashMap::new();
            let mut last_open = "";
            for l in text.lines() {
                if let Some((_, rest)) = l.split_once(" open ") {
                    last_open = rest.split_whitespace().next().unwrap();
                } else if let Some(id) = l.trim().strip_prefix("ledger-account-id: ") {
                    name_of.insert(id.trim_matches('"').to_owned(), last_open);
                }
            }
            for line in &tb.lines {
                let net = line.posted.debit.checked_sub(line.posted.credit).unwrap();
                let name = name_of[&line.account.id.to_string()];
                assert_eq!(asserted[name], net.to_string(), "{name}");
            }
        }

        // A changed amount no longer checks: the assertions have teeth.
        let tampered = text.replacen("60000.00 USD", "60000.01 USD", 1);
        assert!(bean_check(&program, &tampered).is_err());
    }
}

async fn a_propertys_export_holds_its_books_alone(db: TestDb) {
    history(&db).await;
    let oak = || ExportOptions {
        property: Some(dim("oak")),
        ..ExportOptions::default()
    };
    let mut out = Vec::new();
    db.ledger.exports().csv(&mut out, oak()).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let oak_postings = db
        .count(
            "SELECT COUNT(*) FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id \
             WHERE e.status = 'posted' AND EXISTS (SELECT 1 FROM ledger_postings q \
             JOIN ledger_accounts a ON a.id = q.account_id \
             WHERE q.entry_id = e.id AND a.property = 'oak')",
        )
        .await;
    assert_eq!(text.lines().count() as i64 - 1, oak_postings);
    assert!(text.contains("plumber"));
    assert!(!text.contains(",elm,"), "another property's rows left out");

    let Some(program) = bean_check_program() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "bean-check is not installed; run scripts/install-test-tools"
        );
        eprintln!("SKIPPED: bean-check is not installed; the property's Beancount was not checked");
        return;
    };
    let mut out = Vec::new();
    db.ledger
        .exports()
        .beancount(&mut out, oak())
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    bean_check(&program, &text)
        .unwrap_or_else(|e| panic!("bean-check refused the export:\n{e}\n{text}"));
    assert!(!text.contains("P-elm"), "{text}");
    // One assertion per oak account: the property's trial balance, account by account.
    let asserted = text.lines().filter(|l| l.contains(" balance ")).count();
    let oak_accounts = db
        .count("SELECT COUNT(*) FROM ledger_accounts WHERE property = 'oak'")
        .await;
    assert_eq!(asserted as i64, oak_accounts);
    assert!(
        text.contains("balance Assets:P-oak:C1000  7000.00 USD"),
        "{text}"
    );
}
