//! The platform contracts' code, as recorded at deployment and as found at each start.
//!
//! For each contract the deployment record keeps two hashes: the keccak256 of its runtime code
//! on chain (`eth_getCode`), and the keccak256 of the committed artifact's creation code it was
//! deployed from. The runtime code of a contract with immutables differs from the artifact's
//! `deployedBytecode`, so the creation code is what names the artifact. At start the node
//! compares both with what it finds ([`compare`]): a different runtime hash means the chain
//! changed under the record (another or a reset chain, a self-destruct, a swapped proxy), a
//! different artifact hash means this build carries other contracts than the ones deployed.

use std::collections::BTreeMap;
use std::fmt;

use alloy::primitives::{Address, B256, keccak256};
use alloy::providers::Provider;
use propledger_contracts::deploy::Platform;
use serde::{Deserialize, Serialize};

use crate::Result;

/// One contract's code hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractCode {
    /// Where the contract lives.
    pub address: Address,
    /// keccak256 of its runtime code on chain.
    pub runtime_hash: B256,
    /// keccak256 of the creation code of the artifact it was deployed from.
    pub artifact_hash: B256,
}

/// Every platform contract's code hashes, by contract name.
pub type CodeHashes = BTreeMap<String, ContractCode>;

/// Which of a contract's hashes differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Differs {
    /// The code on chain is not the code recorded at deployment.
    OnChain,
    /// This build's artifact is not the one the contract was deployed from.
    Artifact,
}

/// One difference between the record and what a start finds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The contract's name.
    pub contract: String,
    /// Its address.
    pub address: Address,
    /// Which hash differs.
    pub differs: Differs,
    /// The recorded hash; `None` when the record has no entry for the contract.
    pub recorded: Option<B256>,
    /// The hash found now.
    pub found: B256,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.differs {
            Differs::OnChain => "the code on chain differs from the code recorded at deployment",
            Differs::Artifact => {
                "this build's artifact differs from the one the contract was deployed from"
            }
        };
        let recorded = self
            .recorded
            .map_or_else(|| "nothing".to_owned(), |h| h.to_string());
        write!(
            f,
            "{} at {}: {what} (recorded {recorded}, found {})",
            self.contract, self.address, self.found
        )
    }
}

/// What differs between the recorded hashes and the ones found, contract by contract (in
/// name order, the chain's difference before the artifact's). A contract found but not recorded
/// differs in both; one recorded but no longer part of the platform is not compared.
pub fn compare(recorded: &CodeHashes, found: &CodeHashes) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (name, now) in found {
        let was = recorded.get(name);
        for (differs, recorded, found) in [
            (
                Differs::OnChain,
                was.map(|c| c.runtime_hash),
                now.runtime_hash,
            ),
            (
                Differs::Artifact,
                was.map(|c| c.artifact_hash),
                now.artifact_hash,
            ),
        ] {
            if recorded != Some(found) {
                out.push(Mismatch {
                    contract: name.clone(),
                    address: now.address,
                    differs,
                    recorded,
                    found,
                });
            }
        }
    }
    out
}

/// The hashes of every platform contract as the chain and this build have them now.
pub async fn observe<P: Provider>(provider: &P, platform: &Platform) -> Result<CodeHashes> {
    let mut out = CodeHashes::new();
    for contract in platform.contracts() {
        let address = contract.deployed.address;
        let runtime = provider.get_code_at(address).await?;
        out.insert(
            contract.name.to_owned(),
            ContractCode {
                address,
                runtime_hash: keccak256(&runtime),
                artifact_hash: keccak256(contract.creation_code),
            },
        );
    }
    Ok(out)
}

/// The sentence a refused chain action answers with: what differs and how to accept it.
pub fn refusal(mismatches: &[Mismatch]) -> String {
    let mut names: Vec<String> = Vec::new();
    for m in mismatches {
        let what = match m.differs {
            Differs::OnChain => "its code on chain changed",
            Differs::Artifact => "this build's artifact changed",
        };
        names.push(format!("{} ({what})", m.contract));
    }
    format!(
        "the platform contracts differ from the deployment record: {}; chain actions are \
         refused until an operator restarts the node with --accept-deployed-code \
         (PROPLEDGER_ACCEPT_DEPLOYED_CODE=true), which records the code as it is now",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(address: u8, runtime: u8, artifact: u8) -> ContractCode {
        ContractCode {
            address: Address::repeat_byte(address),
            runtime_hash: B256::repeat_byte(runtime),
            artifact_hash: B256::repeat_byte(artifact),
        }
    }

    fn hashes(entries: &[(&str, ContractCode)]) -> CodeHashes {
        entries.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    }

    #[test]
    fn equal_hashes_match() {
        let all = hashes(&[("PropertyDeed", code(1, 2, 3)), ("Launcher", code(4, 5, 6))]);
        assert!(compare(&all, &all).is_empty());
    }

    #[test]
    fn each_hash_is_compared_on_its_own() {
        let recorded = hashes(&[
            ("A", code(1, 1, 1)),
            ("B", code(2, 2, 2)),
            ("C", code(3, 3, 3)),
        ]);
        let found = hashes(&[
            ("A", code(1, 9, 1)),
            ("B", code(2, 2, 9)),
            ("C", code(3, 3, 3)),
        ]);
        let m = compare(&recorded, &found);
        assert_eq!(
            m,
            vec![
                Mismatch {
                    contract: "A".to_owned(),
                    address: Address::repeat_byte(1),
                    differs: Differs::OnChain,
                    recorded: Some(B256::repeat_byte(1)),
                    found: B256::repeat_byte(9),
                },
                Mismatch {
                    contract: "B".to_owned(),
                    address: Address::repeat_byte(2),
                    differs: Differs::Artifact,
                    recorded: Some(B256::repeat_byte(2)),
                    found: B256::repeat_byte(9),
                },
            ]
        );
        let text = refusal(&m);
        assert!(text.contains("A (its code on chain changed)"), "{text}");
        assert!(text.contains("B (this build's artifact changed)"), "{text}");
        assert!(text.contains("--accept-deployed-code"), "{text}");
        let line = m[0].to_string();
        assert!(
            line.contains(&Address::repeat_byte(1).to_string()),
            "{line}"
        );
        assert!(line.contains(&B256::repeat_byte(9).to_string()), "{line}");
    }

    #[test]
    fn both_hashes_may_differ_at_once() {
        let m = compare(
            &hashes(&[("A", code(1, 1, 1))]),
            &hashes(&[("A", code(1, 2, 2))]),
        );
        let differs: Vec<_> = m.iter().map(|m| m.differs).collect();
        assert_eq!(differs, [Differs::OnChain, Differs::Artifact]);
    }

    #[test]
    fn a_contract_missing_from_the_record_differs_and_an_extra_one_is_ignored() {
        let recorded = hashes(&[("A", code(1, 1, 1)), ("Gone", code(7, 7, 7))]);
        let found = hashes(&[("A", code(1, 1, 1)), ("New", code(8, 8, 8))]);
        let m = compare(&recorded, &found);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(
            m.iter()
                .all(|m| m.contract == "New" && m.recorded.is_none())
        );
        assert!(m[0].to_string().contains("recorded nothing"));
    }
}
