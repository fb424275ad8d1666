//! A deal's pipeline: its statuses and the moves between them. Pure rules, no storage.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a deal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    /// Found; not looked at yet.
    Lead,
    /// Being analyzed (comparables, repairs, returns).
    Analyzing,
    /// An offer was made to the seller.
    OfferMade,
    /// An offer was accepted; closing is ahead.
    UnderContract,
    /// Closed: the property is owned.
    Acquired,
    /// Being rehabilitated.
    Rehab,
    /// Listed for sale.
    Listed,
    /// Rented and stabilized (a hold).
    Stabilized,
    /// Sold, or the contract assigned (a wholesale): the deal is over.
    Exited,
    /// Abandoned before closing.
    Dead,
}

impl DealStatus {
    /// Every status, in pipeline order.
    pub const ALL: [DealStatus; 10] = [
        DealStatus::Lead,
        DealStatus::Analyzing,
        DealStatus::OfferMade,
        DealStatus::UnderContract,
        DealStatus::Acquired,
        DealStatus::Rehab,
        DealStatus::Listed,
        DealStatus::Stabilized,
        DealStatus::Exited,
        DealStatus::Dead,
    ];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DealStatus::Lead => "lead",
            DealStatus::Analyzing => "analyzing",
            DealStatus::OfferMade => "offer_made",
            DealStatus::UnderContract => "under_contract",
            DealStatus::Acquired => "acquired",
            DealStatus::Rehab => "rehab",
            DealStatus::Listed => "listed",
            DealStatus::Stabilized => "stabilized",
            DealStatus::Exited => "exited",
            DealStatus::Dead => "dead",
        }
    }

    /// From its stored text.
    pub fn parse(text: &str) -> Option<DealStatus> {
        DealStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The statuses a deal may move to from this one. Before closing a deal may die; an offer
    /// turned down goes back to analysis; a wholesale exits from under contract (the contract is
    /// assigned); once acquired, a deal is rehabbed, listed or held, and ends sold. Exited and
    /// dead are final.
    pub fn next(self) -> &'static [DealStatus] {
        use DealStatus::*;
        match self {
            Lead => &[Analyzing, Dead],
            Analyzing => &[OfferMade, Dead],
            OfferMade => &[UnderContract, Analyzing, Dead],
            UnderContract => &[Acquired, Exited, Dead],
            Acquired => &[Rehab, Listed, Stabilized],
            Rehab => &[Listed, Stabilized],
            Listed => &[Stabilized, Exited],
            Stabilized => &[Listed, Exited],
            Exited | Dead => &[],
        }
    }

    /// Whether a deal may move from this status to `to`.
    pub fn may_move_to(self, to: DealStatus) -> bool {
        self.next().contains(&to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status can be reached from a lead, and every deal can end.
    #[test]
    fn the_pipeline_is_connected_and_ends() {
        let mut seen = vec![DealStatus::Lead];
        let mut i = 0;
        while i < seen.len() {
            for n in seen[i].next() {
                if !seen.contains(n) {
                    seen.push(*n);
                }
            }
            i += 1;
        }
        assert_eq!(seen.len(), DealStatus::ALL.len());
        for s in DealStatus::ALL {
            assert!(!s.may_move_to(s), "{s:?} does not move to itself");
            assert_eq!(DealStatus::parse(s.as_str()), Some(s));
            let ends = s.next().is_empty()
                || s.next().iter().any(|n| {
                    matches!(n, DealStatus::Exited | DealStatus::Dead) || !n.next().is_empty()
                });
            assert!(ends);
        }
        assert!(
            !DealStatus::Acquired.may_move_to(DealStatus::Dead),
            "an owned property is sold, not dropped"
        );
    }
}
