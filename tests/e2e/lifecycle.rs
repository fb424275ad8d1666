//! The whole lifecycle through the binary, on each chain and database, with the exact figures
//! an operator, an investor and an auditor would check; then the auditor's standalone
//! verification of the property's export against the chain.

use std::collections::BTreeMap;

use propledger_node::demo::{ApiClient, Outcome};
use serde_json::Value;

use crate::setup::{Chain, Db, Setup};

/// The combinations, the embedded chain on SQLite first.
const MATRIX: [(Chain, Db); 4] = [
    (Chain::Embedded, Db::Sqlite),
    (Chain::Embedded, Db::Postgres),
    (Chain::Anvil, Db::Sqlite),
    (Chain::Anvil, Db::Postgres),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_embedded_sqlite() {
    lifecycle(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_embedded_postgres() {
    lifecycle(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_anvil_sqlite() {
    lifecycle(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_anvil_postgres() {
    lifecycle(3).await;
}

async fn lifecycle(case: usize) {
    let (chain, db) = MATRIX[case];
    let setup = Setup::start(chain, db).await;
    let outcome =
        propledger_node::demo::run(setup.demo(), &mut |line| eprintln!("{line}"), &mut |_| {
            Box::pin(async {})
        })
        .await
        .unwrap_or_else(|e| panic!("the lifecycle failed: {e:#}\n{}", setup.node.log()));
    check_figures(&setup.node.api_url, &outcome).await;
    check_standalone_audit(&setup, &outcome);
    setup.node.stop();
}

async fn get(api: &ApiClient, token: &str, path: &str) -> Value {
    api.get(path)
        .token(token)
        .ok()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn amount(v: &Value) -> &str {
    v["amount"]
        .as_str()
        .unwrap_or_else(|| panic!("no amount in {v}"))
}

/// Every figure of the lifecycle, as literals.
pub(crate) async fn check_figures(api_url: &str, o: &Outcome) {
    let api = ApiClient::new(
        api_url,
        propledger_net::tls::client_config(&[]).expect("tls"),
    );
    let auditor = &o.auditor_key;
    let p = &o.property;

    // Chen, from Canada, was refused by the API and by the chain with the country's code.
    assert!(
        o.api_refusal.starts_with("country_not_allowed (7)"),
        "{}",
        o.api_refusal
    );
    assert_eq!(o.chain_reason_code, 7);
    assert_eq!(o.verification["clean"], true, "{}", o.verification);

    // The trial balance: 100,000 raised into the treasury, less the two draws and the
    // distribution; rent less expenses in operating cash; the property bought with a loan and
    // its closing cost owed; the draws capitalized per line; 500 shares of capital each.
    let tb = get(&api, auditor, &format!("/v1/books/{p}/trial-balance")).await;
    let lines: Vec<(&str, &str, &str)> = tb["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["code"].as_str().unwrap(),
                amount(&l["debit"]),
                amount(&l["credit"]),
            )
        })
        .collect();
    let z = "0.000000";
    assert_eq!(
        lines,
        [
            ("1000", "81500.000000", z),
            ("1010", "1560.000000", z),
            ("1020", z, z),
            ("1500", "95000.000000", z),
            ("1510", "2000.000000", z),
            ("1600", "6000.000000", z),
            ("1600", "7500.000000", z),
            ("2000", z, "2000.000000"),
            ("2100", z, z),
            ("2500", z, "95000.000000"),
            ("3000", z, "50000.000000"),
            ("3000", z, "50000.000000"),
            ("3100", "5000.000000", z),
            ("4000", z, "2400.000000"),
            ("5100", "240.000000", z),
            ("5300", "600.000000", z),
        ],
        "{tb}"
    );

    // Budget against actual, line by line: budget, committed (the accepted bid), drawn,
    // remaining.
    let project = get(&api, auditor, &format!("/v1/rehab-projects/{}", o.project)).await;
    let lines: Vec<[&str; 5]> = project["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            [
                l["category"].as_str().unwrap(),
                amount(&l["budget"]),
                amount(&l["committed"]),
                amount(&l["drawn"]),
                amount(&l["remaining"]),
            ]
        })
        .collect();
    assert_eq!(
        lines,
        [
            ["roof", "10000.00", "9000.00", "6000.00", "4000.00"],
            ["kitchen", "8000.00", "7500.00", "7500.00", "500.00"],
        ],
        "{project}"
    );

    // The cap table, checked against balanceOf and totalSupply: 500 shares each after Ada
    // gave Bob 100.
    let cap = get(
        &api,
        auditor,
        &format!("/v1/audit/properties/{p}/cap-table"),
    )
    .await;
    assert_eq!(cap["checked_against_chain"], true, "{cap}");
    assert_eq!(cap["differences"], serde_json::json!([]), "{cap}");
    let mut holders: Vec<(String, &str)> = cap["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["wallet"].as_str().unwrap().to_lowercase(),
                h["shares"].as_str().unwrap(),
            )
        })
        .collect();
    holders.sort();
    let mut expected = vec![
        (
            o.wallets[0].to_string().to_lowercase(),
            "500000000000000000000",
        ),
        (
            o.wallets[1].to_string().to_lowercase(),
            "500000000000000000000",
        ),
    ];
    expected.sort();
    assert_eq!(holders, expected, "{cap}");
    assert_eq!(cap["total_supply"], "1000000000000000000000");

    // Both capital accounts: Ada paid in 60,000 and carried 10,000 of it to Bob with her 100
    // shares (book value); Bob paid in 40,000 and holds 50,000. Each is half of a net asset
    // value of 96,560 (110,500 of real estate and 83,060 of cash, less 97,000 owed).
    let ca = get(&api, auditor, &format!("/v1/books/{p}/capital-accounts")).await;
    let mut accounts: Vec<[&str; 5]> = ca["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            [
                amount(&a["contributed"]),
                amount(&a["returned"]),
                amount(&a["balance"]),
                a["ownership_percent"].as_str().unwrap(),
                amount(&a["current_value"]),
            ]
        })
        .collect();
    accounts.sort();
    assert_eq!(
        accounts,
        [
            [
                "50000.000000",
                "0.000000",
                "50000.000000",
                "50",
                "48280.000000"
            ],
            [
                "60000.000000",
                "10000.000000",
                "50000.000000",
                "50",
                "48280.000000"
            ],
        ],
        "{ca}"
    );
    assert_eq!(amount(&ca["net_asset_value"]), "96560.000000", "{ca}");

    // The distribution: 3,000 to Ada's 600 shares and 2,000 to Bob's 400, both claimed.
    let reg = get(
        &api,
        auditor,
        &format!("/v1/distributions/{}/register", o.distribution),
    )
    .await;
    let mut paid: Vec<(String, &str, &str, &str)> = reg["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["holder"].as_str().unwrap().to_lowercase(),
                h["shares"]["amount"].as_str().unwrap(),
                h["entitlement"]["amount"].as_str().unwrap(),
                h["claim"].as_str().unwrap(),
            )
        })
        .collect();
    paid.sort();
    let mut expected = vec![
        (
            o.wallets[0].to_string().to_lowercase(),
            "600",
            "3000",
            "paid",
        ),
        (
            o.wallets[1].to_string().to_lowercase(),
            "400",
            "2000",
            "paid",
        ),
    ];
    expected.sort();
    assert_eq!(paid, expected, "{reg}");

    // Every event of the property's contracts, each once: no action was sent twice.
    let events = get(
        &api,
        auditor,
        &format!("/v1/audit/properties/{p}/events?limit=500"),
    )
    .await;
    let mut histogram: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    for e in events["items"].as_array().unwrap() {
        *histogram
            .entry((
                e["contract"].as_str().unwrap(),
                e["event"].as_str().unwrap(),
            ))
            .or_default() += 1;
    }
    let expected: BTreeMap<(&str, &str), u32> = [
        (("compliance", "CountryAllowed"), 1),
        (("compliance", "RoleGranted"), 2),
        (("compliance", "RulesUpdated"), 2),
        (("compliance", "TokenBound"), 1),
        (("deed", "DeedMinted"), 1),
        (("deed", "Transfer"), 1),
        (("distributor", "Claimed"), 2),
        (("distributor", "DistributionCreated"), 1),
        (("distributor", "RoleGranted"), 2),
        (("offering", "OfferingFinalized"), 1),
        (("offering", "RoleGranted"), 2),
        (("offering", "SharesPurchased"), 2),
        (("offering", "SoftCapReached"), 1),
        (("shares", "CheckpointCreated"), 1),
        (("shares", "Issued"), 2),
        (("shares", "RoleGranted"), 4),
        (("shares", "Transfer"), 3),
        (("treasury", "BudgetLineSet"), 2),
        (("treasury", "Deposited"), 2),
        (("treasury", "DistributionFunded"), 1),
        (("treasury", "DrawReleased"), 2),
        (("treasury", "EscrowReleased"), 1),
        (("treasury", "RoleGranted"), 3),
    ]
    .into_iter()
    .collect();
    assert_eq!(histogram, expected);

    // A waterfall (8% preferred return, capital back, a 20% promote) previewed for 10,000 a
    // year after the lifecycle's day. The investors paid in 100,000 and the 5,000 distribution
    // returned capital (no preferred return had accrued yet): 95,000 unreturned accrues 7,600
    // in the year, and the other 2,400 returns capital. Ada and Bob hold 500 shares each, so
    // each is paid half: 3,800 and 1,200.
    let waterfall = serde_json::json!({"tiers": [
        {"kind": "preferred_return", "rate_bps": 800, "accrual": "simple"},
        {"kind": "return_of_capital"},
        {"kind": "split", "promote_bps": 2000},
    ]});
    api.put(format!("/v1/properties/{p}/waterfall"))
        .token(&o.operator_key)
        .json(&waterfall)
        .ok()
        .await
        .expect("set the waterfall");
    let on = (chrono::Utc::now().date_naive() + chrono::Duration::days(365)).to_string();
    let preview = api
        .post(format!("/v1/properties/{p}/waterfall/preview"))
        .token(auditor)
        .json(&serde_json::json!({"amount": {"amount": "10000.00", "currency": "USD"}, "on": on}))
        .ok()
        .await
        .expect("preview");
    let tiers: Vec<(&str, &str, &str)> = preview["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tier"].as_str().unwrap(),
                amount(&t["amount"]),
                amount(&t["investors"]),
            )
        })
        .collect();
    assert_eq!(
        tiers,
        [
            ("preferred_return", "7600.00", "7600.00"),
            ("return_of_capital", "2400.00", "2400.00"),
            ("split", "0.00", "0.00"),
        ],
        "{preview}"
    );
    let holders: Vec<(&str, Vec<(&str, &str)>)> = preview["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                amount(&h["amount"]),
                h["by_tier"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| (t["tier"].as_str().unwrap(), amount(&t["amount"])))
                    .collect(),
            )
        })
        .collect();
    let half = (
        "5000",
        vec![("preferred_return", "3800"), ("return_of_capital", "1200")],
    );
    assert_eq!(holders, [half.clone(), half], "{preview}");

    // This year's tax statements. The 5,000 distribution came the day the capital did, before
    // any preferred return accrued: it returned capital. Ada bought 600 shares for 60,000 and
    // gave up 100 to Bob, whose price the platform does not know, at a cost basis of 10,000.
    let year = chrono::Utc::now().date_naive().format("%Y").to_string();
    let ada = get(
        &api,
        auditor,
        &format!("/v1/investors/{}/tax-statements/{year}", o.investors[0]),
    )
    .await;
    let t = &ada["totals"];
    assert_eq!(
        (
            t["distributions"].as_str(),
            t["income"].as_str(),
            t["return_of_capital"].as_str()
        ),
        (Some("3000"), Some("0"), Some("3000")),
        "{ada}"
    );
    assert_eq!(amount(&ada["purchases"][0]["shares"]), "600", "{ada}");
    assert_eq!(amount(&ada["purchases"][0]["cost"]), "60000", "{ada}");
    assert_eq!(amount(&ada["disposals"][0]["shares"]), "100", "{ada}");
    assert_eq!(amount(&ada["disposals"][0]["cost_basis"]), "10000", "{ada}");
    assert!(ada["disposals"][0]["gain"].is_null(), "{ada}");
    let bob = get(
        &api,
        auditor,
        &format!("/v1/investors/{}/tax-statements/{year}", o.investors[1]),
    )
    .await;
    assert_eq!(bob["totals"]["return_of_capital"], "2000", "{bob}");
    let hows: Vec<&str> = bob["purchases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["how"].as_str().unwrap())
        .collect();
    assert_eq!(hows, ["offering", "transfer"], "{bob}");

    // The books' own checks and the anchors are clean.
    let ledger = get(&api, auditor, "/v1/audit/ledger").await;
    assert_eq!(ledger["clean"], true, "{ledger}");
    let anchors = get(&api, auditor, "/v1/audit/anchors").await;
    assert_eq!(anchors["clean"], true, "{anchors}");
}

/// `propledger export`, then `propledger audit verify` against the chain's endpoint: clean.
pub(crate) fn check_standalone_audit(setup: &Setup, o: &Outcome) {
    check_export(setup.store_args(), setup.data_dir.path(), &setup.rpc_url, o);
}

/// The export of the node whose store `store_args` name, written under `dir`, verified against
/// `rpc_url`.
pub(crate) fn check_export(
    store_args: Vec<String>,
    dir: &std::path::Path,
    rpc_url: &str,
    o: &Outcome,
) {
    let out = dir.join("audit-export.json");
    let mut args = store_args;
    args.extend(
        [
            "export",
            "--property",
            &o.property,
            "--out",
            &out.display().to_string(),
        ]
        .map(str::to_owned),
    );
    let made = propledger_e2e::command(&args);
    assert!(made.status.success(), "export: {made:?}");
    let verified = propledger_e2e::command(
        &[
            "--rpc-url",
            rpc_url,
            "audit",
            "verify",
            "--export",
            &out.display().to_string(),
        ]
        .map(str::to_owned),
    );
    let text = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(
        verified.status.success(),
        "audit verify: {text}\n{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(!text.contains("FINDING"), "{text}");
}

/// The README's quick start: the node on its embedded defaults, then `propledger demo` as a
/// new user runs it (the admin key read from the data directory), through to a clean audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_demo() {
    let setup = Setup::start(Chain::Embedded, Db::Sqlite).await;
    let mut args = setup.store_args();
    args.extend(["demo", "--api-url", &setup.node.api_url].map(str::to_owned));
    let ran = propledger_e2e::command(&args);
    let out = String::from_utf8_lossy(&ran.stdout).into_owned();
    assert!(
        ran.status.success(),
        "{out}\n{}\n{}",
        String::from_utf8_lossy(&ran.stderr),
        setup.node.log()
    );
    for step in [
        "2. Property registered",
        "country_not_allowed (7)",
        "TransferRestricted(7)",
        "7. Offering sold out and finalized",
        "12. Ada transferred 100 shares to Bob",
        "compared it with the books: clean",
        "Done. The property: ",
    ] {
        assert!(out.contains(step), "no {step:?} in:\n{out}");
    }
    // A second run beside the first makes its own property and investors.
    let again = propledger_e2e::command(&args);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    setup.node.stop();
}
