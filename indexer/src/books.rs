//! From chain events to ledger entries: which events move money, and the postings each makes.
//!
//! | event | postings |
//! |---|---|
//! | treasury `Deposited`, kind 1 (offering proceeds) | Dr treasury cash / Cr investor capital (investor = buyer wallet) |
//! | treasury `Deposited`, kind 0 (direct) | Dr treasury cash / Cr other income |
//! | treasury `Refunded` (failed offering) | Dr investor capital / Cr treasury cash (investor = refunded wallet) |
//! | treasury `DrawReleased` | Dr capitalized improvements (budget line) / Cr treasury cash |
//! | treasury `DistributionFunded` | Dr distributions / Cr distributions payable; Dr distributor cash / Cr treasury cash |
//! | distributor `Claimed` (a payout paid) | Dr distributions payable / Cr distributor cash |
//! | distributor `Swept` to the treasury (unclaimed and dust back) | Dr treasury cash / Cr distributor cash; Dr distributions payable / Cr distributions |
//!
//! Share movements (`Transfer`) change no money account: they make the cap table. Offering
//! events (`SharesPurchased`, `PurchaseRefunded`) are the share side of the treasury's
//! `Deposited` and `Refunded`, which carry the money, so they are not booked twice. Likewise the
//! treasury's `Deposited` of kind 2 (a distribution's unclaimed remainder, paid in by the
//! distributor) is the treasury side of the distributor's `Swept`, which books it. A payout claimed
//! while its payee is frozen (`ClaimWithheld`) moves no money and stays payable until its `Claimed`.
//! A distribution funded by an account other than the treasury is not in the property's books, so
//! neither is its return to that account (`Swept` with `toTreasury` false).

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

/// `Deposited.kind` of a distribution's unclaimed remainder swept back by the distributor
/// (`PropertyTreasury.DEPOSIT_UNCLAIMED`).
const DEPOSIT_UNCLAIMED: u8 = 2;

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
                if e.kind == DEPOSIT_UNCLAIMED {
                    return None; // booked from the distributor's `Swept`
                }
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
                let description = if e.payee == e.holder {
                    format!(
                        "Distribution {} claimed by {:#x}",
                        e.distributionId, e.holder
                    )
                } else {
                    format!(
                        "Distribution {} claimed for {:#x}, paid to {:#x}",
                        e.distributionId, e.holder, e.payee
                    )
                };
                Plan {
                    description,
                    reference: None,
                    lines: pair(
                        Chart(codes::DISTRIBUTIONS_PAYABLE),
                        Chart(codes::DISTRIBUTOR_CASH),
                        e.amount,
                    ),
                }
            } else if topic0 == Distributor::Swept::SIGNATURE_HASH {
                let e = Distributor::Swept::decode_log_data(&data).ok()?;
                if !e.toTreasury {
                    return None;
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, LogData};

    fn log_of(data: &LogData) -> RawLog {
        RawLog {
            block_number: 1,
            block_hash: B256::ZERO,
            block_timestamp: None,
            tx_hash: B256::ZERO,
            tx_index: 0,
            log_index: 0,
            address: Address::ZERO,
            topics: data.topics().to_vec(),
            data: data.data.clone(),
        }
    }

    fn deposited(kind: u8) -> RawLog {
        log_of(
            &PropertyTreasury::Deposited {
                from: Address::repeat_byte(1),
                amount: U256::from(70u8),
                kind,
                r#ref: B256::repeat_byte(9),
            }
            .encode_log_data(),
        )
    }

    fn swept(to_treasury: bool) -> RawLog {
        log_of(
            &Distributor::Swept {
                distributionId: U256::from(3u8),
                funder: Address::repeat_byte(2),
                amount: U256::from(70u8),
                toTreasury: to_treasury,
            }
            .encode_log_data(),
        )
    }

    /// A sweep back to the treasury is booked once, from the distributor's event: the treasury's
    /// deposit of kind 2 that carries the same money makes no entry of its own.
    #[test]
    fn a_sweep_to_the_treasury_is_booked_once() {
        assert!(plan(ContractKind::Treasury, &deposited(2)).is_none());
        let direct =
            plan(ContractKind::Treasury, &deposited(0)).expect("a direct deposit is booked");
        assert_eq!(direct.lines[1].target, Target::Chart(codes::OTHER_INCOME));
        let sweep = plan(ContractKind::Distributor, &swept(true)).expect("booked");
        assert_eq!(sweep.lines.len(), 4);
        assert_eq!(sweep.lines[0].target, Target::Chart(codes::TREASURY_CASH));
        assert_eq!(sweep.lines[0].direction, Direction::Debit);
        assert_eq!(
            sweep.lines[1].target,
            Target::Chart(codes::DISTRIBUTOR_CASH)
        );
        assert!(sweep.lines.iter().all(|l| l.amount == U256::from(70u8)));
    }

    /// Money returned to a funder outside the treasury leaves no trace in the property's books.
    #[test]
    fn a_sweep_to_another_funder_is_not_booked() {
        assert!(plan(ContractKind::Distributor, &swept(false)).is_none());
    }

    /// A payout made to the wallet a lost one was recovered to says so.
    #[test]
    fn a_claim_names_the_wallet_paid() {
        let (holder, payee) = (Address::repeat_byte(4), Address::repeat_byte(5));
        let claimed = |payee| {
            log_of(
                &Distributor::Claimed {
                    distributionId: U256::from(1u8),
                    holder,
                    payee,
                    amount: U256::from(10u8),
                }
                .encode_log_data(),
            )
        };
        let own = plan(ContractKind::Distributor, &claimed(holder)).expect("booked");
        assert_eq!(
            own.description,
            format!("Distribution 1 claimed by {holder:#x}")
        );
        let recovered = plan(ContractKind::Distributor, &claimed(payee)).expect("booked");
        assert_eq!(
            recovered.description,
            format!("Distribution 1 claimed for {holder:#x}, paid to {payee:#x}")
        );
        assert_eq!(
            recovered.lines[0].target,
            Target::Chart(codes::DISTRIBUTIONS_PAYABLE)
        );
    }

    /// A withheld claim moves no money: nothing is booked until it is paid.
    #[test]
    fn a_withheld_claim_is_not_booked() {
        let withheld = log_of(
            &Distributor::ClaimWithheld {
                distributionId: U256::from(1u8),
                holder: Address::repeat_byte(4),
                payee: Address::repeat_byte(4),
                amount: U256::from(10u8),
            }
            .encode_log_data(),
        );
        assert!(plan(ContractKind::Distributor, &withheld).is_none());
    }
}
