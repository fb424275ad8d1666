//! `POST /v1/compliance/check` agrees with the contracts: random investors, rules, freezes and
//! amounts, with several rules failing at once and boundary values (KYC expiring exactly at the
//! block's time, the lock-up's last second, a holding exactly at the cap, the investor cap
//! exactly reached). For each case the API's code equals the token's own verdict at that block,
//! and the transaction itself, mined at the same time on the same state, succeeds exactly when
//! the check allowed it and otherwise reverts with the code (or the offering's error) the check
//! named.
//!
//! The compliance's limits take part too: a supply cap and daily and monthly volume limits at
//! the amount's boundary (after an earlier transfer of the seller's on some cases), a cap on the
//! recipient's country at its investors' count, and jurisdiction groups.
//!
//! Each case is judged on a block mined empty at time `T`; the chain is then put back (snapshot)
//! and the transaction mined at the same `T` on the same state.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;
use propledger_api::db::Engine;
use propledger_contracts::{
    IdentityRegistry, PropertyShares, ReasonCode, ShareCompliance, ShareOffering, TestStablecoin,
};
use serde_json::{Value, json};

use crate::chainapp::{ChainApp, investor_key, shares};
use crate::support::both_engines;

both_engines!(checks_agree_with_the_chain, bad_checks_are_refused);

/// A small deterministic generator (SplitMix64): the cases are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, in_four: u64) -> bool {
        self.below(4) < in_four
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

async fn rpc(w: &ChainApp, method: &'static str, params: Value) -> Value {
    w.admin
        .raw_request(method.into(), params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

async fn send<P: Provider, C: alloy::sol_types::SolCall>(
    call: alloy::contract::CallBuilder<P, std::marker::PhantomData<C>>,
) {
    let r = call
        .send()
        .await
        .expect("send")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(r.status(), "setup transaction reverted");
}

/// What a wallet is, in a case.
#[derive(Clone, Copy, Debug)]
struct Who {
    registered: bool,
    country: u16,
    accredited: bool,
    /// KYC expiry relative to the judged block's time.
    kyc: i64,
    investor_frozen: bool,
    wallet_frozen: bool,
}

fn who(rng: &mut Rng) -> Who {
    Who {
        registered: rng.below(8) != 0,
        country: rng.pick(&[840, 826, 276]),
        accredited: rng.chance(3),
        kyc: rng.pick(&[-1, 0, 1, 86_400]),
        investor_frozen: rng.below(10) == 0,
        wallet_frozen: rng.below(10) == 0,
    }
}

/// An investor the seller sometimes transfers to before the judged transfer, so the volume
/// limits have something counted already.
fn sink() -> PrivateKeySigner {
    investor_key(300)
}

fn id_of(key: &PrivateKeySigner) -> B256 {
    keccak256(key.address())
}

/// The base state every case starts from: the seller holds 50 settled shares, the buyer pool
/// has gas and settlement tokens.
async fn base(w: &ChainApp, seller: &PrivateKeySigner, pool: &[PrivateKeySigner]) {
    w.investor(seller, "US", true, "2099-01-01").await;
    w.investor(&sink(), "GB", true, "2099-01-01").await;
    w.fund(seller.address(), 10_000_000_000).await;
    for k in pool {
        w.fund(k.address(), 100_000_000_000).await;
    }
    let s = w.wallet(seller);
    let usd = TestStablecoin::new(w.platform.settlement_token, &s);
    let offering = w.property.offering.address;
    send(usd.approve(offering, U256::MAX)).await;
    send(ShareOffering::new(offering, &s).buy(shares(50))).await;
}

async fn checks_agree_with_the_chain(engine: Engine) {
    let cases: u64 = if std::env::var("PROPLEDGER_TEST_FULL").is_ok_and(|v| v == "1") {
        150
    } else if engine == Engine::Sqlite {
        40
    } else {
        8
    };
    let w = ChainApp::new(engine).await;
    let seller = investor_key(100);
    let pool: Vec<PrivateKeySigner> = (0..3).map(|i| investor_key(200 + i)).collect();
    base(&w, &seller, &pool).await;
    let token = w.property.shares.address;
    let offering = w.property.offering.address;
    let admin_registry = IdentityRegistry::new(w.platform.identity_registry.address, &w.admin);
    let admin_shares = PropertyShares::new(token, &w.admin);
    let admin_rules = ShareCompliance::new(w.property.compliance.address, &w.admin);
    let reader_shares = PropertyShares::new(token, &w.reader);
    let mut rng = Rng(0x005e_ed0f_c0de);
    let mut seen = std::collections::BTreeMap::<String, u32>::new();

    for case in 0..cases {
        let base_snap = rpc(&w, "evm_snapshot", json!([])).await;
        let head = w
            .reader
            .get_block_by_number(Default::default())
            .await
            .unwrap()
            .unwrap();
        let t = head.header.timestamp + 100;
        let purchase = rng.chance(1);
        let prior = if rng.chance(1) {
            send(
                PropertyShares::new(token, w.wallet(&seller)).transfer(sink().address(), shares(1)),
            )
            .await;
            shares(1)
        } else {
            U256::ZERO
        };
        let buyer = pool[rng.below(pool.len() as u64) as usize].clone();
        let other = who(&mut rng);
        // Half the cases judge the limits alone: an eligible recipient, no freeze, no pause and
        // no other rule, small amounts.
        let limits_case = rng.chance(2);
        let other = if limits_case {
            Who {
                registered: true,
                accredited: true,
                kyc: 86_400,
                investor_frozen: false,
                wallet_frozen: false,
                ..other
            }
        } else {
            other
        };
        // The recipient (a transfer's) or the buyer: registered with random facts.
        if other.registered {
            let id = id_of(&buyer);
            let kyc = u64::try_from(i64::try_from(t).unwrap() + other.kyc).unwrap();
            send(admin_registry.setInvestor(id, other.country, other.accredited, kyc)).await;
            send(admin_registry.addWallet(buyer.address(), id)).await;
            if other.investor_frozen {
                send(admin_registry.setInvestorFrozen(id, true)).await;
            }
        }
        if other.wallet_frozen {
            send(admin_shares.setAddressFrozen(buyer.address(), true)).await;
        }
        // The seller's side.
        if !limits_case && rng.below(8) == 0 {
            send(admin_shares.freezePartialTokens(seller.address(), shares(rng.pick(&[10, 49]))))
                .await;
        }
        if !limits_case && rng.below(12) == 0 {
            send(admin_shares.pause()).await;
        }
        // Rules, often several at once, with boundary values.
        let count = reader_shares.investorCount().call().await.unwrap();
        let amount = match rng.below(6) {
            0 => U256::from(1u64),
            1 => shares(1),
            2 => shares(50),
            3 => shares(51),
            4 => shares(10) + U256::from(1u64),
            _ => shares(rng.below(400) + 1),
        };
        let amount = if limits_case {
            shares(rng.pick(&[1, 2, 5]))
        } else {
            amount
        };
        let rules = ShareCompliance::Rules {
            accreditedOnly: rng.chance(1),
            countriesRestricted: rng.chance(1),
            maxInvestors: if rng.chance(1) {
                rng.pick(&[count, count + 1])
            } else {
                0
            },
            lockupUntil: if rng.chance(1) {
                rng.pick(&[t, t + 1, t - 1])
            } else {
                0
            },
            maxBalancePerInvestor: if rng.chance(1) {
                let exact: u128 = amount.to();
                rng.pick(&[exact, exact - 1, exact + 1])
            } else {
                0
            },
            minHolding: if rng.chance(1) {
                shares(rng.pick(&[1, 5, 20])).to()
            } else {
                0
            },
        };
        if !limits_case
            && (rules.minHolding == 0
                || rules.maxBalancePerInvestor == 0
                || rules.minHolding <= rules.maxBalancePerInvestor)
        {
            send(admin_rules.setRules(rules.clone())).await;
        }
        if !limits_case && rules.countriesRestricted {
            send(admin_rules.setCountries(vec![rng.pick(&[840u16, 826])], true)).await;
        }
        // The limits, at the boundaries.
        let supply = reader_shares.totalSupply().call().await.unwrap();
        let u96 = |v: U256| alloy::primitives::Uint::<96, 2>::from(v.to::<u128>());
        let volume = prior + amount;
        let odds = if limits_case { 2 } else { 5 };
        let limits = ShareCompliance::Limits {
            dailyVolume: if rng.below(odds) == 0 {
                u96(rng.pick(&[volume, volume - U256::from(1u64)]))
            } else {
                Default::default()
            },
            monthlyVolume: if rng.below(odds) == 0 {
                u96(rng.pick(&[volume, volume - U256::from(1u64)]))
            } else {
                Default::default()
            },
            groupsEnforced: rng.below(odds) == 0,
            maxSupply: if rng.below(odds) == 0 || (limits_case && purchase) {
                rng.pick(&[supply + amount, supply + amount - U256::from(1u64)])
                    .to()
            } else {
                0
            },
        };
        send(admin_rules.setLimits(limits.clone())).await;
        if limits.groupsEnforced {
            let groups = vec![
                rng.pick(&[0u8, 1]),
                rng.pick(&[0u8, 1]),
                rng.pick(&[0u8, 2]),
            ];
            send(admin_rules.setJurisdictionGroups(vec![840, 826, 276], groups)).await;
        }
        if rng.below(odds) == 0 {
            let investors = admin_rules
                .countryRules(other.country)
                .call()
                .await
                .unwrap()
                .investors;
            let cap = rng.pick(&[investors, investors + 1]);
            send(admin_rules.setCountryCaps(vec![other.country], vec![cap])).await;
        }
        let buyer_wallet = w.wallet(&buyer);
        if purchase {
            let allowance = rng.pick(&[U256::MAX, U256::ZERO]);
            send(
                TestStablecoin::new(w.platform.settlement_token, &buyer_wallet)
                    .approve(offering, allowance),
            )
            .await;
        }

        // Judge on an empty block mined at t.
        let judged_snap = rpc(&w, "evm_snapshot", json!([])).await;
        rpc(&w, "evm_setNextBlockTimestamp", json!([t])).await;
        rpc(&w, "evm_mine", json!([])).await;
        let n = w.reader.get_block_number().await.unwrap();
        let text = alloy::primitives::utils::format_units(amount, 18).unwrap();
        let body = if purchase {
            json!({"offering": offering, "wallet": buyer.address(), "amount": text, "block": n})
        } else {
            json!({"token": token, "from": seller.address(), "to": buyer.address(), "amount": text, "block": n})
        };
        let v = w
            .app
            .post("/v1/compliance/check")
            .token(&w.app.admin_key)
            .json(&body)
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        let code = u8::try_from(v["code"].as_u64().unwrap()).unwrap();
        let contract = if purchase {
            reader_shares
                .canMint(buyer.address(), amount)
                .block(n.into())
                .call()
                .await
                .unwrap()
        } else {
            reader_shares
                .canTransfer(seller.address(), buyer.address(), amount)
                .block(n.into())
                .call()
                .await
                .unwrap()
        };
        let what = format!("case {case}: {body} -> {v}");
        assert_eq!(code, contract, "{what}");
        assert_eq!(v["block_number"], n, "{what}");
        let name = v["name"].as_str().unwrap().to_owned();
        if v["allowed"] == true {
            assert_eq!((code, name.as_str()), (0, "allowed"), "{what}");
        }
        let sentence = v["sentence"].as_str().unwrap();
        assert!(!sentence.is_empty(), "{what}");
        if let Ok(reason) = ReasonCode::try_from(code)
            && reason.as_str() == name
        {
            match reason {
                ReasonCode::RecipientNotVerified
                    if other.registered && other.kyc <= 0 && !other.investor_frozen =>
                {
                    assert!(
                        sentence.contains("KYC expired") || sentence.contains("another investor"),
                        "{what}"
                    );
                }
                ReasonCode::LockupActive => assert!(sentence.contains("locked until"), "{what}"),
                ReasonCode::DailyLimitExceeded => assert!(sentence.contains("today"), "{what}"),
                ReasonCode::MonthlyLimitExceeded => {
                    assert!(sentence.contains("this month"), "{what}");
                }
                ReasonCode::CountryCapReached => assert!(sentence.contains("cap of"), "{what}"),
                ReasonCode::SupplyCapExceeded => {
                    assert!(sentence.contains("above the cap"), "{what}");
                }
                ReasonCode::JurisdictionMismatch => {
                    assert!(sentence.contains("jurisdiction group"), "{what}");
                }
                ReasonCode::CountryNotAllowed => assert!(
                    ["United States", "United Kingdom", "Germany"]
                        .iter()
                        .any(|c| sentence.contains(c)),
                    "{what}"
                ),
                _ => {}
            }
        }
        *seen.entry(name.clone()).or_default() += 1;

        // The transaction simulated on the judged block, then mined at the same time on the
        // same state.
        let revert = if purchase {
            ShareOffering::new(offering, &w.reader)
                .buy(amount)
                .from(buyer.address())
                .block(n.into())
                .call()
                .await
                .err()
        } else {
            PropertyShares::new(token, &w.reader)
                .transfer(buyer.address(), amount)
                .from(seller.address())
                .block(n.into())
                .call()
                .await
                .err()
        };
        rpc(&w, "evm_revert", json!([judged_snap])).await;
        rpc(&w, "evm_setNextBlockTimestamp", json!([t])).await;
        let receipt = if purchase {
            ShareOffering::new(offering, &buyer_wallet)
                .buy(amount)
                .gas(3_000_000)
                .send()
                .await
        } else {
            PropertyShares::new(token, w.wallet(&seller))
                .transfer(buyer.address(), amount)
                .gas(3_000_000)
                .send()
                .await
        };
        let outcome = receipt.unwrap().get_receipt().await.unwrap().status();
        let mined_at = w
            .reader
            .get_block_by_number(Default::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mined_at.header.timestamp, t, "{what}");
        assert_eq!(outcome, v["allowed"] == true, "{what}: the chain disagreed");
        if let Some(e) = revert {
            let expected = match name.as_str() {
                "offering_closed" => "OfferingClosed",
                "below_minimum_purchase" => "BelowMinimumPurchase",
                "sold_out" => "SoldOut",
                "above_investor_limit" => "AboveInvestorLimit",
                "allowance_too_low" => "ERC20InsufficientAllowance",
                "insufficient_funds" => "ERC20InsufficientBalance",
                _ => "TransferRestricted",
            };
            if let Some(restricted) = e.as_decoded_error::<PropertyShares::TransferRestricted>() {
                assert_eq!(expected, "TransferRestricted", "{what}");
                assert_eq!(restricted.code, code, "{what}: reverted with another code");
            } else {
                let data = e
                    .as_revert_data()
                    .map(alloy::hex::encode)
                    .unwrap_or_default();
                let selector = |sig: &str| alloy::hex::encode(&keccak256(sig)[..4]);
                let known = [
                    ("OfferingClosed", selector("OfferingClosed()")),
                    (
                        "BelowMinimumPurchase",
                        selector("BelowMinimumPurchase(uint256,uint256)"),
                    ),
                    ("SoldOut", selector("SoldOut(uint256,uint256)")),
                    (
                        "AboveInvestorLimit",
                        selector("AboveInvestorLimit(uint256,uint256)"),
                    ),
                    (
                        "ERC20InsufficientAllowance",
                        selector("ERC20InsufficientAllowance(address,uint256,uint256)"),
                    ),
                    (
                        "ERC20InsufficientBalance",
                        selector("ERC20InsufficientBalance(address,uint256,uint256)"),
                    ),
                ];
                let got = known
                    .iter()
                    .find(|(_, s)| data.starts_with(s.as_str()))
                    .map(|(n, _)| *n);
                assert_eq!(got, Some(expected), "{what}: reverted with {data} ({e})");
            }
        } else {
            assert!(
                outcome,
                "{what}: the simulation passed, the transaction failed"
            );
        }
        rpc(&w, "evm_revert", json!([base_snap])).await;
    }
    // The generator reached allowed cases and several kinds of refusal.
    assert!(seen.get("allowed").copied().unwrap_or(0) > 0, "{seen:?}");
    assert!(
        seen.len() >= 4 || cases < 20,
        "too few kinds of verdict: {seen:?}"
    );
    let limits = [
        "jurisdiction_mismatch",
        "daily_limit_exceeded",
        "monthly_limit_exceeded",
        "country_cap_reached",
        "supply_cap_exceeded",
    ];
    assert!(
        limits.iter().filter(|l| seen.contains_key(**l)).count() >= 2 || cases < 20,
        "too few of the limits' refusals: {seen:?}"
    );
    eprintln!("verdicts: {seen:?}");
    w.finish().await;
}

async fn bad_checks_are_refused(engine: Engine) {
    let w = ChainApp::new(engine).await;
    let token = w.property.shares.address;
    let a = Address::repeat_byte(1);
    let cases = [
        (
            json!({"token": token, "from": a, "to": a, "amount": "1.0000000000000000001"}),
            "/amount",
        ),
        (
            json!({"token": token, "from": a, "to": a, "amount": "-1"}),
            "/amount",
        ),
        (json!({"token": token, "to": a, "amount": "1"}), "/from"),
        (
            json!({"token": token, "from": a, "to": a, "wallet": a, "amount": "1"}),
            "/offering",
        ),
        (json!({"amount": "1"}), "/token"),
        (
            json!({"token": a, "from": a, "to": a, "amount": "1"}),
            "/token",
        ),
        (
            json!({"offering": token, "wallet": a, "amount": "1"}),
            "/offering",
        ),
    ];
    for (body, field) in cases {
        w.app
            .post("/v1/compliance/check")
            .token(&w.app.admin_key)
            .json(&body)
            .send()
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some(field));
    }
    // An investor checks only what their own wallet sends.
    let (session, _) = w
        .investor(&investor_key(300), "US", false, "2099-01-01")
        .await;
    w.app
        .post("/v1/compliance/check")
        .token(&session)
        .json(&json!({"token": token, "from": a, "to": investor_key(300).address(), "amount": "1"}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    let mine = w
        .app
        .post("/v1/compliance/check")
        .token(&session)
        .json(&json!({"offering": w.property.offering.address, "wallet": investor_key(300).address(), "amount": "1"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    // Not accredited is allowed by the default rules; with no settlement tokens the buy fails.
    assert_eq!(mine["code"], 0, "{mine}");
    assert_eq!(mine["name"], "allowance_too_low", "{mine}");
    w.finish().await;
}
