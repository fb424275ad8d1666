//! From chain events to ledger entries: which events move money, and the postings each makes.
//!
//! | event | postings |
//! |---|---|
//! | treasury `Deposited`, kind 1 (offering proceeds) | Dr treasury cash / Cr investor capital (investor = buyer wallet) |
//! | treasury `Deposited`, kind 0 (direct) | Dr treasury cash / Cr other income |
//! | treasury `Refunded` (failed offering) | Dr investor capital / Cr treasury cash |
//! | treasury `DrawReleased` | Dr capitalized improvements (budget line) / Cr treasury cash |
//! | treasury `DistributionFunded` | Dr distributions / Cr distributions payable; Dr distributor cash / Cr treasury cash |
//! | distributor `Claimed` | Dr distributions payable / Cr distributor cash |
//! | distributor `Swept` (unclaimed and dust back to the treasury) | Dr treasury cash / Cr distributor cash; Dr distributions payable / Cr distributions |
//!
//! Share movements (`Transfer`) change no money account: they make the cap table. Offering
//! events (`SharesPurchased`, `PurchaseRefunded`) are the share side of the treasury's
//! `Deposited` and `Refunded`, which carry the money, so they are not booked twice.

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolEvent;
use propledger_contracts::{Distributor, PropertyTreasury};
use propledger_ledger::core::Direction;
use propledger_ledger::core::chart::codes;

use crate::decode::ContractKind;
use crate::source::RawLog;

/// Which account of a property's chart a posting goes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A template account of the property, by code.
    Chart(&'static str),
    /// The investor capital account of a wallet.
    InvestorCapital(Address),
    /// The capitalized-improvements account of a budget line.
    Improvements(B256),
}

/// One posting, in settlement-token base units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The account.
    pub target: Target,
    /// Debit or credit.
    pub direction: Direction,
    /// Amount in token base units.
    pub amount: U256,
}

/// The entry an event makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Description of the entry.
    pub description: String,
    /// The event's reference for matching operator-entered items (an invoice hash, a deposit
    /// or distribution reference), when it carries one.
    pub reference: Option<B256>,
    /// Its postings.
    pub lines: Vec<Line>,
}

fn pair(debit: Target, credit: Target, amount: U256) -> Vec<Line> {
    vec![
        Line {
            target: debit,
            direction: Direction::Debit,
            amount,
        },
        Line {
            target: credit,
            direction: Direction::Credit,
            amount,
        },
    ]
}

fn nonzero(r: Option<B256>) -> Option<B256> {
    r.filter(|r| !r.is_zero())
}

/// The entry `log` (from a contract of `kind`) makes, if it moves money. A log that does not
/// decode as its event is not booked (it is still stored, as `unknown`).
pub fn plan(kind: ContractKind, log: &RawLog) -> Option<Plan> {
    use Target::{Chart, Improvements, InvestorCapital};
    if !matches!(kind, ContractKind::Treasury | ContractKind::Distributor) {
        return None;
    }
    let topic0 = *log.topics.first()?;
    let data = alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
    let plan = match kind {
        ContractKind::Treasury => {
            if topic0 == PropertyTreasury::Deposited::SIGNATURE_HASH {
                let e = PropertyTreasury::Deposited::decode_log_data(&data).ok()?;
                let (credit, what) = if e.kind == 1 {
                    (InvestorCapital(e.from), "Offering proceeds")
                } else {
                    (Chart(codes::OTHER_INCOME), "Direct deposit")
                };
                Plan {
                    description: format!("{what} from {:#x}", e.from),
                    // Offering proceeds carry the offering as their reference, shared by every
                    // purchase; only a direct deposit's reference identifies it.
                    reference: if e.kind == 1 {
                        None
                    } else {
                        nonzero(Some(e.r#ref))
                    },
                    lines: pair(Chart(codes::TREASURY_CASH), credit, e.amount),
                }
            } else if topic0 == PropertyTreasury::Refunded::SIGNATURE_HASH {
                let e = PropertyTreasury::Refunded::decode_log_data(&data).ok()?;
                Plan {
                    description: format!("Offering refund to {:#x}", e.investor),
                    reference: None,
                    lines: pair(
                        InvestorCapital(e.investor),
                        Chart(codes::TREASURY_CASH),
                        e.amount,
                    ),
                }
            } else if topic0 == PropertyTreasury::DrawReleased::SIGNATURE_HASH {
                let e = PropertyTreasury::DrawReleased::decode_log_data(&data).ok()?;
                Plan {
                    description: format!("Rehab draw {} to {:#x}", e.drawId, e.contractor),
                    reference: nonzero(Some(e.invoiceHash)),
                    lines: pair(Improvements(e.line), Chart(codes::TREASURY_CASH), e.amount),
                }
            } else if topic0 == PropertyTreasury::DistributionFunded::SIGNATURE_HASH {
                let e = PropertyTreasury::DistributionFunded::decode_log_data(&data).ok()?;
                let mut lines = pair(
                    Chart(codes::DISTRIBUTIONS),
                    Chart(codes::DISTRIBUTIONS_PAYABLE),
                    e.amount,
                );
                lines.extend(pair(
                    Chart(codes::DISTRIBUTOR_CASH),
                    Chart(codes::TREASURY_CASH),
                    e.amount,
                ));
                Plan {
                    description: format!("Distribution {} funded", e.distributionId),
                    reference: nonzero(Some(e.r#ref)),
                    lines,
                }
            } else {
                return None;
            }
        }
        ContractKind::Distributor => {
            if topic0 == Distributor::Claimed::SIGNATURE_HASH {
                let e = Distributor::Claimed::decode_log_data(&data).ok()?;
                Plan {
                    description: format!(
                        "Distribution {} claimed by {:#x}",
                        e.distributionId, e.holder
                    ),
                    reference: None,
                    lines: pair(
                        Chart(codes::DISTRIBUTIONS_PAYABLE),
                        Chart(codes::DISTRIBUTOR_CASH),
                        e.amount,
                    ),
                }
            } else if topic0 == Distributor::Swept::SIGNATURE_HASH {
                let e = Distributor::Swept::decode_log_data(&data).ok()?;
                let mut lines = pair(
                    Chart(codes::TREASURY_CASH),
                    Chart(codes::DISTRIBUTOR_CASH),
                    e.amount,
                );
                lines.extend(pair(
                    Chart(codes::DISTRIBUTIONS_PAYABLE),
                    Chart(codes::DISTRIBUTIONS),
                    e.amount,
                ));
                Plan {
                    description: format!("Distribution {} swept back", e.distributionId),
                    reference: None,
                    lines,
                }
            } else {
                return None;
            }
        }
        _ => return None,
    };
    // Zero amounts make no entry (the ledger refuses zero postings).
    if plan.lines.iter().any(|l| l.amount.is_zero()) {
        return None;
    }
    Some(plan)
}
