//! The deployer's role split, the delayed admin handover, and the settlement token check.

use crate::support::{Chain, TestResult, US, mined, shares, usd, within};
use alloy::primitives::{Address, B256};
use propledger_contracts::{
    Distributor, Error, IdentityRegistry, PropertyDeed, PropertyDirectory, PropertyLauncher,
    PropertyShares, PropertyTreasury, ShareCompliance, ShareOffering, ShareSettlement,
    TestStablecoin,
    deploy::{DEFAULT_TRADING_FEE_BPS, Roles, SettlementToken, deploy_platform},
};

#[tokio::test]
async fn each_role_goes_to_its_own_account() -> TestResult {
    within(async {
        let chain = Chain::start().await?;
        let [agent, treasurer, registrar, rules] = chain.operators;
        let roles = Roles {
            admin: chain.admin,
            agent,
            treasurer,
            registrar,
            rules,
        };
        for account in chain.operators {
            chain.fund_gas(account).await?;
        }
        let (platform, property) = chain.deploy_with(roles).await?;
        assert_eq!(platform.roles, roles);
        assert_eq!(platform.admin(), chain.admin);

        let p = &chain.provider;
        let registry = IdentityRegistry::new(platform.identity_registry.address, p);
        let compliance = ShareCompliance::new(property.compliance.address, p);
        let token = PropertyShares::new(property.shares.address, p);
        let treasury = PropertyTreasury::new(property.treasury.address, p);
        let offering = ShareOffering::new(property.offering.address, p);
        let distributor = Distributor::new(property.distributor.address, p);
        let deed = PropertyDeed::new(platform.deed.address, p);
        let directory = PropertyDirectory::new(platform.directory.address, p);
        let launcher = PropertyLauncher::new(platform.launcher.address, p);

        // Each operational role sits with its account, and only there.
        assert!(
            registry
                .hasRole(registry.REGISTRAR_ROLE().call().await?, registrar)
                .call()
                .await?
        );
        assert!(
            !registry
                .hasRole(registry.REGISTRAR_ROLE().call().await?, chain.admin)
                .call()
                .await?
        );
        assert!(
            compliance
                .hasRole(compliance.RULES_ADMIN_ROLE().call().await?, rules)
                .call()
                .await?
        );
        assert!(
            !compliance
                .hasRole(compliance.RULES_ADMIN_ROLE().call().await?, chain.admin)
                .call()
                .await?
        );
        assert!(
            token
                .hasRole(token.AGENT_ROLE().call().await?, agent)
                .call()
                .await?
        );
        assert!(
            !token
                .hasRole(token.AGENT_ROLE().call().await?, chain.admin)
                .call()
                .await?
        );
        assert!(
            treasury
                .hasRole(treasury.TREASURER_ROLE().call().await?, treasurer)
                .call()
                .await?
        );
        assert!(
            !treasury
                .hasRole(treasury.TREASURER_ROLE().call().await?, chain.admin)
                .call()
                .await?
        );
        assert!(
            offering
                .hasRole(offering.OPERATOR_ROLE().call().await?, treasurer)
                .call()
                .await?
        );
        assert_eq!(
            treasury.distributor().call().await?,
            property.distributor.address
        );
        // The share market: the agent lists tokens and approves trades, the admin sets the fee
        // and receives it.
        let market = ShareSettlement::new(platform.settlement.expect("a market").address, p);
        assert!(
            market
                .hasRole(market.AGENT_ROLE().call().await?, agent)
                .call()
                .await?
        );
        assert!(
            !market
                .hasRole(market.AGENT_ROLE().call().await?, chain.admin)
                .call()
                .await?
        );
        assert!(
            market
                .hasRole(market.FEE_ADMIN_ROLE().call().await?, chain.admin)
                .call()
                .await?
        );
        assert_eq!(market.feeRecipient().call().await?, chain.admin);
        assert_eq!(market.feeBps().call().await?, DEFAULT_TRADING_FEE_BPS);
        assert_eq!(
            market.settlementToken().call().await?,
            platform.settlement_token
        );

        // One admin everywhere, handed over in two steps after two days; no operator holds it.
        let admins = [
            registry.defaultAdmin().call().await?,
            compliance.defaultAdmin().call().await?,
            token.defaultAdmin().call().await?,
            treasury.defaultAdmin().call().await?,
            offering.defaultAdmin().call().await?,
            distributor.defaultAdmin().call().await?,
            deed.defaultAdmin().call().await?,
            directory.defaultAdmin().call().await?,
            launcher.defaultAdmin().call().await?,
            market.defaultAdmin().call().await?,
        ];
        assert!(admins.iter().all(|a| *a == chain.admin), "{admins:?}");
        assert_eq!(token.defaultAdminDelay().call().await?, 2 * 24 * 3600);
        for account in chain.operators {
            assert!(!token.hasRole(B256::ZERO, account).call().await?);
            assert!(!treasury.hasRole(B256::ZERO, account).call().await?);
            assert!(!launcher.hasRole(B256::ZERO, account).call().await?);
        }
        // The launcher registers on the deed and the directory, and keeps nothing of a property.
        let launcher_address = platform.launcher.address;
        assert!(
            deed.hasRole(deed.REGISTRAR_ROLE().call().await?, launcher_address)
                .call()
                .await?
        );
        assert!(
            directory
                .hasRole(directory.REGISTRAR_ROLE().call().await?, launcher_address)
                .call()
                .await?
        );
        assert!(!token.hasRole(B256::ZERO, launcher_address).call().await?);
        assert!(
            !treasury
                .hasRole(B256::ZERO, launcher_address)
                .call()
                .await?
        );

        // The registrar (not the admin) onboards investors; the agent (not the admin) pauses.
        let refused = registry
            .setInvestor(B256::repeat_byte(7), US, true, u64::MAX)
            .from(chain.admin)
            .call()
            .await;
        assert!(refused.is_err(), "the admin is not the registrar");
        chain
            .onboard(&platform, chain.alice, "alice", US, true, 10_000)
            .await?;
        chain
            .buy(&platform, &property, chain.alice, shares(10))
            .await?;
        assert!(token.pause().from(chain.admin).call().await.is_err());
        mined(
            token
                .pause()
                .from(agent)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        assert!(token.paused().call().await?);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_existing_settlement_token_is_checked_before_use() -> TestResult {
    within(async {
        let chain = Chain::start().await?;
        // A plain ERC-20 already on chain, of which the admin holds nothing yet.
        let receipt = TestStablecoin::deploy_builder(&chain.provider, chain.funder)
            .from(chain.funder)
            .send()
            .await?
            .get_receipt()
            .await?;
        let token = receipt.contract_address.ok_or("no token address")?;
        let roles = Roles::single(chain.admin);
        let err = deploy_platform(&chain.provider, roles, SettlementToken::Existing(token))
            .await
            .err()
            .ok_or("a token the admin cannot move was accepted")?;
        match &err {
            Error::UnsupportedSettlementToken { token: t, reason } => {
                assert_eq!(*t, token);
                assert!(reason.contains("holds none"), "{reason}");
            }
            other => return Err(format!("unexpected error: {other}").into()),
        }

        // With one base unit the check runs, the unit comes back and the platform is deployed.
        let erc20 = TestStablecoin::new(token, &chain.provider);
        mined(
            erc20
                .mint(chain.admin, usd(1))
                .from(chain.funder)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        let platform =
            deploy_platform(&chain.provider, roles, SettlementToken::Existing(token)).await?;
        assert_eq!(platform.settlement_token, token);
        assert_eq!(platform.test_stablecoin, None);
        assert_eq!(erc20.balanceOf(chain.admin).call().await?, usd(1));
        assert_eq!(
            erc20.balanceOf(platform.directory.address).call().await?,
            usd(0)
        );

        // A zero role is refused before anything is sent.
        let mut bad = roles;
        bad.treasurer = Address::ZERO;
        let err = deploy_platform(&chain.provider, bad, SettlementToken::Existing(token))
            .await
            .err()
            .ok_or("a zero treasurer was accepted")?;
        assert!(matches!(err, Error::ZeroRole("treasurer")), "{err}");
        Ok(())
    })
    .await
}
