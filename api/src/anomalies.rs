//! Checks on the books that flag what an auditor should look at, each flag explained:
//!
//! - **over_bid**: a rehab line's draws add up to more than its accepted bid by more than the
//!   tolerance (10% unless asked otherwise); the draw that crosses it is flagged;
//! - **duplicate_invoice**: a draw against an invoice with the same content hash as an earlier
//!   draw's;
//! - **repeated_draw**: a draw of the same amount to the same contractor as an earlier one within
//!   seven days;
//! - **new_payee_wallet**: a draw paid to a wallet the contractor was never paid to before, or to
//!   a wallet another contractor is paid to;
//! - **off_hours**: a write that moves or commits money (draws, costs, transactions,
//!   distributions, fee schedules) made outside business hours (weekdays, 08:00 to 18:00 UTC
//!   unless asked otherwise).
//!
//! The checks are pure functions over facts read from the API's records, so each is tested on
//! planted cases and on a clean history.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Timelike};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{Db, Query};
use crate::error::{Error, Result};
use crate::properties::PropertyId;

/// Most draws or writes read for one check.
pub const READ_MAX: i64 = 50_000;
/// Days within which two draws of one amount to one contractor are flagged.
pub const REPEAT_DAYS: i64 = 7;

/// One flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Anomaly {
    /// `over_bid`, `duplicate_invoice`, `repeated_draw`, `new_payee_wallet` or `off_hours`.
    pub kind: String,
    /// What it is about: `draw:<id>` or `write:<audit log seq>`.
    pub subject: String,
    /// Why it was flagged, as a sentence.
    pub explanation: String,
}

/// The facts of one draw.
#[derive(Clone, Debug)]
pub struct DrawFact {
    /// The draw.
    pub id: String,
    /// Its line.
    pub line: String,
    /// Its contractor.
    pub contractor: String,
    /// The wallet it pays.
    pub wallet: String,
    /// Cents.
    pub cents: i64,
    /// The invoice's content hash.
    pub invoice: String,
    /// Released on chain or paid through the bank.
    pub paid: bool,
    /// When it was requested (ms).
    pub at_ms: i64,
}

fn usd(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

/// Flags over draws, in the order they were requested. `committed` is each line's accepted
/// bid (cents); `contractor_wallets` each contractor's registered payout wallet;
/// `tolerance_pct` how far above its bid a line may be drawn.
pub fn check_draws(
    draws: &[DrawFact],
    committed: &HashMap<String, i64>,
    contractor_wallets: &HashMap<String, String>,
    tolerance_pct: i64,
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut drawn: HashMap<&str, i64> = HashMap::new();
    let mut invoices: HashMap<&str, &str> = HashMap::new();
    let mut paid_wallets: HashMap<&str, Vec<&str>> = HashMap::new();
    let flag = |kind: &str, d: &DrawFact, explanation: String| Anomaly {
        kind: kind.to_owned(),
        subject: format!("draw:{}", d.id),
        explanation,
    };
    for (i, d) in draws.iter().enumerate() {
        let total = drawn.entry(&d.line).or_default();
        let before = *total;
        *total += d.cents;
        if let Some(bid) = committed.get(&d.line).copied().filter(|b| *b > 0) {
            let limit = bid + bid * tolerance_pct / 100;
            if *total > limit && before <= limit {
                out.push(flag(
                    "over_bid",
                    d,
                    format!(
                        "the line's draws reach {} against its accepted bid of {} ({}% above, more than the {}% allowed)",
                        usd(*total),
                        usd(bid),
                        (*total - bid) * 100 / bid,
                        tolerance_pct
                    ),
                ));
            }
        }
        if let Some(first) = invoices.get(d.invoice.as_str()) {
            out.push(flag(
                "duplicate_invoice",
                d,
                format!("its invoice has the same content hash as draw {first}'s"),
            ));
        } else {
            invoices.insert(&d.invoice, &d.id);
        }
        if let Some(earlier) = draws[..i].iter().rev().find(|e| {
            e.contractor == d.contractor
                && e.cents == d.cents
                && (d.at_ms - e.at_ms) <= REPEAT_DAYS * 86_400_000
        }) {
            out.push(flag(
                "repeated_draw",
                d,
                format!(
                    "the same amount ({}) to the same contractor as draw {}, {} days earlier",
                    usd(d.cents),
                    earlier.id,
                    (d.at_ms - earlier.at_ms) / 86_400_000
                ),
            ));
        }
        if d.paid {
            let seen = paid_wallets.entry(&d.contractor).or_default();
            let shared = contractor_wallets
                .iter()
                .find(|(c, w)| **c != d.contractor && w.eq_ignore_ascii_case(&d.wallet));
            if let Some((other, _)) = shared {
                out.push(flag(
                    "new_payee_wallet",
                    d,
                    format!(
                        "it pays {}, which is also contractor {other}'s payout wallet",
                        d.wallet
                    ),
                ));
            } else if !seen.is_empty() && !seen.iter().any(|w| w.eq_ignore_ascii_case(&d.wallet)) {
                out.push(flag(
                    "new_payee_wallet",
                    d,
                    format!(
                        "it pays {}, a wallet this contractor was never paid to before",
                        d.wallet
                    ),
                ));
            }
            seen.push(&d.wallet);
        }
    }
    out
}

/// One write of the audit log.
#[derive(Clone, Debug)]
pub struct WriteFact {
    /// Its sequence number.
    pub seq: i64,
    /// When (ms).
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// The method and route.
    pub route: String,
}

/// Routes whose writes move or commit money.
pub const MONEY_ROUTES: &[&str] = &[
    "/v1/rehab-draws/",
    "/v1/rehab-lines/{id}/draws",
    "/v1/deals/{id}/costs",
    "/v1/properties/{id}/transactions",
    "/v1/distributions",
    "/v1/properties/{id}/waterfall/distributions",
    "/v1/books/{property}/fees",
];

/// Flags the writes of money made outside business hours: weekdays from `hours.0` to
/// `hours.1` o'clock UTC (`(0, 24)`: around the clock, every day).
pub fn check_hours(writes: &[WriteFact], hours: (u32, u32)) -> Vec<Anomaly> {
    if hours == (0, 24) {
        return Vec::new();
    }
    writes
        .iter()
        .filter(|w| MONEY_ROUTES.iter().any(|r| w.route.contains(r)))
        .filter_map(|w| {
            let t = chrono::DateTime::from_timestamp_millis(w.at_ms)?;
            let weekend = matches!(t.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            let inside = (hours.0..hours.1).contains(&t.hour());
            (weekend || !inside).then(|| Anomaly {
                kind: "off_hours".to_owned(),
                subject: format!("write:{}", w.seq),
                explanation: format!(
                    "{} by {} at {} UTC, outside business hours ({}, {:02}:00 to {:02}:00 UTC)",
                    w.route,
                    w.actor,
                    t.format("%Y-%m-%d %H:%M"),
                    if weekend { "a weekend" } else { "weekdays" },
                    hours.0,
                    hours.1
                ),
            })
        })
        .collect()
}

/// What to check.
#[derive(Clone, Copy, Debug)]
pub struct Checks {
    /// Only this property's draws (writes are the whole platform's).
    pub property: Option<PropertyId>,
    /// How far above its bid a line may be drawn (percent).
    pub tolerance_pct: i64,
    /// Business hours, UTC.
    pub hours: (u32, u32),
}

fn parse_ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).map_or(0, |t| t.timestamp_millis())
}

fn corrupt(what: &str) -> Error {
    Error::Corrupt(format!("a stored {what}"))
}

/// Runs every check over the records.
pub async fn run(db: &Db, c: Checks) -> Result<Vec<Anomaly>> {
    let rows = match c.property {
        Some(p) => Query::new(
            "SELECT d.doc FROM api_rehab_draws d JOIN api_rehab_lines l ON l.id = d.line_id \
             JOIN api_rehab_projects p ON p.id = l.project_id WHERE p.property_id = $1 \
             ORDER BY d.created_at, d.id LIMIT $2",
        )
        .bind(p.to_string())
        .bind(READ_MAX),
        None => Query::new("SELECT doc FROM api_rehab_draws ORDER BY created_at, id LIMIT $1")
            .bind(READ_MAX),
    }
    .fetch_all(db.reader())
    .await?;
    let mut draws = Vec::with_capacity(rows.len());
    for r in rows {
        let d: crate::rehab::Draw =
            serde_json::from_str(&r.get::<String>("doc")?).map_err(|_| corrupt("draw"))?;
        draws.push(DrawFact {
            id: d.id.to_string(),
            line: d.line_id.to_string(),
            contractor: d.contractor_id.to_string(),
            wallet: d.payout_wallet.clone(),
            cents: crate::types::Currency::USD
                .minor_units("/amount", &d.amount.amount)
                .map_err(|_| corrupt("draw's amount"))?,
            invoice: d.invoice_hash.to_ascii_lowercase(),
            paid: matches!(
                d.status,
                crate::rehab::DrawStatus::Released | crate::rehab::DrawStatus::PaidOffChain
            ),
            at_ms: parse_ms(&d.created_at),
        });
    }
    let bids =
        Query::new("SELECT line_id, doc FROM api_rehab_bids WHERE status = 'accepted' LIMIT $1")
            .bind(READ_MAX)
            .fetch_all(db.reader())
            .await?;
    let mut committed = HashMap::new();
    for r in bids {
        let b: crate::rehab::Bid =
            serde_json::from_str(&r.get::<String>("doc")?).map_err(|_| corrupt("bid"))?;
        let cents = crate::types::Currency::USD
            .minor_units("/amount", &b.amount.amount)
            .map_err(|_| corrupt("bid's amount"))?;
        committed.insert(r.get::<String>("line_id")?, cents);
    }
    let contractors = Query::new("SELECT id, doc FROM api_contractors LIMIT $1")
        .bind(READ_MAX)
        .fetch_all(db.reader())
        .await?;
    let mut wallets = HashMap::new();
    for r in contractors {
        let k: crate::rehab::Contractor =
            serde_json::from_str(&r.get::<String>("doc")?).map_err(|_| corrupt("contractor"))?;
        wallets.insert(r.get::<String>("id")?, k.payout_wallet);
    }
    let mut out = check_draws(&draws, &committed, &wallets, c.tolerance_pct);
    let writes = Query::new(
        "SELECT seq, at, actor_name, actor_id, method, route FROM api_audit_log \
         WHERE outcome = 'succeeded' AND method <> 'GET' ORDER BY seq DESC LIMIT $1",
    )
    .bind(READ_MAX)
    .fetch_all(db.reader())
    .await?;
    let mut facts = Vec::with_capacity(writes.len());
    for r in writes {
        facts.push(WriteFact {
            seq: r.get("seq")?,
            at_ms: r.get("at")?,
            actor: r
                .get::<Option<String>>("actor_name")?
                .or(r.get::<Option<String>>("actor_id")?)
                .unwrap_or_else(|| "someone".to_owned()),
            route: format!(
                "{} {}",
                r.get::<String>("method")?,
                r.get::<String>("route")?
            ),
        });
    }
    facts.reverse();
    out.extend(check_hours(&facts, c.hours));
    // By kind, then subject, for a stable report.
    let mut by: BTreeMap<(String, String), Anomaly> = BTreeMap::new();
    for a in out {
        by.entry((a.kind.clone(), a.subject.clone())).or_insert(a);
    }
    Ok(by.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(
        id: &str,
        line: &str,
        contractor: &str,
        wallet: &str,
        cents: i64,
        invoice: &str,
        day: i64,
    ) -> DrawFact {
        DrawFact {
            id: id.into(),
            line: line.into(),
            contractor: contractor.into(),
            wallet: wallet.into(),
            cents,
            invoice: invoice.into(),
            paid: true,
            at_ms: day * 86_400_000,
        }
    }

    fn kinds(a: &[Anomaly]) -> Vec<(String, String)> {
        a.iter()
            .map(|x| (x.kind.clone(), x.subject.clone()))
            .collect()
    }

    #[test]
    fn a_clean_history_is_quiet() {
        let committed = HashMap::from([
            ("roof".to_owned(), 900_000),
            ("kitchen".to_owned(), 750_000),
        ]);
        let wallets = HashMap::from([
            ("acme".to_owned(), "0xa1".to_owned()),
            ("north".to_owned(), "0xa2".to_owned()),
        ]);
        let draws = [
            draw("1", "roof", "acme", "0xa1", 600_000, "h1", 0),
            draw("2", "kitchen", "north", "0xa2", 750_000, "h2", 3),
            draw("3", "roof", "acme", "0xa1", 300_000, "h3", 30),
        ];
        assert_eq!(kinds(&check_draws(&draws, &committed, &wallets, 10)), []);
        // A weekday at 10:00 UTC (2026-12-07 is a Monday).
        let monday_ten = chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let writes = [WriteFact {
            seq: 1,
            at_ms: monday_ten,
            actor: "ada".into(),
            route: "POST /v1/distributions".into(),
        }];
        assert_eq!(check_hours(&writes, (8, 18)), []);
    }

    #[test]
    fn planted_cases_are_flagged_and_explained() {
        let committed = HashMap::from([("roof".to_owned(), 500_000)]);
        let wallets = HashMap::from([
            ("acme".to_owned(), "0xa1".to_owned()),
            ("shadow".to_owned(), "0xa1".to_owned()),
        ]);
        let draws = [
            draw("1", "roof", "acme", "0xa1", 400_000, "h1", 0),
            // Crosses 110% of the 5,000 bid: 6,000 is 20% above.
            draw("2", "roof", "acme", "0xa1", 200_000, "h2", 10),
            // The same invoice again, and the same amount to the same contractor 2 days later.
            draw("3", "roof", "acme", "0xa1", 200_000, "h2", 12),
            // Paid to a wallet acme was never paid to.
            draw("4", "paint", "acme", "0xbb", 10_000, "h4", 40),
        ];
        let mut wallets_only_acme = wallets.clone();
        wallets_only_acme.remove("shadow");
        let found = check_draws(&draws, &committed, &wallets_only_acme, 10);
        assert_eq!(
            kinds(&found),
            [
                ("over_bid".into(), "draw:2".into()),
                ("duplicate_invoice".into(), "draw:3".into()),
                ("repeated_draw".into(), "draw:3".into()),
                ("new_payee_wallet".into(), "draw:4".into()),
            ]
        );
        assert_eq!(
            found[0].explanation,
            "the line's draws reach 6000.00 against its accepted bid of 5000.00 (20% above, more than the 10% allowed)"
        );
        // A wallet two contractors share.
        let shared = check_draws(&draws[..1], &committed, &wallets, 10);
        assert_eq!(
            kinds(&shared),
            [("new_payee_wallet".into(), "draw:1".into())]
        );
        assert!(
            shared[0].explanation.contains("shadow"),
            "{}",
            shared[0].explanation
        );
        // A Saturday, and a weekday at 22:00.
        let at = |d: u32, h: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis()
        };
        let writes = [
            WriteFact {
                seq: 1,
                at_ms: at(5, 11),
                actor: "ada".into(),
                route: "POST /v1/rehab-draws/{id}/release".into(),
            },
            WriteFact {
                seq: 2,
                at_ms: at(7, 22),
                actor: "bob".into(),
                route: "POST /v1/deals/{id}/costs".into(),
            },
            WriteFact {
                seq: 3,
                at_ms: at(7, 23),
                actor: "bob".into(),
                route: "PATCH /v1/properties/{id}".into(),
            },
        ];
        let late = check_hours(&writes, (8, 18));
        assert_eq!(
            kinds(&late),
            [
                ("off_hours".into(), "write:1".into()),
                ("off_hours".into(), "write:2".into())
            ]
        );
        assert!(
            late[0].explanation.contains("a weekend"),
            "{}",
            late[0].explanation
        );
    }
}
