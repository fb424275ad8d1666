//! Reading why a transaction reverted: the platform contracts' custom errors (from their
//! committed ABIs, OpenZeppelin's included), `Error(string)` and `Panic(uint256)`, as a line of
//! text, with the transfer-restriction code when the error is `TransferRestricted(code)`.

use std::collections::HashMap;
use std::sync::OnceLock;

use alloy::dyn_abi::{DynSolType, DynSolValue, Specifier};
use alloy::json_abi::JsonAbi;
use propledger_contracts::artifacts;

/// A decoded revert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revert {
    /// The error as text: `OverBudget(0x…, 100, 250)`.
    pub text: String,
    /// The code of a `TransferRestricted(code)`.
    pub reason_code: Option<u8>,
}

struct Known {
    name: String,
    params: Vec<DynSolType>,
}

fn table() -> &'static HashMap<[u8; 4], Known> {
    static TABLE: OnceLock<HashMap<[u8; 4], Known>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        for json in [
            artifacts::IDENTITY_REGISTRY,
            artifacts::PROPERTY_DEED,
            artifacts::PROPERTY_DIRECTORY,
            artifacts::SHARE_COMPLIANCE,
            artifacts::PROPERTY_SHARES,
            artifacts::SHARE_OFFERING,
            artifacts::PROPERTY_TREASURY,
            artifacts::DISTRIBUTOR,
            artifacts::TEST_STABLECOIN,
        ] {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
                continue;
            };
            let Ok(abi) = serde_json::from_value::<JsonAbi>(v["abi"].clone()) else {
                continue;
            };
            for e in abi.errors() {
                let params = e
                    .inputs
                    .iter()
                    .filter_map(|p| p.resolve().ok())
                    .collect::<Vec<_>>();
                if params.len() == e.inputs.len() {
                    t.insert(
                        e.selector().0,
                        Known {
                            name: e.name.clone(),
                            params,
                        },
                    );
                }
            }
        }
        t
    })
}

fn show(v: &DynSolValue) -> String {
    match v {
        DynSolValue::Address(a) => a.to_checksum(None),
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::FixedBytes(w, n) => format!("0x{}", hex::encode(&w[..*n])),
        DynSolValue::Bytes(b) => format!("0x{}", hex::encode(b)),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Array(a) | DynSolValue::FixedArray(a) | DynSolValue::Tuple(a) => {
            format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// Decodes revert data.
pub fn decode(data: &[u8]) -> Revert {
    let unknown = || Revert {
        text: if data.is_empty() {
            "reverted without a reason".to_owned()
        } else {
            format!("reverted with unknown data 0x{}", hex::encode(data))
        },
        reason_code: None,
    };
    let Some((selector, args)) = data.split_first_chunk::<4>() else {
        return unknown();
    };
    // Error(string) and Panic(uint256), the compiler's own.
    match selector {
        [0x08, 0xc3, 0x79, 0xa0] => {
            return match DynSolType::String.abi_decode(args) {
                Ok(DynSolValue::String(s)) => Revert {
                    text: s,
                    reason_code: None,
                },
                _ => unknown(),
            };
        }
        [0x4e, 0x48, 0x7b, 0x71] => {
            return match DynSolType::Uint(256).abi_decode(args) {
                Ok(v) => Revert {
                    text: format!("panic {}", show(&v)),
                    reason_code: None,
                },
                _ => unknown(),
            };
        }
        _ => {}
    }
    let Some(known) = table().get(selector) else {
        return unknown();
    };
    let ty = DynSolType::Tuple(known.params.clone());
    let Ok(DynSolValue::Tuple(values)) = ty.abi_decode_params(args) else {
        return unknown();
    };
    let reason_code = match (known.name.as_str(), values.first()) {
        ("TransferRestricted", Some(DynSolValue::Uint(code, _))) => u8::try_from(*code).ok(),
        _ => None,
    };
    Revert {
        text: format!(
            "{}({})",
            known.name,
            values.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        reason_code,
    }
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolError;
    use propledger_contracts::{PropertyShares, PropertyTreasury};

    use super::*;

    #[test]
    fn decodes_platform_and_compiler_errors() {
        let data = PropertyShares::TransferRestricted { code: 10 }.abi_encode();
        assert_eq!(
            decode(&data),
            Revert {
                text: "TransferRestricted(10)".to_owned(),
                reason_code: Some(10)
            }
        );
        let data = PropertyTreasury::InsufficientFunds {
            available: alloy::primitives::U256::from(5),
            requested: alloy::primitives::U256::from(7),
        }
        .abi_encode();
        assert_eq!(decode(&data).text, "InsufficientFunds(5, 7)");
        let data = alloy::sol_types::Revert::from("nope").abi_encode();
        assert_eq!(decode(&data).text, "nope");
        assert_eq!(decode(&[]).text, "reverted without a reason");
        assert!(
            decode(&[1, 2, 3, 4, 5])
                .text
                .starts_with("reverted with unknown data")
        );
    }
}
