//! Deployment, two purchases, and the events they leave behind.

use crate::support::{Chain, GB, TestResult, US, parcel_id, shares, usd, within};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use propledger_contracts::{
    Distributor, PropertyDeed, PropertyDirectory, PropertyShares, PropertyTreasury, ShareOffering,
    TestStablecoin,
};

/// Every `E` event logged by `address` since `from_block`, decoded.
async fn logs<E: SolEvent>(chain: &Chain, address: Address, from_block: u64) -> TestResult<Vec<E>> {
    let filter = Filter::new()
        .address(address)
        .event_signature(E::SIGNATURE_HASH)
        .from_block(from_block);
    let mut out = Vec::new();
    for log in chain.provider.get_logs(&filter).await? {
        out.push(log.log_decode::<E>()?.inner.data);
    }
    Ok(out)
}

#[tokio::test]
async fn two_investors_buy_shares_and_the_events_decode() -> TestResult {
    within(async {
        let chain = Chain::start().await?;
        let (platform, property) = chain.deploy().await?;
        let (alice, bob) = (chain.alice, chain.bob);

        // Block numbers are what the indexer backfills from: the platform first, then the
        // property's one launch block, which holds every contract of it.
        assert!(platform.start_block() >= 1);
        assert!(platform.launcher.block < property.block);
        assert_eq!(property.shares.block, property.block);
        assert_eq!(property.offering.block, property.block);
        assert_eq!(property.start_block(), property.block);

        let alice_no = chain
            .onboard(&platform, alice, "alice", US, true, 10_000)
            .await?;
        let bob_no = chain
            .onboard(&platform, bob, "bob", GB, false, 20_000)
            .await?;
        assert_eq!((alice_no, bob_no), (1, 2));

        let alice_receipt = chain.buy(&platform, &property, alice, shares(100)).await?;
        let bob_receipt = chain.buy(&platform, &property, bob, shares(250)).await?;
        let (alice_cost, bob_cost) = (usd(5_000), usd(12_500)); // 50 tUSD per share

        // SharesPurchased, from the purchase receipts.
        let bought: ShareOffering::SharesPurchased =
            crate::support::decode_from(&alice_receipt, property.offering.address)?;
        assert_eq!(bought.buyer, alice);
        assert_eq!(bought.investorNo, alice_no);
        assert_eq!(bought.shares, shares(100));
        assert_eq!(bought.cost, alice_cost);
        assert_eq!(bought.pricePerShare, usd(50));
        let bought: ShareOffering::SharesPurchased =
            crate::support::decode_from(&bob_receipt, property.offering.address)?;
        assert_eq!((bought.buyer, bought.investorNo), (bob, bob_no));
        assert_eq!((bought.shares, bought.cost), (shares(250), bob_cost));

        // Issued and Transfer, from get_logs as the indexer reads them.
        let issued =
            logs::<PropertyShares::Issued>(&chain, property.shares.address, property.shares.block)
                .await?;
        assert_eq!(issued.len(), 2);
        assert_eq!(
            (issued[0].to, issued[0].investorNo, issued[0].amount),
            (alice, alice_no, shares(100))
        );
        assert_eq!(
            (issued[1].to, issued[1].investorNo, issued[1].amount),
            (bob, bob_no, shares(250))
        );
        let transfers = logs::<PropertyShares::Transfer>(
            &chain,
            property.shares.address,
            property.shares.block,
        )
        .await?;
        assert_eq!(transfers.len(), 2);
        assert_eq!(
            (transfers[0].from, transfers[0].to, transfers[0].value),
            (Address::ZERO, alice, shares(100))
        );
        assert_eq!(
            (transfers[1].from, transfers[1].to, transfers[1].value),
            (Address::ZERO, bob, shares(250))
        );

        // Treasury deposits: kind 1 (offering proceeds), ref = the offering's address.
        let deposits = logs::<PropertyTreasury::Deposited>(
            &chain,
            property.treasury.address,
            property.treasury.block,
        )
        .await?;
        let offering_ref = B256::left_padding_from(property.offering.address.as_slice());
        assert_eq!(deposits.len(), 2);
        assert_eq!((deposits[0].from, deposits[0].amount), (alice, alice_cost));
        assert_eq!((deposits[1].from, deposits[1].amount), (bob, bob_cost));
        for d in &deposits {
            assert_eq!(d.kind, 1);
            assert_eq!(d.r#ref, offering_ref);
        }

        // The deed and the directory entries.
        let minted =
            logs::<PropertyDeed::DeedMinted>(&chain, platform.deed.address, platform.start_block())
                .await?;
        assert_eq!(minted.len(), 1);
        assert_eq!(minted[0].tokenId, property.property_id);
        assert_eq!(minted[0].custodian, chain.admin);
        assert_eq!(minted[0].parcelId, parcel_id());
        assert_eq!(minted[0].metadataHash, keccak256("metadata"));
        assert_eq!(minted[0].uri, "ipfs://deed/1");
        let registered = logs::<PropertyDirectory::PropertyRegistered>(
            &chain,
            platform.directory.address,
            platform.start_block(),
        )
        .await?;
        assert_eq!(registered.len(), 1);
        let r = &registered[0];
        assert_eq!(r.propertyId, property.property_id);
        assert_eq!(
            (r.shares, r.compliance, r.treasury, r.distributor),
            (
                property.shares.address,
                property.compliance.address,
                property.treasury.address,
                property.distributor.address
            )
        );
        let offerings = logs::<PropertyDirectory::OfferingRegistered>(
            &chain,
            platform.directory.address,
            property.block,
        )
        .await?;
        assert_eq!(offerings.len(), 1);
        assert_eq!(
            (offerings[0].propertyId, offerings[0].offering),
            (property.property_id, property.offering.address)
        );

        // Balances and totals.
        let share_token = chain.shares(&property);
        assert_eq!(share_token.balanceOf(alice).call().await?, shares(100));
        assert_eq!(share_token.balanceOf(bob).call().await?, shares(250));
        assert_eq!(share_token.totalSupply().call().await?, shares(350));
        assert_eq!(share_token.investorCount().call().await?, 2);
        assert_eq!(
            share_token.investorBalance(bob_no).call().await?,
            shares(250)
        );
        let usd_token = TestStablecoin::new(platform.settlement_token, &chain.provider);
        assert_eq!(
            usd_token.balanceOf(alice).call().await?,
            usd(10_000) - alice_cost
        );
        assert_eq!(
            usd_token.balanceOf(bob).call().await?,
            usd(20_000) - bob_cost
        );
        assert_eq!(
            usd_token
                .balanceOf(property.treasury.address)
                .call()
                .await?,
            alice_cost + bob_cost
        );
        let offering = ShareOffering::new(property.offering.address, &chain.provider);
        assert_eq!(offering.sharesSold().call().await?, shares(350));
        assert_eq!(offering.raised().call().await?, alice_cost + bob_cost);
        let treasury = PropertyTreasury::new(property.treasury.address, &chain.provider);
        let totals = treasury.totals().call().await?;
        assert_eq!(totals.deposits, alice_cost + bob_cost);
        assert_eq!(totals.escrowed, alice_cost + bob_cost); // below the soft cap

        // The wiring of a launch, as Fixture.sol has it.
        let minter = share_token.MINTER_ROLE().call().await?;
        assert!(
            share_token
                .hasRole(minter, property.offering.address)
                .call()
                .await?
        );
        let checkpoint = share_token.CHECKPOINT_ROLE().call().await?;
        assert!(
            share_token
                .hasRole(checkpoint, property.distributor.address)
                .call()
                .await?
        );
        let offering_role = treasury.OFFERING_ROLE().call().await?;
        assert!(
            treasury
                .hasRole(offering_role, property.offering.address)
                .call()
                .await?
        );
        let distributor = Distributor::new(property.distributor.address, &chain.provider);
        let funder = distributor.FUNDER_ROLE().call().await?;
        assert!(
            distributor
                .hasRole(funder, property.treasury.address)
                .call()
                .await?
        );
        let directory = PropertyDirectory::new(platform.directory.address, &chain.provider);
        let entry = directory.property(property.property_id).call().await?;
        assert_eq!(entry.shares, property.shares.address);
        assert_eq!(entry.offerings, vec![property.offering.address]);
        assert_eq!(
            directory.propertyIds().call().await?,
            vec![property.property_id]
        );
        assert_eq!(
            directory.settlementToken().call().await?,
            platform.settlement_token
        );
        assert_eq!(share_token.propertyId().call().await?, property.property_id);
        assert_eq!(property.property_id, U256::from(1));
        Ok(())
    })
    .await
}
