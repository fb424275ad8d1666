//! From chain events to ledger entries: which events move money, and the postings each makes.
//!
//! | event | postings |
//! |---|---|
//! | treasury `Deposited`, kind 1 (offering proceeds) | Dr treasury cash / Cr investor capital (the buyer's investor) |
//! | treasury `Deposited`, kind 0 (direct) | Dr treasury cash / Cr other income |
//! | treasury `Refunded` (failed offering) | Dr investor capital / Cr treasury cash (the refunded wallet's investor) |
//! | shares `Transfer` between two investors | Dr seller's capital / Cr buyer's capital, the capital the shares carry |
//! | treasury `DrawReleased` | Dr capitalized improvements (budget line) / Cr treasury cash |
//! | treasury `DrawReleased` on the waterfall's fee line | Dr management fees / Cr treasury cash |
//! | treasury `DrawReleased` on the waterfall's promote line | Dr sponsor promote / Cr treasury cash |
//! | treasury `DistributionFunded` | Dr distributions / Cr distributions payable; Dr distributor cash / Cr treasury cash |
//! | distributor `Claimed` (a payout paid) | Dr distributions payable / Cr distributor cash |
//! | distributor `Swept` to the treasury (unclaimed and dust back) | Dr treasury cash / Cr distributor cash; Dr distributions payable / Cr distributions |
//! | share market `TradeSettled` with a fee, in the platform's own books | Dr fee recipient's funds / Cr trading fees |
//!
//! When the property has a platform fee schedule in force at the event's block, offering
//! proceeds and a funded distribution also make Dr platform fees / Cr due to platform, the
//! schedule's basis points of the amount rounded down to the token's base unit, in the same
//! entry.
//!
//! Capital accounts are per investor: a wallet is resolved to the registry's investor id at the
//! event (the registry's `WalletAdded` and `WalletRemoved` before it, in chain order), so an
//! investor's wallets share one account. A wallet no investor holds at the event (unlinked, or
//! never registered) has an account of its own. [`Capital`] keeps what resolving needs: the
//! registry's wallets, each wallet's shares and each holder's capital per property.
//!
//! A share transfer between two investors carries the capital attributable to the shares, at
//! book value and pro rata to the seller's holding: `capital * shares / holding`, in token base
//! units rounded down, and the whole capital when the seller's last share leaves. A transfer
//! between wallets of one investor, a mint and a burn move no capital (the money side of a
//! purchase or refund is the treasury's event). Offering
//! events (`SharesPurchased`, `PurchaseRefunded`) are the share side of the treasury's
//! `Deposited` and `Refunded`, which carry the money, so they are not booked twice. Likewise the
//! treasury's `Deposited` of kind 2 (a distribution's unclaimed remainder, paid in by the
//! distributor) is the treasury side of the distributor's `Swept`, which books it. A payout claimed
//! while its payee is frozen (`ClaimWithheld`) moves no money and stays payable until its `Claimed`.
//! A distribution funded by an account other than the treasury is not in the property's books, so
//! neither is its return to that account (`Swept` with `toTreasury` false).

use std::collections::HashMap;

use alloy::primitives::{Address, B256, U256, U512};
use alloy::sol_types::SolEvent;
use propledger_contracts::{
    Distributor, IdentityRegistry, PropertyShares, PropertyTreasury, ShareSettlement,
};
use propledger_ledger::core::Direction;
use propledger_ledger::core::chart::codes;

use crate::decode::ContractKind;
use crate::source::RawLog;

/// Which account of a property's chart a posting goes to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A template account of the property, by code.
    Chart(&'static str),
    /// The investor capital account of a holder.
    InvestorCapital(Holder),
    /// The capitalized-improvements account of a budget line.
    Improvements(B256),
}

/// Whose capital account: the registry's investor, or a wallet no investor held at the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holder {
    /// An investor, by the registry's investor id.
    Investor(B256),
    /// A wallet that belonged to no investor at the event.
    Wallet(Address),
}

impl Holder {
    /// The ledger's `investor` dimension of the holder's capital account: the investor id in
    /// 64 lowercase hex digits, or `wallet-` and the wallet's address.
    pub fn dimension(&self) -> String {
        match self {
            Holder::Investor(id) => alloy::hex::encode(id),
            Holder::Wallet(w) => format!("wallet-{w:#x}"),
        }
    }

    /// As a sentence names it.
    fn label(&self) -> String {
        match self {
            Holder::Investor(id) => format!("investor {id:#x}"),
            Holder::Wallet(w) => format!("wallet {w:#x}"),
        }
    }
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
    /// The amount a platform fee is due on, when the event owes one.
    pub fee: Option<FeeOn>,
}

/// What a platform fee is charged on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeeOn {
    /// Offering proceeds.
    Proceeds(U256),
    /// A distribution.
    Distribution(U256),
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

/// The budget line a distribution waterfall pays the sponsor's management fee from: a draw on
/// it is the fee, not an improvement. `keccak256("propledger.waterfall.fee")`.
pub const FEE_LINE: B256 =
    alloy::primitives::b256!("0x7808134ddd57aa0c457ea6735f5af6da73b903e066b2aca354f773968ab3606b");
/// The budget line a distribution waterfall pays the sponsor's promote (catch-up and split)
/// from. `keccak256("propledger.waterfall.promote")`.
pub const PROMOTE_LINE: B256 =
    alloy::primitives::b256!("0x63367f107a2f29e751c541a8083cd0c815b337717a1474d1b4023b450df3056c");

/// `Deposited.kind` of a distribution's unclaimed remainder swept back by the distributor
/// (`PropertyTreasury.DEPOSIT_UNCLAIMED`).
const DEPOSIT_UNCLAIMED: u8 = 2;

fn nonzero(r: Option<B256>) -> Option<B256> {
    r.filter(|r| !r.is_zero())
}

/// Whether `log` (from a contract of `kind`) may make an entry: what a commit's budget counts.
pub fn may_book(kind: ContractKind, log: &RawLog) -> bool {
    plan(kind, log).is_some()
        || (kind == ContractKind::Shares
            && log.topics.first() == Some(&PropertyShares::Transfer::SIGNATURE_HASH)
            && log.topics.len() == 3
            && !log.topics[1].is_zero()
            && !log.topics[2].is_zero())
}

/// The entry `log` (from a contract of `kind`) makes, if it moves money, with capital booked to
/// the wallets named in the event ([`Capital::apply`] resolves them to investors and books
/// share transfers). A log that does not decode as its event is not booked (it is still
/// stored, as `unknown`).
pub fn plan(kind: ContractKind, log: &RawLog) -> Option<Plan> {
    use Target::{Chart, Improvements, InvestorCapital};
    if !matches!(
        kind,
        ContractKind::Treasury | ContractKind::Distributor | ContractKind::Settlement
    ) {
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
                    (InvestorCapital(Holder::Wallet(e.from)), "Offering proceeds")
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
                    fee: (e.kind == 1).then_some(FeeOn::Proceeds(e.amount)),
                }
            } else if topic0 == PropertyTreasury::Refunded::SIGNATURE_HASH {
                let e = PropertyTreasury::Refunded::decode_log_data(&data).ok()?;
                Plan {
                    description: format!("Offering refund to {:#x}", e.investor),
                    reference: None,
                    lines: pair(
                        InvestorCapital(Holder::Wallet(e.investor)),
                        Chart(codes::TREASURY_CASH),
                        e.amount,
                    ),
                    fee: None,
                }
            } else if topic0 == PropertyTreasury::DrawReleased::SIGNATURE_HASH {
                let e = PropertyTreasury::DrawReleased::decode_log_data(&data).ok()?;
                Plan {
                    description: format!("Rehab draw {} to {:#x}", e.drawId, e.contractor),
                    reference: nonzero(Some(e.invoiceHash)),
                    lines: pair(
                        match e.line {
                            FEE_LINE => Chart(codes::MANAGEMENT_FEES),
                            PROMOTE_LINE => Chart(codes::SPONSOR_PROMOTE),
                            line => Improvements(line),
                        },
                        Chart(codes::TREASURY_CASH),
                        e.amount,
                    ),
                    fee: None,
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
                    fee: Some(FeeOn::Distribution(e.amount)),
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
                    fee: None,
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
                    fee: None,
                }
            } else {
                return None;
            }
        }
        // The trade's shares and capital move with the token's `Transfer`; its fee is the
        // platform's, booked in the platform's own chart (a trade without a fee books nothing).
        ContractKind::Settlement => {
            if topic0 != ShareSettlement::TradeSettled::SIGNATURE_HASH {
                return None;
            }
            let e = ShareSettlement::TradeSettled::decode_log_data(&data).ok()?;
            Plan {
                description: format!(
                    "Trading fee on trade {} ({} share units of {:#x})",
                    e.tradeId, e.amount, e.token
                ),
                reference: None,
                lines: pair(
                    Chart(codes::FEE_RECIPIENT_CASH),
                    Chart(codes::TRADING_FEES),
                    e.fee,
                ),
                fee: None,
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

/// Adds `n` shares to (or takes them from) a holder's total.
fn add_held(held: &mut HashMap<Holder, U256>, holder: Holder, n: U256, add: bool) {
    let h = held.entry(holder).or_default();
    *h = if add {
        h.saturating_add(n)
    } else {
        h.saturating_sub(n)
    };
    if h.is_zero() {
        held.remove(&holder);
    }
}

/// One property's shares and capital.
#[derive(Clone, Debug, Default)]
struct PropertyCapital {
    /// Shares per wallet.
    shares: HashMap<Address, U256>,
    /// Shares per holder: the sum over the wallets it holds now.
    held: HashMap<Holder, U256>,
    /// Capital per holder, in token base units (contributions less refunds, plus capital
    /// received with shares, less capital given with them).
    capital: HashMap<Holder, U256>,
}

/// What booking capital per investor needs to know, moved on event by event in chain order:
/// which investor holds each wallet, and per property each wallet's shares and each holder's
/// capital. Rebuilt from the stored events when the indexer loads.
#[derive(Clone, Debug, Default)]
pub struct Capital {
    wallets: HashMap<Address, B256>,
    properties: HashMap<String, PropertyCapital>,
    /// Platform fee schedules per property: (first block, proceeds bps, distribution bps), in
    /// block order.
    fees: HashMap<String, Vec<(u64, u32, u32)>>,
}

impl Capital {
    /// Takes the ledger's fee schedules (every one; the ledger names a property `prop-<id>`).
    pub fn set_fees(&mut self, all: &[propledger_ledger::fees::FeeSchedule]) {
        self.fees.clear();
        for s in all {
            let property = s.property.as_str();
            let id = property.strip_prefix("prop-").unwrap_or(property);
            self.fees.entry(id.to_owned()).or_default().push((
                s.since_block,
                s.proceeds_bps,
                s.distribution_bps,
            ));
        }
        for v in self.fees.values_mut() {
            v.sort_unstable();
        }
    }

    /// The fee due on `on` for an event of `property` at `block`, by the schedule in force then.
    fn fee(&self, property: &str, block: u64, on: FeeOn) -> U256 {
        let Some(schedule) = self
            .fees
            .get(property)
            .and_then(|v| v.iter().rev().find(|(since, _, _)| *since <= block))
        else {
            return U256::ZERO;
        };
        let (amount, bps) = match on {
            FeeOn::Proceeds(a) => (a, schedule.1),
            FeeOn::Distribution(a) => (a, schedule.2),
        };
        propledger_ledger::fees::FeeSchedule::fee_of(amount, bps)
    }

    /// The holder of `wallet` now.
    pub fn holder(&self, wallet: Address) -> Holder {
        self.wallets
            .get(&wallet)
            .map_or(Holder::Wallet(wallet), |id| Holder::Investor(*id))
    }

    /// A holder's capital in `property`, in token base units.
    pub fn capital(&self, property: &str, holder: Holder) -> U256 {
        self.properties
            .get(property)
            .and_then(|p| p.capital.get(&holder))
            .copied()
            .unwrap_or_default()
    }

    /// A holder's shares in `property` (the shares of the wallets it holds now).
    pub fn shares(&self, property: &str, holder: Holder) -> U256 {
        self.properties
            .get(property)
            .and_then(|p| p.held.get(&holder))
            .copied()
            .unwrap_or_default()
    }

    /// Links `wallet` to `to` (or unlinks it): its shares in every property count for the new
    /// holder from now on.
    fn relink(&mut self, wallet: Address, to: Option<B256>) {
        let from = self.holder(wallet);
        match to {
            Some(id) => self.wallets.insert(wallet, id),
            None => self.wallets.remove(&wallet),
        };
        let to = self.holder(wallet);
        if from == to {
            return;
        }
        for p in self.properties.values_mut() {
            let Some(n) = p.shares.get(&wallet).copied() else {
                continue;
            };
            add_held(&mut p.held, from, n, false);
            add_held(&mut p.held, to, n, true);
        }
    }

    /// Takes the next event (in chain order) of a contract of `kind` (of `property`, for a
    /// property's contracts) and returns the entry it makes, if any, with capital booked to
    /// the investors holding the wallets at this event.
    pub fn apply(
        &mut self,
        kind: ContractKind,
        property: Option<&str>,
        log: &RawLog,
    ) -> Option<Plan> {
        let topic0 = *log.topics.first()?;
        let data = alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
        match kind {
            ContractKind::IdentityRegistry => {
                if topic0 == IdentityRegistry::WalletAdded::SIGNATURE_HASH {
                    let e = IdentityRegistry::WalletAdded::decode_log_data(&data).ok()?;
                    self.relink(e.wallet, Some(e.investorId));
                } else if topic0 == IdentityRegistry::WalletRemoved::SIGNATURE_HASH {
                    let e = IdentityRegistry::WalletRemoved::decode_log_data(&data).ok()?;
                    if self.wallets.get(&e.wallet) == Some(&e.investorId) {
                        self.relink(e.wallet, None);
                    }
                }
                None
            }
            ContractKind::Shares => {
                if topic0 != PropertyShares::Transfer::SIGNATURE_HASH {
                    return None;
                }
                let e = PropertyShares::Transfer::decode_log_data(&data).ok()?;
                self.transfer(property?, e.from, e.to, e.value)
            }
            _ => {
                let mut plan = plan(kind, log)?;
                let property = property?;
                for line in &mut plan.lines {
                    if let Target::InvestorCapital(Holder::Wallet(w)) = line.target {
                        let holder = self.holder(w);
                        line.target = Target::InvestorCapital(holder);
                        let book = self.properties.entry(property.to_owned()).or_default();
                        let c = book.capital.entry(holder).or_default();
                        *c = match line.direction {
                            Direction::Credit => c.saturating_add(line.amount),
                            Direction::Debit => c.saturating_sub(line.amount),
                        };
                    }
                }
                if let Some(on) = plan.fee {
                    let fee = self.fee(property, log.block_number, on);
                    if !fee.is_zero() {
                        plan.lines.extend(pair(
                            Target::Chart(codes::PLATFORM_FEES),
                            Target::Chart(codes::DUE_TO_PLATFORM),
                            fee,
                        ));
                        plan.description
                            .push_str(&format!(", platform fee {fee} base units"));
                    }
                }
                Some(plan)
            }
        }
    }

    fn transfer(
        &mut self,
        property: &str,
        from: Address,
        to: Address,
        value: U256,
    ) -> Option<Plan> {
        let (seller, buyer) = (self.holder(from), self.holder(to));
        let moved = if from.is_zero() || to.is_zero() || seller == buyer {
            U256::ZERO
        } else {
            let holding = self.shares(property, seller);
            let capital = self.capital(property, seller);
            if value >= holding {
                capital
            } else {
                // holding > value >= 0, so the quotient is below `capital` and fits.
                let wide: U512 = capital.widening_mul::<256, 4, 512, 8>(value);
                let q = (wide / U512::from(holding)).into_limbs();
                U256::from_limbs([q[0], q[1], q[2], q[3]])
            }
        };
        let book = self.properties.entry(property.to_owned()).or_default();
        if !from.is_zero() {
            let s = book.shares.entry(from).or_default();
            let taken = value.min(*s);
            *s -= taken;
            if s.is_zero() {
                book.shares.remove(&from);
            }
            add_held(&mut book.held, seller, taken, false);
        }
        if !to.is_zero() {
            let s = book.shares.entry(to).or_default();
            *s = s.saturating_add(value);
            add_held(&mut book.held, buyer, value, true);
        }
        if moved.is_zero() {
            return None;
        }
        let c = book.capital.entry(seller).or_default();
        *c = c.saturating_sub(moved);
        let c = book.capital.entry(buyer).or_default();
        *c = c.saturating_add(moved);
        Some(Plan {
            description: format!(
                "Capital of {value} share units transferred from {} to {}",
                seller.label(),
                buyer.label()
            ),
            reference: None,
            lines: pair(
                Target::InvestorCapital(seller),
                Target::InvestorCapital(buyer),
                moved,
            ),
            fee: None,
        })
    }
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

    /// The waterfall's sponsor lines are the hashes their docs name, and a draw on them books
    /// the fee or the promote, where any other line is an improvement.
    #[test]
    fn sponsor_lines_book_the_fee_and_the_promote() {
        use alloy::primitives::keccak256;
        assert_eq!(FEE_LINE, keccak256("propledger.waterfall.fee"));
        assert_eq!(PROMOTE_LINE, keccak256("propledger.waterfall.promote"));
        let draw = |line: B256| {
            let e = PropertyTreasury::DrawReleased {
                drawId: U256::from(1),
                contractor: Address::repeat_byte(5),
                line,
                invoiceHash: B256::repeat_byte(9),
                amount: U256::from(700),
            };
            plan(ContractKind::Treasury, &log_of(&e.encode_log_data()))
                .unwrap()
                .lines[0]
                .target
                .clone()
        };
        assert_eq!(draw(FEE_LINE), Target::Chart(codes::MANAGEMENT_FEES));
        assert_eq!(draw(PROMOTE_LINE), Target::Chart(codes::SPONSOR_PROMOTE));
        let other = B256::repeat_byte(3);
        assert_eq!(draw(other), Target::Improvements(other));
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

    /// Proceeds owe the fee of the schedule in force at their block, rounded down, in the same
    /// entry; before the first schedule, and on a direct deposit, nothing is owed.
    #[test]
    fn fees_follow_the_schedule_in_force() {
        let schedule = |since: u64, proceeds: u32| propledger_ledger::fees::FeeSchedule {
            property: propledger_ledger::core::DimValue::parse("prop-7").unwrap(),
            since_block: since,
            proceeds_bps: proceeds,
            distribution_bps: 0,
        };
        let mut c = Capital::default();
        c.set_fees(&[schedule(5, 250), schedule(10, 1_000)]);
        let at = |block: u64, kind: u8| {
            let mut log = deposited(kind);
            log.block_number = block;
            log
        };
        let mut apply = |block, kind| c.apply(ContractKind::Treasury, Some("7"), &at(block, kind));
        assert_eq!(apply(4, 1).unwrap().lines.len(), 2, "no schedule yet");
        // 2.5% of 70 base units is 1.75: one unit owed.
        let fee = apply(5, 1).unwrap();
        assert_eq!(fee.lines.len(), 4);
        assert_eq!(fee.lines[2].target, Target::Chart(codes::PLATFORM_FEES));
        assert_eq!(fee.lines[2].direction, Direction::Debit);
        assert_eq!(fee.lines[3].target, Target::Chart(codes::DUE_TO_PLATFORM));
        assert_eq!(fee.lines[3].amount, U256::from(1u8));
        assert_eq!(apply(12, 1).unwrap().lines[3].amount, U256::from(7u8));
        assert_eq!(
            apply(12, 0).unwrap().lines.len(),
            2,
            "a direct deposit owes none"
        );
        // Another property's schedule is not this one's.
        let other = c
            .apply(ContractKind::Treasury, Some("8"), &at(12, 1))
            .unwrap();
        assert_eq!(other.lines.len(), 2);
    }

    /// A trade's fee is the platform's revenue; a trade without one books nothing.
    #[test]
    fn a_trade_books_its_fee_in_the_platforms_chart() {
        let settled = |fee: u64| {
            log_of(
                &ShareSettlement::TradeSettled {
                    tradeId: U256::from(7u8),
                    orderId: U256::from(3u8),
                    token: Address::repeat_byte(1),
                    seller: Address::repeat_byte(2),
                    buyer: Address::repeat_byte(3),
                    amount: U256::from(5u8),
                    payment: U256::from(500u16),
                    fee: U256::from(fee),
                }
                .encode_log_data(),
            )
        };
        let p = plan(ContractKind::Settlement, &settled(2)).expect("booked");
        assert_eq!(
            p.lines,
            pair(
                Target::Chart(codes::FEE_RECIPIENT_CASH),
                Target::Chart(codes::TRADING_FEES),
                U256::from(2u8)
            )
        );
        assert!(
            p.description.starts_with("Trading fee on trade 7"),
            "{}",
            p.description
        );
        assert!(plan(ContractKind::Settlement, &settled(0)).is_none());
        assert!(may_book(ContractKind::Settlement, &settled(2)));
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

    fn wallet_added(wallet: Address, id: B256) -> RawLog {
        log_of(
            &IdentityRegistry::WalletAdded {
                wallet,
                investorId: id,
            }
            .encode_log_data(),
        )
    }

    fn transfer(from: Address, to: Address, value: u64) -> RawLog {
        log_of(
            &PropertyShares::Transfer {
                from,
                to,
                value: U256::from(value),
            }
            .encode_log_data(),
        )
    }

    fn proceeds(from: Address, amount: u64) -> RawLog {
        log_of(
            &PropertyTreasury::Deposited {
                from,
                amount: U256::from(amount),
                kind: 1,
                r#ref: B256::ZERO,
            }
            .encode_log_data(),
        )
    }

    /// Buys a holding: the mint and the proceeds.
    fn buy(c: &mut Capital, wallet: Address, shares: u64, cost: u64) -> Option<Plan> {
        assert!(
            c.apply(
                ContractKind::Shares,
                Some("1"),
                &transfer(Address::ZERO, wallet, shares)
            )
            .is_none(),
            "a mint moves no capital"
        );
        c.apply(ContractKind::Treasury, Some("1"), &proceeds(wallet, cost))
    }

    /// Two wallets of one investor share one capital account; transfers between investors carry
    /// capital pro rata to the seller's holding (rounded down to a base unit, the remainder with
    /// the last share); transfers between one investor's wallets carry none.
    #[test]
    fn capital_is_per_investor_and_moves_with_shares() {
        let (a1, a2, b) = (
            Address::repeat_byte(0xa1),
            Address::repeat_byte(0xa2),
            Address::repeat_byte(0xb1),
        );
        let (ida, idb) = (B256::repeat_byte(0xaa), B256::repeat_byte(0xbb));
        let (ha, hb) = (Holder::Investor(ida), Holder::Investor(idb));
        let mut c = Capital::default();
        for (w, id) in [(a1, ida), (a2, ida), (b, idb)] {
            assert!(
                c.apply(ContractKind::IdentityRegistry, None, &wallet_added(w, id))
                    .is_none()
            );
        }
        let p = buy(&mut c, a1, 10, 500).expect("proceeds are booked");
        assert_eq!(p.lines[1].target, Target::InvestorCapital(ha));
        buy(&mut c, a2, 5, 250).expect("booked");
        assert_eq!(c.capital("1", ha), U256::from(750u64));
        assert_eq!(c.shares("1", ha), U256::from(15u64));

        // Between the investor's own wallets: nothing moves.
        assert!(
            c.apply(ContractKind::Shares, Some("1"), &transfer(a1, a2, 3))
                .is_none()
        );
        assert_eq!(c.capital("1", ha), U256::from(750u64));

        // A third of the holding carries a third of the capital.
        let p = c
            .apply(ContractKind::Shares, Some("1"), &transfer(a2, b, 5))
            .expect("capital moves");
        assert_eq!(p.lines[0].target, Target::InvestorCapital(ha));
        assert_eq!(p.lines[0].direction, Direction::Debit);
        assert_eq!(p.lines[1].target, Target::InvestorCapital(hb));
        assert_eq!(p.lines[1].direction, Direction::Credit);
        assert_eq!(p.lines[0].amount, U256::from(250u64));
        assert_eq!(c.capital("1", ha), U256::from(500u64));
        assert_eq!(c.capital("1", hb), U256::from(250u64));

        // A transfers 3 of its 10 shares (500 * 3 / 10 = 150), then 1 of 7 (350 / 7 = 50),
        // then 2 of 6 (300 * 2 / 6 = 100).
        for (from, to, n, moved) in [(a1, b, 3, 150u64), (a1, b, 1, 50), (a2, b, 2, 100)] {
            let p = c
                .apply(ContractKind::Shares, Some("1"), &transfer(from, to, n))
                .expect("capital moves");
            assert_eq!(p.lines[0].amount, U256::from(moved));
        }
        assert_eq!(c.shares("1", ha), U256::from(4u64));
        assert_eq!(c.capital("1", ha), U256::from(200u64));
        assert_eq!(c.capital("1", hb), U256::from(550u64));
    }

    /// A pro-rata share rounds down to the base unit, and the last share takes what is left, so
    /// capital is conserved exactly.
    #[test]
    fn the_last_share_carries_the_remainder() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let mut c = Capital::default();
        c.apply(
            ContractKind::IdentityRegistry,
            None,
            &wallet_added(a, B256::repeat_byte(1)),
        );
        c.apply(
            ContractKind::IdentityRegistry,
            None,
            &wallet_added(b, B256::repeat_byte(2)),
        );
        buy(&mut c, a, 3, 100);
        let moved: Vec<U256> = (0..3)
            .map(|_| {
                c.apply(ContractKind::Shares, Some("1"), &transfer(a, b, 1))
                    .expect("moves")
                    .lines[0]
                    .amount
            })
            .collect();
        assert_eq!(
            moved,
            [U256::from(33u64), U256::from(33u64), U256::from(34u64)]
        );
        assert_eq!(c.capital("1", c.holder(a)), U256::ZERO);
        assert_eq!(c.capital("1", c.holder(b)), U256::from(100u64));
    }

    /// A wallet is resolved at the event: before its registration it books to an account of
    /// its own, after it to its investor's.
    #[test]
    fn a_wallet_is_resolved_at_the_event() {
        let w = Address::repeat_byte(7);
        let id = B256::repeat_byte(7);
        let mut c = Capital::default();
        let before = buy(&mut c, w, 1, 10).expect("booked");
        assert_eq!(
            before.lines[1].target,
            Target::InvestorCapital(Holder::Wallet(w))
        );
        c.apply(ContractKind::IdentityRegistry, None, &wallet_added(w, id));
        let after = buy(&mut c, w, 1, 10).expect("booked");
        assert_eq!(
            after.lines[1].target,
            Target::InvestorCapital(Holder::Investor(id))
        );
        // The share bought before the link counts for the investor now; the capital booked
        // then stays where it was booked.
        assert_eq!(c.shares("1", Holder::Investor(id)), U256::from(2u64));
        assert_eq!(c.shares("1", Holder::Wallet(w)), U256::ZERO);
        assert_eq!(c.capital("1", Holder::Wallet(w)), U256::from(10u64));
        assert_eq!(Holder::Investor(id).dimension(), alloy::hex::encode(id));
        assert_eq!(Holder::Wallet(w).dimension(), format!("wallet-{w:#x}"));
    }
}
