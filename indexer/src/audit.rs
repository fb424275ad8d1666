//! The auditor's views: the cap table at any block from the indexed `Transfer` events (checked against
//! `balanceOf` at that block), and the reconciliation of the books against chain state.

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use propledger_contracts::{PropertyShares, TestStablecoin};
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{Amount, Direction};
use propledger_ledger::ext::Statement;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::follow::{Indexer, balance_of};
use crate::source::RpcSource;

/// Share holdings of one token at one block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapTable {
    /// The share token.
    pub token: Address,
    /// The block.
    pub block: u64,
    /// Balance per holder (holders with a zero balance are left out).
    pub holders: BTreeMap<Address, U256>,
    /// Sum of the balances: shares minted less shares burned.
    pub total_supply: U256,
}

/// Where the indexed cap table and the chain disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapTableMismatch {
    /// The holder, or `None` for the total supply.
    pub holder: Option<Address>,
    /// From indexed `Transfer` events.
    pub indexed: U256,
    /// From `balanceOf` / `totalSupply` at the block.
    pub on_chain: U256,
}

/// The cap table of `token` at `block`, from its `Transfer` events indexed up to it.
pub async fn cap_table(
    ledger: &propledger_ledger::Ledger,
    token: Address,
    block: u64,
) -> Result<CapTable> {
    let rows = ledger
        .query(
            Statement::new(
                "SELECT topics, data FROM idx_events \
                 WHERE block_number <= $2 AND event = 'Transfer' AND address = $1 \
                 AND kind = 'shares' ORDER BY block_number, log_index",
            )
            .bind(token.to_vec())
            .bind(i64::try_from(block).map_err(|_| Error::Config("block".into()))?),
        )
        .await?;
    let mut balances: BTreeMap<Address, U256> = BTreeMap::new();
    let mut supply = U256::ZERO;
    let bad = |what: &str| Error::Corrupt(format!("transfer {what}"));
    for r in rows {
        // Transfer(address indexed from, address indexed to, uint256 value).
        let (topics, data) = (r.blob(0)?, r.blob(1)?);
        if topics.len() != 96 || data.len() != 32 {
            return Err(bad("shape"));
        }
        let from = Address::from_slice(&topics[44..64]);
        let to = Address::from_slice(&topics[76..96]);
        let amount = U256::from_be_slice(&data);
        if from.is_zero() {
            supply = supply
                .checked_add(amount)
                .ok_or_else(|| bad("supply overflow"))?;
        } else {
            let b = balances.entry(from).or_default();
            *b = b
                .checked_sub(amount)
                .ok_or_else(|| bad("balance underflow"))?;
        }
        if to.is_zero() {
            supply = supply
                .checked_sub(amount)
                .ok_or_else(|| bad("supply underflow"))?;
        } else {
            let b = balances.entry(to).or_default();
            *b = b
                .checked_add(amount)
                .ok_or_else(|| bad("balance overflow"))?;
        }
    }
    balances.retain(|_, b| !b.is_zero());
    Ok(CapTable {
        token,
        block,
        holders: balances,
        total_supply: supply,
    })
}

/// Compares a cap table with `balanceOf` of every holder and `totalSupply`, read by
/// `eth_call` at the cap table's block.
pub async fn check_cap_table(
    source: &RpcSource,
    table: &CapTable,
) -> Result<Vec<CapTableMismatch>> {
    let mut out = Vec::new();
    let supply = source
        .call(
            table.block,
            table.token,
            PropertyShares::totalSupplyCall {}.abi_encode().into(),
        )
        .await?;
    let supply = PropertyShares::totalSupplyCall::abi_decode_returns(&supply)
        .map_err(|e| Error::Corrupt(format!("totalSupply: {e}")))?;
    if supply != table.total_supply {
        out.push(CapTableMismatch {
            holder: None,
            indexed: table.total_supply,
            on_chain: supply,
        });
    }
    for (holder, indexed) in &table.holders {
        let raw = source
            .call(table.block, table.token, balance_of(*holder))
            .await?;
        let on_chain = PropertyShares::balanceOfCall::abi_decode_returns(&raw)
            .map_err(|e| Error::Corrupt(format!("balanceOf: {e}")))?;
        if on_chain != *indexed {
            out.push(CapTableMismatch {
                holder: Some(*holder),
                indexed: *indexed,
                on_chain,
            });
        }
    }
    Ok(out)
}

/// One book balance next to the chain's figure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BalanceCheck {
    /// The property.
    pub property: String,
    /// What is compared (`treasury cash`, `distributor cash`).
    pub what: String,
    /// The book balance (entries booked from events up to the block, and operator entries).
    pub books: Decimal,
    /// The chain's balance at the block.
    pub chain: Decimal,
}

impl BalanceCheck {
    /// Books minus chain.
    pub fn difference(&self) -> Decimal {
        self.books - self.chain
    }
}

/// An item with a reference (an invoice hash, a deposit or distribution reference).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// The reference, `0x` and 64 hex digits.
    pub reference: String,
    /// The entry's idempotency key.
    pub entry_key: String,
    /// The amount.
    pub amount: Decimal,
}

/// A chain event and an operator-entered item with the same reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Matched {
    /// The chain side.
    pub chain: Item,
    /// The operator side.
    pub books: Item,
}

/// Books against chain at one block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// The block.
    pub block: u64,
    /// Book balances against on-chain balances, one per property and account.
    pub balances: Vec<BalanceCheck>,
    /// Cap table differences per share token.
    pub cap_tables: Vec<CapTableMismatch>,
    /// Items with the same reference and amount on both sides.
    pub matched: Vec<Matched>,
    /// Chain events with a reference no operator item carries.
    pub unmatched_in_books: Vec<Item>,
    /// Operator items whose reference no chain event carries.
    pub unmatched_on_chain: Vec<Item>,
    /// Items with the same reference and different amounts.
    pub amount_differences: Vec<Matched>,
}

impl Reconciliation {
    /// Whether books and chain agree everywhere.
    pub fn is_clean(&self) -> bool {
        self.balances.iter().all(|b| b.difference().is_zero())
            && self.cap_tables.is_empty()
            && self.unmatched_in_books.is_empty()
            && self.unmatched_on_chain.is_empty()
            && self.amount_differences.is_empty()
    }
}

fn is_reference(r: &str) -> bool {
    r.len() == 66 && r.starts_with("0x") && r[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Indexer {
    /// Reconciles the books with the chain at `block` (which must be indexed): treasury and
    /// distributor cash against the settlement token's `balanceOf`, each share token's cap
    /// table against `balanceOf` and `totalSupply`, and operator-entered items against chain
    /// events by reference.
    pub async fn reconcile(&self, block: u64) -> Result<Reconciliation> {
        if block >= self.next_block() {
            return Err(Error::Config(format!(
                "block {block} is not indexed yet (next block {})",
                self.next_block()
            )));
        }
        let b = i64::try_from(block).map_err(|_| Error::Config("block".into()))?;
        let mut out = Reconciliation {
            block,
            ..Reconciliation::default()
        };
        let currency = self.currency();
        let token = self.platform().settlement_token;
        let contracts = self
            .ledger()
            .query(
                Statement::new(
                    "SELECT address, kind, property_id FROM idx_contracts \
                 WHERE kind IN ('treasury', 'distributor', 'shares') AND added_block <= $1 \
                 ORDER BY property_id, kind",
                )
                .bind(b),
            )
            .await?;
        for r in &contracts {
            let address = Address::try_from(r.blob(0)?.as_slice())
                .map_err(|_| Error::Corrupt("address".into()))?;
            let kind = r.text(1)?;
            let property = r.opt_text(2)?.unwrap_or_default();
            if kind == "shares" {
                let table = cap_table(self.ledger(), address, block).await?;
                out.cap_tables
                    .extend(check_cap_table(self.source(), &table).await?);
                continue;
            }
            let (code, what) = if kind == "treasury" {
                (codes::TREASURY_CASH, "treasury cash")
            } else {
                (codes::DISTRIBUTOR_CASH, "distributor cash")
            };
            let account = self.chart_account(&property, code)?;
            let books = self.book_balance(account, b).await?;
            let raw = self
                .source()
                .call(
                    block,
                    token,
                    TestStablecoin::balanceOfCall { account: address }
                        .abi_encode()
                        .into(),
                )
                .await?;
            let on_chain = TestStablecoin::balanceOfCall::abi_decode_returns(&raw)
                .map_err(|e| Error::Corrupt(format!("balanceOf: {e}")))?;
            let chain =
                Amount::from_token_units(on_chain, self.token_decimals(), currency)?.value();
            out.balances.push(BalanceCheck {
                property,
                what: what.to_owned(),
                books,
                chain,
            });
        }

        // Items by reference.
        let rows = self
            .ledger()
            .query_many(vec![
                Statement::new(
                    "SELECT b.reference, b.entry_key, \
                     (SELECT p.amount FROM ledger_postings p WHERE p.entry_id = e.id ORDER BY p.idx LIMIT 1) \
                     FROM idx_bookings b JOIN ledger_entries e ON e.idempotency_key = b.entry_key \
                     WHERE b.reference IS NOT NULL AND b.status <> 'retracted' AND b.block_number <= $1",
                )
                .bind(b),
                Statement::new(
                    "SELECT e.source, e.idempotency_key, \
                     (SELECT p.amount FROM ledger_postings p WHERE p.entry_id = e.id ORDER BY p.idx LIMIT 1) \
                     FROM ledger_entries e WHERE e.source LIKE 'operator:0x%' AND e.status <> 'voided'",
                ),
            ])
            .await?;
        let parse = |text: String| {
            Decimal::from_str_exact(&text).map_err(|_| Error::Corrupt(format!("amount {text}")))
        };
        let mut chain_items: BTreeMap<String, Item> = BTreeMap::new();
        for r in &rows[0] {
            let reference = r.opt_text(0)?.unwrap_or_default();
            chain_items.insert(
                reference.clone(),
                Item {
                    reference,
                    entry_key: r.text(1)?,
                    amount: parse(r.text(2)?)?,
                },
            );
        }
        let mut book_items: HashMap<String, Item> = HashMap::new();
        for r in &rows[1] {
            let source = r.text(0)?;
            let reference = source.trim_start_matches("operator:").to_ascii_lowercase();
            if !is_reference(&reference) {
                continue;
            }
            book_items.insert(
                reference.clone(),
                Item {
                    reference,
                    entry_key: r.text(1)?,
                    amount: parse(r.text(2)?)?,
                },
            );
        }
        for (reference, chain) in chain_items {
            match book_items.remove(&reference) {
                Some(books) if books.amount == chain.amount => {
                    out.matched.push(Matched { chain, books })
                }
                Some(books) => out.amount_differences.push(Matched { chain, books }),
                None => out.unmatched_in_books.push(chain),
            }
        }
        let mut rest: Vec<Item> = book_items.into_values().collect();
        rest.sort_by(|a, b| a.reference.cmp(&b.reference));
        out.unmatched_on_chain = rest;
        Ok(out)
    }

    /// An account's balance (debits less credits, posted and pending) from entries booked from
    /// events up to block `b` plus operator-entered entries.
    async fn book_balance(
        &self,
        account: propledger_ledger::core::AccountId,
        b: i64,
    ) -> Result<Decimal> {
        let rows = self
            .ledger()
            .query(
                Statement::new(
                    "SELECT p.direction, p.amount FROM ledger_postings p \
                     JOIN ledger_entries e ON e.id = p.entry_id \
                     LEFT JOIN idx_bookings b ON b.entry_key = e.idempotency_key \
                     WHERE p.account_id = $1 AND e.status <> 'voided' AND ( \
                       (b.entry_key IS NOT NULL AND b.status <> 'retracted' AND b.block_number <= $2) \
                       OR (b.entry_key IS NULL AND e.idempotency_key NOT LIKE 'rev:ev:%'))",
                )
                .bind(account.get())
                .bind(b),
            )
            .await?;
        let mut total = Decimal::ZERO;
        for r in rows {
            let amount = Decimal::from_str_exact(&r.text(1)?)
                .map_err(|_| Error::Corrupt("amount".into()))?;
            if r.text(0)? == Direction::Debit.as_str() {
                total += amount;
            } else {
                total -= amount;
            }
        }
        Ok(total)
    }
}
