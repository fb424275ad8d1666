//! The pure core: money, accounts, entries, balances and hashes. No IO here; everything is
//! checked by unit and property tests without a database.

pub mod account;
pub mod balance;
pub mod chart;
pub mod entry;
pub mod hash;
pub mod ids;
pub mod money;

pub use account::{Account, AccountType, BalanceLimit, Dimensions, NewAccount};
pub use balance::{AccountBalance, Totals};
pub use entry::{
    ChainLink, Entry, EntryBuilder, EntryDraft, EntryStatus, Finality, Posting, Receipt,
};
pub use hash::{EntryHash, chain_hash};
pub use ids::{AccountCode, AccountId, DimValue, EntryId, IdempotencyKey, Source};
pub use money::{Amount, Currency, CurrencyCode, Direction, MAX_SCALE};
