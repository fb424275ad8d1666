//! Account balances: posted and pending totals per side, and the balance-limit rule.

use super::account::{AccountType, BalanceLimit};
use super::entry::EntryStatus;
use super::ids::AccountId;
use super::money::{Amount, Currency, Direction};
use crate::error::Result;

/// Debit and credit totals of one account, posted and pending kept apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Totals {
    /// Sum of posted debits.
    pub posted_debits: Amount,
    /// Sum of posted credits.
    pub posted_credits: Amount,
    /// Sum of pending debits.
    pub pending_debits: Amount,
    /// Sum of pending credits.
    pub pending_credits: Amount,
}

impl Totals {
    /// All zero.
    pub fn zero(currency: Currency) -> Self {
        let z = Amount::zero(currency);
        Totals {
            posted_debits: z,
            posted_credits: z,
            pending_debits: z,
            pending_credits: z,
        }
    }

    /// Adds a posting of an entry with `status` (voided postings count nowhere).
    pub fn add(&mut self, direction: Direction, amount: Amount, status: EntryStatus) -> Result<()> {
        let slot = match (status, direction) {
            (EntryStatus::Posted, Direction::Debit) => &mut self.posted_debits,
            (EntryStatus::Posted, Direction::Credit) => &mut self.posted_credits,
            (EntryStatus::Pending, Direction::Debit) => &mut self.pending_debits,
            (EntryStatus::Pending, Direction::Credit) => &mut self.pending_credits,
            (EntryStatus::Voided, _) => return Ok(()),
        };
        *slot = slot.checked_add(amount)?;
        Ok(())
    }

    /// Moves a pending posting to `to` (posted, or voided: dropped).
    pub fn settle(&mut self, direction: Direction, amount: Amount, to: EntryStatus) -> Result<()> {
        let pending = match direction {
            Direction::Debit => &mut self.pending_debits,
            Direction::Credit => &mut self.pending_credits,
        };
        *pending = pending.checked_sub(amount)?;
        self.add(direction, amount, to)
    }

    /// Net posted balance on `side` (debits minus credits for a debit-side account).
    pub fn posted(&self, side: Direction) -> Result<Amount> {
        net(side, self.posted_debits, self.posted_credits)
    }

    /// Net pending change on `side`.
    pub fn pending(&self, side: Direction) -> Result<Amount> {
        net(side, self.pending_debits, self.pending_credits)
    }

    /// The balance the limit applies to: posted, less pending postings that reduce it.
    pub fn available(&self, side: Direction) -> Result<Amount> {
        let reducing = match side {
            Direction::Debit => self.pending_credits,
            Direction::Credit => self.pending_debits,
        };
        self.posted(side)?.checked_sub(reducing)
    }

    /// Whether these totals satisfy `limit` for an account carried on `side`.
    pub fn within(&self, limit: BalanceLimit, side: Direction) -> Result<bool> {
        Ok(match limit {
            BalanceLimit::Unlimited => true,
            BalanceLimit::NonNegative => self.available(side)?.minor_units() >= 0,
        })
    }
}

fn net(side: Direction, debits: Amount, credits: Amount) -> Result<Amount> {
    match side {
        Direction::Debit => debits.checked_sub(credits),
        Direction::Credit => credits.checked_sub(debits),
    }
}

/// The balance of one account: posted and pending reported separately.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AccountBalance {
    /// The account.
    pub account: AccountId,
    /// Its type, which decides the side balances are shown on.
    pub account_type: AccountType,
    /// The totals.
    pub totals: Totals,
}

impl AccountBalance {
    /// Posted balance on the account's normal side (positive for a funded cash account).
    pub fn posted(&self) -> Result<Amount> {
        self.totals.posted(self.account_type.normal_side())
    }

    /// Net pending change on the normal side.
    pub fn pending(&self) -> Result<Amount> {
        self.totals.pending(self.account_type.normal_side())
    }

    /// Posted plus pending.
    pub fn with_pending(&self) -> Result<Amount> {
        self.posted()?.checked_add(self.pending()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD", 2).unwrap()
    }

    fn amt(s: &str) -> Amount {
        Amount::parse(s, usd()).unwrap()
    }

    #[test]
    fn posted_and_pending_are_kept_apart() {
        let mut t = Totals::zero(usd());
        t.add(Direction::Debit, amt("100.00"), EntryStatus::Posted)
            .unwrap();
        t.add(Direction::Credit, amt("30.00"), EntryStatus::Pending)
            .unwrap();
        t.add(Direction::Debit, amt("5.00"), EntryStatus::Pending)
            .unwrap();
        t.add(Direction::Debit, amt("999.00"), EntryStatus::Voided)
            .unwrap();
        assert_eq!(t.posted(Direction::Debit).unwrap(), amt("100.00"));
        assert_eq!(t.pending(Direction::Debit).unwrap(), amt("-25.00"));
        // Pending credits reduce what is available; pending debits do not add to it yet.
        assert_eq!(t.available(Direction::Debit).unwrap(), amt("70.00"));
        assert_eq!(t.posted(Direction::Credit).unwrap(), amt("-100.00"));
    }

    #[test]
    fn settling_moves_pending_to_posted_or_drops_it() {
        let mut t = Totals::zero(usd());
        t.add(Direction::Credit, amt("30.00"), EntryStatus::Pending)
            .unwrap();
        t.add(Direction::Debit, amt("10.00"), EntryStatus::Pending)
            .unwrap();
        t.settle(Direction::Credit, amt("30.00"), EntryStatus::Posted)
            .unwrap();
        t.settle(Direction::Debit, amt("10.00"), EntryStatus::Voided)
            .unwrap();
        assert_eq!(t.pending_debits, amt("0.00"));
        assert_eq!(t.pending_credits, amt("0.00"));
        assert_eq!(t.posted_credits, amt("30.00"));
        assert_eq!(t.posted_debits, amt("0.00"));
    }

    #[test]
    fn non_negative_limit_uses_available() {
        let mut t = Totals::zero(usd());
        t.add(Direction::Debit, amt("10.00"), EntryStatus::Posted)
            .unwrap();
        assert!(
            t.within(BalanceLimit::NonNegative, Direction::Debit)
                .unwrap()
        );
        t.add(Direction::Credit, amt("10.01"), EntryStatus::Pending)
            .unwrap();
        assert!(
            !t.within(BalanceLimit::NonNegative, Direction::Debit)
                .unwrap()
        );
        assert!(t.within(BalanceLimit::Unlimited, Direction::Debit).unwrap());
        // A credit-side account (a liability) is checked on its own side.
        let mut l = Totals::zero(usd());
        l.add(Direction::Debit, amt("1.00"), EntryStatus::Posted)
            .unwrap();
        assert!(
            !l.within(BalanceLimit::NonNegative, Direction::Credit)
                .unwrap()
        );
    }
}
