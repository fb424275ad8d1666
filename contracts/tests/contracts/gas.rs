//! Gas of a compliant share transfer next to a plain ERC-20 transfer, both to an existing holder.
//! Printed for the record; only success is asserted, since gas figures move with the compiler.

use crate::support::{Chain, GB, TestResult, US, mined, shares, usd, within};
use propledger_contracts::TestStablecoin;

#[tokio::test]
async fn plain_and_compliant_transfer_gas_side_by_side() -> TestResult {
    within(async {
        let chain = Chain::start().await?;
        let (platform, property) = chain.deploy().await?;
        let (alice, bob) = (chain.alice, chain.bob);
        chain.onboard(&platform, alice, "alice", US, true, 10_000).await?;
        chain.onboard(&platform, bob, "bob", GB, false, 100_000).await?;
        // Both hold shares and dollars afterwards, so each transfer goes to an existing holder; bob's
        // purchase reaches the soft cap, so the shares are settled and may move.
        chain.buy(&platform, &property, alice, shares(100)).await?;
        chain.buy(&platform, &property, bob, shares(1_900)).await?;

        let usd_token = TestStablecoin::new(platform.settlement_token, &chain.provider);
        let plain = mined(usd_token.transfer(bob, usd(10)).from(alice).send().await?.get_receipt().await?)?;
        let token = chain.shares(&property);
        let compliant = mined(token.transfer(bob, shares(10)).from(alice).send().await?.get_receipt().await?)?;

        let (plain_gas, compliant_gas) = (plain.gas_used, compliant.gas_used);
        println!(
            "gas: TestStablecoin.transfer {plain_gas}, PropertyShares.transfer {compliant_gas}, ratio {:.2}",
            compliant_gas as f64 / plain_gas as f64
        );
        assert_eq!(token.balanceOf(bob).call().await?, shares(1_910));
        Ok(())
    })
    .await
}
