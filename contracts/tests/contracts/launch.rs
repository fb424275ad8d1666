//! Tokenizing a property in one transaction through the launcher, on anvil and on the embedded
//! chain: the call an outbox sends, the addresses decoded from its receipt, a second launch of
//! the same id refused without changing anything, and the gas next to the same property deployed
//! contract by contract.

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, B256, Log, LogData, U256},
    providers::Provider,
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};
use propledger_contracts::{
    Distributor, Error, OfferingFactory, PropertyDeed, PropertyDirectory, PropertyLauncher,
    PropertyShares, PropertyTreasury, ShareCompliance, ShareOffering, SharesFactory,
    TreasuryFactory,
    deploy::{Platform, Roles, SettlementToken, deploy_platform},
    launch::{
        PropertyParams, RegisteredProperty, decode_launched, launch_call, launch_property,
        launched_from_receipt, registered_property,
    },
};

use crate::support::{Chain, ChainKind, TestResult, mined, property_params, within};

/// A UUID-sized property id, as the API assigns them.
fn uuid_sized_id() -> U256 {
    U256::from(u128::MAX) - U256::from(41u8)
}

/// Everything a launch of `id` may change, to compare before and after a refused one.
#[derive(Debug, PartialEq, Eq)]
struct World {
    deeds: U256,
    property_ids: Vec<U256>,
    factory_nonces: [U256; 3],
    entry: Option<RegisteredProperty>,
    owner: Option<Address>,
}

async fn world(chain: &Chain, platform: &Platform, id: U256) -> TestResult<World> {
    let p = &chain.provider;
    let deed = PropertyDeed::new(platform.deed.address, p);
    let directory = PropertyDirectory::new(platform.directory.address, p);
    let f = &platform.factories;
    Ok(World {
        deeds: deed.totalMinted().call().await?,
        property_ids: directory.propertyIds().call().await?,
        factory_nonces: [
            SharesFactory::new(f.shares.address, p)
                .nonce()
                .call()
                .await?,
            OfferingFactory::new(f.offering.address, p)
                .nonce()
                .call()
                .await?,
            TreasuryFactory::new(f.treasury.address, p)
                .nonce()
                .call()
                .await?,
        ],
        entry: registered_property(p, platform, id).await?,
        owner: deed.ownerOf(id).call().await.ok(),
    })
}

#[tokio::test]
async fn a_launch_is_one_transaction_and_a_relaunch_changes_nothing_on_the_embedded_chain()
-> TestResult {
    within(launch_and_relaunch(ChainKind::Embedded)).await
}

#[tokio::test]
async fn a_launch_is_one_transaction_and_a_relaunch_changes_nothing_on_anvil() -> TestResult {
    within(launch_and_relaunch(ChainKind::Anvil)).await
}

async fn launch_and_relaunch(kind: ChainKind) -> TestResult {
    let chain = Chain::start_on(kind).await?;
    let p = &chain.provider;
    let platform = deploy_platform(
        p,
        Roles::single(chain.admin),
        SettlementToken::DeployTestStablecoin,
    )
    .await?;
    let id = uuid_sized_id();
    let params = property_params(id, chain.now().await?);
    let before = world(&chain, &platform, id).await?;
    assert_eq!(before.entry, None);
    assert_eq!(before.owner, None);

    // The launch as an outbox sends it: one call, signed by the admin, to the launcher.
    let call = launch_call(&platform, &params)?;
    assert_eq!(
        (call.from, call.to),
        (chain.admin, platform.launcher.address)
    );
    let nonce = p.get_transaction_count(chain.admin).await?;
    let receipt = mined(
        p.send_transaction(call.request())
            .await?
            .get_receipt()
            .await?,
    )?;
    assert_eq!(
        p.get_transaction_count(chain.admin).await?,
        nonce + 1,
        "one transaction"
    );
    println!("gas: one launch {}", receipt.gas_used);

    // The receipt names the contracts, and they are what the chain holds.
    let made = launched_from_receipt(&platform, &receipt)?;
    assert_eq!(made.property_id, id);
    assert_eq!(made.custodian, chain.admin);
    assert_eq!(made.tx, receipt.transaction_hash);
    assert_eq!(Some(made.block), receipt.block_number);
    let addresses = [
        made.shares.address,
        made.compliance.address,
        made.treasury.address,
        made.distributor.address,
        made.offering.address,
    ];
    for (i, a) in addresses.iter().enumerate() {
        assert!(!p.get_code_at(*a).await?.is_empty(), "no code at {a}");
        assert!(!addresses[..i].contains(a), "{a} twice");
    }
    let after = world(&chain, &platform, id).await?;
    assert_eq!(
        after.entry,
        Some(RegisteredProperty {
            shares: made.shares.address,
            compliance: made.compliance.address,
            treasury: made.treasury.address,
            distributor: made.distributor.address,
            offerings: vec![made.offering.address],
        })
    );
    assert_eq!(after.owner, Some(chain.admin));
    assert_eq!(after.deeds, before.deeds + U256::from(1));
    assert_eq!(after.property_ids, vec![id]);
    let deed = PropertyDeed::new(platform.deed.address, p);
    assert_eq!(deed.tokenURI(id).call().await?, params.metadata_uri);
    assert_eq!(deed.metadataHash(id).call().await?, params.metadata_hash);
    let shares = PropertyShares::new(made.shares.address, p);
    assert_eq!(shares.propertyId().call().await?, id);
    assert_eq!(shares.name().call().await?, params.name);
    assert!(
        shares
            .hasRole(shares.MINTER_ROLE().call().await?, made.offering.address)
            .call()
            .await?
    );
    let offering = ShareOffering::new(made.offering.address, p);
    assert_eq!(offering.treasury().call().await?, made.treasury.address);
    assert_eq!(
        offering.terms().call().await?.softCap,
        params.terms.soft_cap
    );

    // The decoder reads only the launcher's event.
    let logs: Vec<Log> = receipt
        .inner
        .logs()
        .iter()
        .map(|l| l.inner.clone())
        .collect();
    let decoded = decode_launched(platform.launcher.address, &logs).ok_or("no launch event")?;
    assert_eq!(decoded.offering, made.offering.address);
    assert_eq!(decode_launched(platform.directory.address, &logs), None);

    // The same launch again is refused while estimating: nothing is sent, nothing changes.
    let block = p.get_block_number().await?;
    let nonce = p.get_transaction_count(chain.admin).await?;
    let err = launch_property(p, &platform, &params)
        .await
        .err()
        .ok_or("a second launch of the same id was accepted")?;
    assert!(
        matches!(err, Error::PropertyIdTaken(taken) if taken == id),
        "{err}"
    );
    assert_eq!(p.get_block_number().await?, block);
    assert_eq!(p.get_transaction_count(chain.admin).await?, nonce);
    assert_eq!(world(&chain, &platform, id).await?, after);
    // A call of it reverts with the deed's own reason.
    let args = property_launcher_args(&platform, &params)?;
    let refused = PropertyLauncher::new(platform.launcher.address, p)
        .launch(args.p, args.roles, args.terms)
        .from(chain.admin)
        .call()
        .await
        .err()
        .ok_or("the call succeeded")?;
    let exists = refused
        .as_decoded_error::<PropertyDeed::DeedExists>()
        .ok_or_else(|| format!("not DeedExists: {refused}"))?;
    assert_eq!(exists.tokenId, id);

    // Mined anyway (a sender that does not estimate, or a replay): it reverts on chain, and
    // the deed, the directory and the factories are as they were.
    let replay = p
        .send_transaction(call.request().with_gas_limit(15_000_000))
        .await?
        .get_receipt()
        .await?;
    assert!(!replay.status(), "the replayed launch succeeded");
    assert!(matches!(
        launched_from_receipt(&platform, &replay),
        Err(Error::Reverted { .. })
    ));
    assert_eq!(world(&chain, &platform, id).await?, after);

    // Only the admin launches.
    let mut stranger = call.request();
    stranger.from = Some(chain.funder);
    let err = p.call(stranger).await.err().ok_or("a stranger launched")?;
    let unauthorized = err
        .as_error_resp()
        .and_then(|e| e.as_decoded_interface_error::<PropertyLauncher::PropertyLauncherErrors>())
        .ok_or_else(|| format!("not a launcher error: {err}"))?;
    assert!(matches!(
        unauthorized,
        PropertyLauncher::PropertyLauncherErrors::AccessControlUnauthorizedAccount(e)
            if e.account == chain.funder && e.neededRole == B256::ZERO
    ));

    // A log claiming a launch from another address is not one.
    let forged = Log {
        address: Address::repeat_byte(9),
        data: LogData::new_unchecked(
            vec![
                PropertyLauncher::PropertyLaunched::SIGNATURE_HASH,
                B256::from(id),
                B256::left_padding_from(chain.admin.as_slice()),
            ],
            logs.last().ok_or("no logs")?.data.data.clone(),
        ),
    };
    assert_eq!(decode_launched(platform.launcher.address, [&forged]), None);
    Ok(())
}

/// The launch arguments `launch_call` encodes, read back from its calldata.
fn property_launcher_args(
    platform: &Platform,
    params: &PropertyParams,
) -> TestResult<PropertyLauncher::launchCall> {
    use alloy::sol_types::SolCall;
    let call = launch_call(platform, params)?;
    Ok(PropertyLauncher::launchCall::abi_decode(&call.data)?)
}

/// The property's contracts deployed and wired one transaction at a time (a mint, five
/// deployments, four role grants and two registrations), the way the platform deployed
/// properties before the launcher; returns them (compliance, shares, distributor, treasury,
/// offering) and the gas of every transaction.
async fn contract_by_contract(
    chain: &Chain,
    platform: &Platform,
    params: &PropertyParams,
) -> TestResult<([Address; 5], Vec<u64>)> {
    let p = &chain.provider;
    let admin = chain.admin;
    let roles = platform.roles;
    let usd = platform.settlement_token;
    let id = params.property_id;
    let mut gas = Vec::new();
    let mut sent = |r: TransactionReceipt| -> TestResult<TransactionReceipt> {
        let r = mined(r)?;
        gas.push(r.gas_used);
        Ok(r)
    };
    let created = |r: &TransactionReceipt| r.contract_address.ok_or("no contract address");

    let deed = PropertyDeed::new(platform.deed.address, p);
    sent(
        deed.mintDeed(
            id,
            admin,
            params.parcel_id,
            params.metadata_hash,
            params.metadata_uri.clone(),
        )
        .from(admin)
        .send()
        .await?
        .get_receipt()
        .await?,
    )?;
    let compliance = created(&sent(
        ShareCompliance::deploy_builder(p, admin, roles.rules)
            .from(admin)
            .send()
            .await?
            .get_receipt()
            .await?,
    )?)?;
    let shares = created(&sent(
        PropertyShares::deploy_builder(
            p,
            params.name.clone(),
            params.symbol.clone(),
            id,
            platform.identity_registry.address,
            compliance,
            admin,
            roles.agent,
            Address::ZERO,
            Address::ZERO,
        )
        .from(admin)
        .send()
        .await?
        .get_receipt()
        .await?,
    )?)?;
    let distributor = created(&sent(
        Distributor::deploy_builder(p, shares, usd, admin, Address::ZERO)
            .from(admin)
            .send()
            .await?
            .get_receipt()
            .await?,
    )?)?;
    let treasury = created(&sent(
        PropertyTreasury::deploy_builder(
            p,
            usd,
            id,
            distributor,
            admin,
            roles.treasurer,
            Address::ZERO,
        )
        .from(admin)
        .send()
        .await?
        .get_receipt()
        .await?,
    )?)?;
    let offering = created(&sent(
        ShareOffering::deploy_builder(
            p,
            shares,
            usd,
            treasury,
            params.terms.into(),
            admin,
            roles.treasurer,
        )
        .from(admin)
        .send()
        .await?
        .get_receipt()
        .await?,
    )?)?;
    let shares_c = PropertyShares::new(shares, p);
    let treasury_c = PropertyTreasury::new(treasury, p);
    let distributor_c = Distributor::new(distributor, p);
    let grants = [
        shares_c
            .grantRole(shares_c.MINTER_ROLE().call().await?, offering)
            .from(admin)
            .send()
            .await?,
        shares_c
            .grantRole(shares_c.CHECKPOINT_ROLE().call().await?, distributor)
            .from(admin)
            .send()
            .await?,
        treasury_c
            .grantRole(treasury_c.OFFERING_ROLE().call().await?, offering)
            .from(admin)
            .send()
            .await?,
        distributor_c
            .grantRole(distributor_c.FUNDER_ROLE().call().await?, treasury)
            .from(admin)
            .send()
            .await?,
    ];
    for pending in grants {
        sent(pending.get_receipt().await?)?;
    }
    let directory = PropertyDirectory::new(platform.directory.address, p);
    sent(
        directory
            .registerProperty(id, shares, compliance, treasury, distributor)
            .from(admin)
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    sent(
        directory
            .registerOffering(id, offering)
            .from(admin)
            .send()
            .await?
            .get_receipt()
            .await?,
    )?;
    Ok(([compliance, shares, distributor, treasury, offering], gas))
}

/// The roles the contracts of a property use, the admin role first.
fn role_ids() -> [B256; 9] {
    [
        B256::ZERO,
        alloy::primitives::keccak256("RULES_ADMIN_ROLE"),
        alloy::primitives::keccak256("AGENT_ROLE"),
        alloy::primitives::keccak256("MINTER_ROLE"),
        alloy::primitives::keccak256("CHECKPOINT_ROLE"),
        alloy::primitives::keccak256("TREASURER_ROLE"),
        alloy::primitives::keccak256("OFFERING_ROLE"),
        alloy::primitives::keccak256("FUNDER_ROLE"),
        alloy::primitives::keccak256("OPERATOR_ROLE"),
    ]
}

/// On the embedded chain, with every role on its own account: a launch grants exactly the roles
/// the contract-by-contract deployment grants, in one transaction and for less gas than its
/// twelve.
#[tokio::test]
async fn a_launch_wires_like_twelve_transactions_for_less_gas() -> TestResult {
    within(async {
        let chain = Chain::start_on(ChainKind::Embedded).await?;
        let p = &chain.provider;
        let [agent, treasurer, registrar, rules] = chain.operators;
        let roles = Roles {
            admin: chain.admin,
            agent,
            treasurer,
            registrar,
            rules,
        };
        let platform = deploy_platform(p, roles, SettlementToken::DeployTestStablecoin).await?;
        let now = chain.now().await?;

        let launched_params = property_params(U256::from(1), now);
        let call = launch_call(&platform, &launched_params)?;
        let receipt = mined(
            p.send_transaction(call.request())
                .await?
                .get_receipt()
                .await?,
        )?;
        let made = launched_from_receipt(&platform, &receipt)?;
        let launched = [
            made.compliance.address,
            made.shares.address,
            made.distributor.address,
            made.treasury.address,
            made.offering.address,
        ];
        let (stepwise, gas) =
            contract_by_contract(&chain, &platform, &property_params(U256::from(2), now)).await?;
        assert_eq!(gas.len(), 12);

        let accounts = [
            chain.admin,
            agent,
            treasurer,
            registrar,
            rules,
            platform.launcher.address,
        ];
        let mut held = 0;
        for c in 0..5 {
            // Every platform contract speaks AccessControl's hasRole; any binding calls it.
            let l = PropertyShares::new(launched[c], p);
            let s = PropertyShares::new(stepwise[c], p);
            for role in role_ids() {
                for account in accounts {
                    let has = l.hasRole(role, account).call().await?;
                    assert_eq!(
                        has,
                        s.hasRole(role, account).call().await?,
                        "{c} {role} {account}"
                    );
                    held += usize::from(has);
                }
                for j in 0..5 {
                    let has = l.hasRole(role, launched[j]).call().await?;
                    assert_eq!(
                        has,
                        s.hasRole(role, stepwise[j]).call().await?,
                        "{c} {role} #{j}"
                    );
                    held += usize::from(has);
                }
            }
        }
        // Five admin roles, the rules admin, agent, treasurer and operator, and the four grants
        // between the contracts.
        assert_eq!(held, 13);

        let launch_gas = receipt.gas_used;
        let stepwise_gas: u64 = gas.iter().sum();
        println!(
            "gas: one launch {launch_gas}; contract by contract {stepwise_gas} in {} transactions \
             ({gas:?}); the launch takes {:.1}% of it",
            gas.len(),
            100.0 * launch_gas as f64 / stepwise_gas as f64
        );
        assert!(launch_gas < stepwise_gas, "{launch_gas} >= {stepwise_gas}");
        Ok(())
    })
    .await
}
