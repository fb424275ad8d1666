//! Decoding raw logs: every event of every platform contract, by the contract's ABI from the
//! committed artifacts, into a name and a JSON object of its fields (stored beside the raw log),
//! plus the typed events the books are made from.

use std::collections::HashMap;
use std::sync::OnceLock;

use alloy::dyn_abi::{DynSolEvent, DynSolValue, Specifier};
use alloy::json_abi::{Event, JsonAbi};
use alloy::primitives::B256;
use propledger_contracts::artifacts;
use serde_json::{Value, json};

use crate::source::RawLog;

/// What a watched contract is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContractKind {
    /// The shared identity registry.
    IdentityRegistry,
    /// The shared deed collection.
    Deed,
    /// The property directory (where new properties are discovered).
    Directory,
    /// A property's compliance rules.
    Compliance,
    /// A property's share token.
    Shares,
    /// A property's share offering.
    Offering,
    /// A property's treasury.
    Treasury,
    /// A property's distributor.
    Distributor,
}

impl ContractKind {
    /// Every kind.
    pub const ALL: [ContractKind; 8] = [
        ContractKind::IdentityRegistry,
        ContractKind::Deed,
        ContractKind::Directory,
        ContractKind::Compliance,
        ContractKind::Shares,
        ContractKind::Offering,
        ContractKind::Treasury,
        ContractKind::Distributor,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractKind::IdentityRegistry => "identity_registry",
            ContractKind::Deed => "deed",
            ContractKind::Directory => "directory",
            ContractKind::Compliance => "compliance",
            ContractKind::Shares => "shares",
            ContractKind::Offering => "offering",
            ContractKind::Treasury => "treasury",
            ContractKind::Distributor => "distributor",
        }
    }

    /// The kind named `s` by [`ContractKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn artifact(self) -> &'static str {
        match self {
            ContractKind::IdentityRegistry => artifacts::IDENTITY_REGISTRY,
            ContractKind::Deed => artifacts::PROPERTY_DEED,
            ContractKind::Directory => artifacts::PROPERTY_DIRECTORY,
            ContractKind::Compliance => artifacts::SHARE_COMPLIANCE,
            ContractKind::Shares => artifacts::PROPERTY_SHARES,
            ContractKind::Offering => artifacts::SHARE_OFFERING,
            ContractKind::Treasury => artifacts::PROPERTY_TREASURY,
            ContractKind::Distributor => artifacts::DISTRIBUTOR,
        }
    }
}

/// A log decoded by its contract's ABI.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The event's name, or `unknown` for a log the ABI does not describe.
    pub name: String,
    /// The event's fields as a JSON object by name (integers as decimal strings, bytes and
    /// addresses as `0x` hex).
    pub json: String,
}

impl Decoded {
    /// The fields as a JSON value.
    pub fn fields(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }
}

/// An event of the ABI with its resolved types (resolving parses type strings, so it is done
/// once, not per log).
struct Known {
    event: Event,
    resolved: DynSolEvent,
}

type EventTable = HashMap<B256, Known>;

fn tables() -> &'static HashMap<ContractKind, EventTable> {
    static TABLES: OnceLock<HashMap<ContractKind, EventTable>> = OnceLock::new();
    TABLES.get_or_init(|| {
        ContractKind::ALL
            .into_iter()
            .map(|kind| {
                #[derive(serde::Deserialize)]
                struct Artifact {
                    abi: JsonAbi,
                }
                // The artifacts are committed and checked by the contracts crate's tests.
                let abi = serde_json::from_str::<Artifact>(kind.artifact())
                    .map(|a| a.abi)
                    .unwrap_or_default();
                let table = abi
                    .events()
                    .filter(|e| !e.anonymous)
                    .filter_map(|e| {
                        let resolved = e.resolve().ok()?;
                        Some((
                            e.selector(),
                            Known {
                                event: e.clone(),
                                resolved,
                            },
                        ))
                    })
                    .collect();
                (kind, table)
            })
            .collect()
    })
}

/// Decodes `log`, emitted by a contract of `kind`. A log whose first topic the ABI does not
/// know, or whose data does not decode, comes back as `unknown` with the reason.
pub fn decode(kind: ContractKind, log: &RawLog) -> Decoded {
    let unknown = |reason: &str| Decoded {
        name: "unknown".to_owned(),
        json: json!({ "reason": reason }).to_string(),
    };
    let Some(topic0) = log.topics.first() else {
        return unknown("no topics");
    };
    let Some(known) = tables().get(&kind).and_then(|t| t.get(topic0)) else {
        return unknown("event not in the contract's ABI");
    };
    let decoded = match known
        .resolved
        .decode_log_parts(log.topics.iter().copied(), &log.data)
    {
        Ok(d) => d,
        Err(e) => return unknown(&format!("does not decode: {e}")),
    };
    // The JSON object is written directly: this runs once per event.
    let mut json = String::with_capacity(64 + 80 * known.event.inputs.len());
    json.push('{');
    let (mut indexed, mut body) = (decoded.indexed.iter(), decoded.body.iter());
    let mut first = true;
    for input in &known.event.inputs {
        let value = if input.indexed {
            indexed.next()
        } else {
            body.next()
        };
        if let Some(v) = value {
            if !first {
                json.push(',');
            }
            first = false;
            write_str(&mut json, &input.name);
            json.push(':');
            write_value(&mut json, v);
        }
    }
    json.push('}');
    Decoded {
        name: known.event.name.clone(),
        json,
    }
}

fn write_str(out: &mut String, s: &str) {
    // serde_json's escaping, without building a Value.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

fn write_value(out: &mut String, v: &DynSolValue) {
    use std::fmt::Write;
    match v {
        DynSolValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        DynSolValue::Int(i, _) => {
            let _ = write!(out, "\"{i}\"");
        }
        DynSolValue::Uint(u, _) => {
            let _ = write!(out, "\"{u}\"");
        }
        DynSolValue::Address(a) => {
            out.push_str("\"0x");
            out.push_str(&alloy::hex::encode(a.as_slice()));
            out.push('"');
        }
        DynSolValue::FixedBytes(w, size) => {
            out.push_str("\"0x");
            out.push_str(&alloy::hex::encode(&w[..*size]));
            out.push('"');
        }
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        other => write_str(
            out,
            &to_json(other)
                .as_str()
                .map(str::to_owned)
                .unwrap_or_default(),
        ),
    }
}

fn to_json(v: &DynSolValue) -> Value {
    match v {
        DynSolValue::Bool(b) => Value::Bool(*b),
        DynSolValue::Int(i, _) => Value::String(i.to_string()),
        DynSolValue::Uint(u, _) => Value::String(u.to_string()),
        DynSolValue::FixedBytes(w, size) => {
            Value::String(format!("0x{}", alloy::hex::encode(&w[..*size])))
        }
        DynSolValue::Address(a) => Value::String(format!("{a:#x}")),
        DynSolValue::Function(f) => Value::String(format!("0x{}", alloy::hex::encode(f))),
        DynSolValue::Bytes(b) => Value::String(format!("0x{}", alloy::hex::encode(b))),
        DynSolValue::String(s) => Value::String(s.clone()),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        // Only with alloy's eip712 feature (structs by name); no platform event has one.
        #[allow(unreachable_patterns)]
        other => Value::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, Bytes, U256};
    use alloy::sol_types::SolEvent;
    use propledger_contracts::PropertyShares;

    #[test]
    fn every_kind_has_events() {
        for kind in ContractKind::ALL {
            assert!(!tables()[&kind].is_empty(), "{kind:?}");
            assert_eq!(ContractKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn decodes_a_transfer_and_flags_strangers() {
        let (from, to) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let ev = PropertyShares::Transfer {
            from,
            to,
            value: U256::from(5u8),
        };
        let data = ev.encode_log_data();
        let log = RawLog {
            block_number: 1,
            block_hash: B256::ZERO,
            block_timestamp: None,
            tx_hash: B256::ZERO,
            tx_index: 0,
            log_index: 0,
            address: Address::ZERO,
            topics: data.topics().to_vec(),
            data: data.data.clone(),
        };
        let d = decode(ContractKind::Shares, &log);
        assert_eq!(d.name, "Transfer");
        assert_eq!(d.fields()["value"], json!("5"));
        assert_eq!(d.fields()["from"], json!(format!("{from:#x}")));
        assert_eq!(d.fields()["to"], json!(format!("{to:#x}")));
        let stranger = RawLog {
            topics: vec![B256::repeat_byte(9)],
            data: Bytes::new(),
            ..log
        };
        assert_eq!(decode(ContractKind::Shares, &stranger).name, "unknown");
    }
}
