//! Restricted transfers: the revert, and `canTransfer`'s reason codes as the Rust enum.

use crate::support::{Chain, GB, TestResult, US, shares, within};
use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use propledger_contracts::{ReasonCode, ShareCompliance};

#[tokio::test]
async fn restricted_transfer_reverts_with_its_reason_code() -> TestResult {
    within(async {
        let chain = Chain::start().await?;
        let (platform, property) = chain.deploy().await?;
        let (alice, bob) = (chain.alice, chain.bob);
        chain
            .onboard(&platform, alice, "alice", US, true, 10_000)
            .await?;
        chain
            .onboard(&platform, bob, "bob", GB, false, 100_000)
            .await?;
        chain.buy(&platform, &property, alice, shares(100)).await?;
        let token = chain.shares(&property);
        let mallory: Address = PrivateKeySigner::random().address(); // never registered

        let code = |raw: u8| ReasonCode::try_from(raw);
        // Below the soft cap the shares bought are unsettled: they stay with their investor.
        assert_eq!(
            code(token.canTransfer(alice, bob, shares(10)).call().await?)?,
            ReasonCode::OfferingUnsettled
        );
        // Bob's purchase reaches the $100,000 soft cap and settles every share.
        chain.buy(&platform, &property, bob, shares(1_900)).await?;
        assert_eq!(
            code(token.canTransfer(alice, bob, shares(10)).call().await?)?,
            ReasonCode::Allowed
        );
        assert_eq!(
            code(token.canTransfer(alice, mallory, shares(10)).call().await?)?,
            ReasonCode::RecipientNotVerified
        );
        assert_eq!(
            code(token.canTransfer(alice, bob, shares(1_000)).call().await?)?,
            ReasonCode::InsufficientBalance
        );
        assert_eq!(
            token
                .messageForTransferRestriction(ReasonCode::RecipientNotVerified.code())
                .call()
                .await?,
            ReasonCode::RecipientNotVerified.message()
        );

        // The transfer itself reverts with TransferRestricted(4): first when the node estimates it...
        let err = token
            .transfer(mallory, shares(10))
            .from(alice)
            .send()
            .await
            .err()
            .ok_or("transfer was accepted")?;
        assert_eq!(
            ReasonCode::from_revert(&err).transpose()?,
            Some(ReasonCode::RecipientNotVerified)
        );
        // ...and on chain when sent regardless.
        let receipt = token
            .transfer(mallory, shares(10))
            .from(alice)
            .gas(300_000)
            .send()
            .await?
            .get_receipt()
            .await?;
        assert!(
            !receipt.status(),
            "the restricted transfer was mined as a success"
        );
        assert_eq!(token.balanceOf(alice).call().await?, shares(100));
        assert_eq!(token.balanceOf(mallory).call().await?, shares(0));

        // A compliance rule: a lock-up blocks transfers between investors with code 9.
        let compliance = ShareCompliance::new(property.compliance.address, &chain.provider);
        let mut rules = compliance.rules().call().await?;
        rules.lockupUntil = chain.now().await? + 3600;
        crate::support::mined(
            compliance
                .setRules(rules)
                .from(chain.admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        assert_eq!(
            code(token.canTransfer(alice, bob, shares(10)).call().await?)?,
            ReasonCode::LockupActive
        );
        let err = token
            .transfer(bob, shares(10))
            .from(alice)
            .call()
            .await
            .err()
            .ok_or("transfer was allowed")?;
        assert_eq!(
            ReasonCode::from_revert(&err).transpose()?,
            Some(ReasonCode::LockupActive)
        );

        // Pausing outranks everything.
        crate::support::mined(
            token
                .pause()
                .from(chain.admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        assert_eq!(
            code(token.canTransfer(alice, bob, shares(10)).call().await?)?,
            ReasonCode::Paused
        );
        Ok(())
    })
    .await
}
