//! The auditor's views: the cap table at any block from the indexed `Transfer` events (checked against
//! `balanceOf` at that block), and the reconciliation of the books against chain state.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use propledger_contracts::{PropertyShares, TestStablecoin};
use propledger_ledger::core::chart::codes;
use propledger_ledger::core::{
    AccountCode, AccountId, Amount, Currency, Dimensions, Direction, EntryStatus, IdempotencyKey,
    Source,
};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::decode::ContractKind;
use crate::error::{Error, Result};
use crate::follow::{Indexer, balance_of, retraction_key};
use crate::source::RpcSource;
use crate::store::{self, Booking, BookingStatus};

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
    let rows = store::share_transfers(ledger, token, block).await?;
    let mut balances: BTreeMap<Address, U256> = BTreeMap::new();
    let mut supply = U256::ZERO;
    let bad = |what: &str| Error::CorruptStore(format!("transfer {what}"));
    for (topics, data) in rows {
        // Transfer(address indexed from, address indexed to, uint256 value).
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
        .map_err(|e| Error::BadChainData(format!("totalSupply: {e}")))?;
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
            .map_err(|e| Error::BadChainData(format!("balanceOf: {e}")))?;
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
    /// Reconciles the books with the chain at `block` (which must be indexed): see
    /// [`Auditor::reconcile`].
    pub async fn reconcile(&self, block: u64) -> Result<Reconciliation> {
        Auditor {
            ledger: self.ledger().clone(),
            source: self.source().clone(),
            settlement_token: self.platform().settlement_token,
            currency: self.currency(),
            token_decimals: self.token_decimals(),
            next_block: self.next_block(),
        }
        .reconcile(block)
        .await
    }
}

/// Reconciles books and chain beside the node's own indexer (in the API, or an auditor's
/// process): it reads the books and the index from the ledger's database and the chain from
/// its source, and writes nothing.
#[derive(Clone, Debug)]
pub struct Auditor {
    ledger: propledger_ledger::Ledger,
    source: RpcSource,
    settlement_token: Address,
    currency: Currency,
    token_decimals: u8,
    next_block: u64,
}

impl Auditor {
    /// An auditor of the books in `ledger`'s database, as indexed from the chain `source`
    /// reads, whose settlement token is `settlement_token`. Refused when nothing is indexed
    /// yet or the index is of another chain.
    pub async fn open(
        ledger: propledger_ledger::Ledger,
        source: RpcSource,
        settlement_token: Address,
    ) -> Result<Auditor> {
        let c = store::checkpoint(&ledger)
            .await?
            .ok_or_else(|| Error::Config("nothing is indexed yet".into()))?;
        if c.chain_id != source.chain_id() {
            return Err(Error::ChainMismatch {
                expected: c.chain_id,
                found: source.chain_id(),
            });
        }
        Ok(Auditor {
            currency: Currency::parse(&c.currency, u32::from(c.token_decimals))?,
            token_decimals: c.token_decimals,
            next_block: c.next_block,
            ledger,
            source,
            settlement_token,
        })
    }

    /// The next block to index when the auditor was opened: every block before it is indexed.
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// The chain source.
    pub fn source(&self) -> &RpcSource {
        &self.source
    }

    /// The property's chart account with `code`, if its chart is open.
    async fn chart_account(&self, property: &str, code: &str) -> Result<Option<AccountId>> {
        let dims = Dimensions::property(crate::follow::accounts::property_dim(property)?);
        Ok(self
            .ledger
            .accounts()
            .find(&AccountCode::parse(code)?, &dims)
            .await?
            .map(|a| a.id))
    }

    /// Reconciles the books with the chain at `block` (which must be indexed): treasury and
    /// distributor cash against the settlement token's `balanceOf`, each share token's cap
    /// table against `balanceOf` and `totalSupply`, and operator-entered items against chain
    /// events by reference.
    pub async fn reconcile(&self, block: u64) -> Result<Reconciliation> {
        if block >= self.next_block {
            return Err(Error::Config(format!(
                "block {block} is not indexed yet (next block {})",
                self.next_block
            )));
        }
        let mut out = Reconciliation {
            block,
            ..Reconciliation::default()
        };
        let currency = self.currency;
        let token = self.settlement_token;
        let bookings = store::bookings(&self.ledger).await?;
        let counted = Counted::new(&bookings, block);
        for c in store::contracts_at(&self.ledger, block).await? {
            let property = c.property.clone().unwrap_or_default();
            let (code, what) = match c.kind {
                ContractKind::Shares => {
                    let table = cap_table(&self.ledger, c.address, block).await?;
                    out.cap_tables
                        .extend(check_cap_table(&self.source, &table).await?);
                    continue;
                }
                ContractKind::Treasury => (codes::TREASURY_CASH, "treasury cash"),
                ContractKind::Distributor => (codes::DISTRIBUTOR_CASH, "distributor cash"),
                _ => continue,
            };
            let books = match self.chart_account(&property, code).await? {
                Some(account) => self.book_balance(account, &counted).await?,
                None => Decimal::ZERO,
            };
            let raw = self
                .source()
                .call(
                    block,
                    token,
                    TestStablecoin::balanceOfCall { account: c.address }
                        .abi_encode()
                        .into(),
                )
                .await?;
            let on_chain = TestStablecoin::balanceOfCall::abi_decode_returns(&raw)
                .map_err(|e| Error::BadChainData(format!("balanceOf: {e}")))?;
            let chain = Amount::from_token_units(on_chain, self.token_decimals, currency)?.value();
            out.balances.push(BalanceCheck {
                property,
                what: what.to_owned(),
                books,
                chain,
            });
        }

        // Items by reference: chain events booked up to the block, against operator entries.
        let referenced: Vec<(String, IdempotencyKey)> = bookings
            .iter()
            .filter(|b| b.block <= block && b.status != BookingStatus::Retracted)
            .filter_map(|b| {
                let key = IdempotencyKey::parse(&b.key).ok()?;
                Some((b.reference.clone()?, key))
            })
            .collect();
        let keys: Vec<IdempotencyKey> = referenced.iter().map(|(_, k)| k.clone()).collect();
        let amounts: HashMap<IdempotencyKey, Decimal> = self
            .ledger
            .entries()
            .summaries(&keys)
            .await?
            .into_iter()
            .map(|e| (e.key, e.amount.value()))
            .collect();
        let mut chain_items: BTreeMap<String, Item> = BTreeMap::new();
        for (reference, key) in referenced {
            let Some(amount) = amounts.get(&key) else {
                continue;
            };
            chain_items.insert(
                reference.clone(),
                Item {
                    reference,
                    entry_key: key.to_string(),
                    amount: *amount,
                },
            );
        }
        let mut book_items: HashMap<String, Item> = HashMap::new();
        for e in self.ledger.entries().with_operator_reference("0x").await? {
            let Source::Operator(reference) = &e.source else {
                continue;
            };
            let reference = reference.to_ascii_lowercase();
            if e.status == EntryStatus::Voided || !is_reference(&reference) {
                continue;
            }
            book_items.insert(
                reference.clone(),
                Item {
                    reference,
                    entry_key: e.key.to_string(),
                    amount: e.amount.value(),
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

    /// An account's balance (debits less credits, posted and pending) from the entries that
    /// count at the reconciled block: those booked from events up to it, and operator-entered
    /// ones (not the reversals the indexer makes when a reorg removes an event).
    async fn book_balance(&self, account: AccountId, counted: &Counted) -> Result<Decimal> {
        let mut total = Decimal::ZERO;
        for p in self.ledger.entries().postings_of(account).await? {
            if p.status == EntryStatus::Voided || !counted.counts(p.key.as_str()) {
                continue;
            }
            match p.direction {
                Direction::Debit => total += p.amount.value(),
                Direction::Credit => total -= p.amount.value(),
            }
        }
        Ok(total)
    }
}

/// Which entries count at a reconciled block.
struct Counted {
    /// Keys of bookings up to the block that are not retracted.
    booked: HashSet<String>,
    /// Keys of every booking, and of the reversals of retracted ones.
    indexer_keys: HashSet<String>,
}

impl Counted {
    fn new(bookings: &[Booking], block: u64) -> Self {
        let booked = bookings
            .iter()
            .filter(|b| b.block <= block && b.status != BookingStatus::Retracted)
            .map(|b| b.key.clone())
            .collect();
        let indexer_keys = bookings
            .iter()
            .flat_map(|b| [b.key.clone(), retraction_key(&b.key)])
            .collect();
        Counted {
            booked,
            indexer_keys,
        }
    }

    fn counts(&self, key: &str) -> bool {
        self.booked.contains(key) || !self.indexer_keys.contains(key)
    }
}
