//! Decoding raw logs: every event of every platform contract, by the contract's ABI from the
//! committed artifacts, into a name and a JSON object of its fields (stored beside the raw log),
//! plus the typed events the books are made from.

use std::borrow::Cow;
use std::sync::OnceLock;

use alloy::dyn_abi::{DynSolEvent, DynSolType, DynSolValue, Specifier};
use alloy::json_abi::{Event, JsonAbi};
use alloy::primitives::{B256, I256, U256};
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
    /// The platform's share market (its trades' fees are the platform's revenue).
    Settlement,
}

impl ContractKind {
    /// Every kind.
    pub const ALL: [ContractKind; 9] = [
        ContractKind::IdentityRegistry,
        ContractKind::Deed,
        ContractKind::Directory,
        ContractKind::Compliance,
        ContractKind::Shares,
        ContractKind::Offering,
        ContractKind::Treasury,
        ContractKind::Distributor,
        ContractKind::Settlement,
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
            ContractKind::Settlement => "settlement",
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
            ContractKind::Settlement => artifacts::SHARE_SETTLEMENT,
        }
    }
}

/// A log decoded by its contract's ABI.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The event's name, or `unknown` for a log the ABI does not describe.
    pub name: Cow<'static, str>,
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
    /// Every input's one-word type, in order, when all of them have one (see [`Word`]).
    words: Option<Vec<Word>>,
    /// Every input's key as it opens its member of the JSON object: `"name":`.
    keys: Vec<String>,
}

/// A type whose value is one 32-byte word, whether indexed or not.
#[derive(Clone, Copy, Debug)]
enum Word {
    Address,
    Bool,
    Uint(usize),
    Int(usize),
    FixedBytes(usize),
}

impl Word {
    fn of(ty: &DynSolType) -> Option<Word> {
        Some(match ty {
            DynSolType::Address => Word::Address,
            DynSolType::Bool => Word::Bool,
            DynSolType::Uint(bits) => Word::Uint(*bits),
            DynSolType::Int(bits) => Word::Int(*bits),
            DynSolType::FixedBytes(size) => Word::FixedBytes(*size),
            _ => return None,
        })
    }

    /// Writes the value of `word` as [`write_value`] writes it, or says the word is not a
    /// clean value of the type (then the full decoder has the last word).
    fn write(self, out: &mut String, word: &B256) -> bool {
        use std::fmt::Write;
        let w = word.as_slice();
        match self {
            Word::Address => {
                if w[..12].iter().any(|b| *b != 0) {
                    return false;
                }
                out.push_str("\"0x");
                out.push_str(&alloy::hex::encode(&w[12..]));
                out.push('"');
            }
            Word::Bool => match U256::from_be_bytes(word.0) {
                v if v.is_zero() => out.push_str("false"),
                v if v == U256::from(1u8) => out.push_str("true"),
                _ => return false,
            },
            Word::Uint(bits) => {
                let v = U256::from_be_bytes(word.0);
                if bits < 256 && v >> bits != U256::ZERO {
                    return false;
                }
                let _ = write!(out, "\"{v}\"");
            }
            Word::Int(bits) => {
                let v = I256::from_be_bytes(word.0);
                // In range when sign-extending the low `bits` gives the word back.
                if bits < 256 {
                    let shift = 256 - bits;
                    if (v << shift) >> shift != v {
                        return false;
                    }
                }
                let _ = write!(out, "\"{v}\"");
            }
            Word::FixedBytes(size) => {
                if size > 32 || w[size..].iter().any(|b| *b != 0) {
                    return false;
                }
                out.push_str("\"0x");
                out.push_str(&alloy::hex::encode(&w[..size]));
                out.push('"');
            }
        }
        true
    }
}

/// A kind's events by their first topic (a hasher made for fixed-size keys: this lookup runs
/// once per event).
type EventTable = alloy::primitives::map::B256Map<Known>;

/// The events of `kind`'s contract.
fn table(kind: ContractKind) -> &'static EventTable {
    // In the order of `ContractKind::ALL`, which is the declaration order.
    static TABLES: OnceLock<[EventTable; ContractKind::ALL.len()]> = OnceLock::new();
    &TABLES.get_or_init(|| {
        ContractKind::ALL.map(|kind| {
            #[derive(serde::Deserialize)]
            struct Artifact {
                abi: JsonAbi,
            }
            // The artifacts are committed and checked by the contracts crate's tests.
            let abi = serde_json::from_str::<Artifact>(kind.artifact())
                .map(|a| a.abi)
                .unwrap_or_default();
            abi.events()
                .filter(|e| !e.anonymous)
                .filter_map(|e| {
                    let resolved = e.resolve().ok()?;
                    let words = e
                        .inputs
                        .iter()
                        .map(|i| i.resolve().ok().as_ref().and_then(Word::of))
                        .collect();
                    let keys = e
                        .inputs
                        .iter()
                        .map(|i| {
                            let mut key = String::new();
                            write_str(&mut key, &i.name);
                            key.push(':');
                            key
                        })
                        .collect();
                    Some((
                        e.selector(),
                        Known {
                            event: e.clone(),
                            resolved,
                            words,
                            keys,
                        },
                    ))
                })
                .collect()
        })
    })[kind as usize]
}

/// Decodes `log`, emitted by a contract of `kind`. A log whose first topic the ABI does not
/// know, or whose data does not decode, comes back as `unknown` with the reason.
pub fn decode(kind: ContractKind, log: &RawLog) -> Decoded {
    let unknown = |reason: &str| Decoded {
        name: Cow::Borrowed("unknown"),
        json: json!({ "reason": reason }).to_string(),
    };
    let Some(topic0) = log.topics.first() else {
        return unknown("no topics");
    };
    let Some(known) = table(kind).get(topic0) else {
        return unknown("event not in the contract's ABI");
    };
    if let Some(json) = known
        .words
        .as_ref()
        .and_then(|w| decode_words(known, w, log))
    {
        return Decoded {
            name: Cow::Borrowed(&known.event.name),
            json,
        };
    }
    decode_full(known, log)
}

/// Decodes `log` by the event's resolved types (any shape of event).
fn decode_full(known: &'static Known, log: &RawLog) -> Decoded {
    let unknown = |reason: &str| Decoded {
        name: Cow::Borrowed("unknown"),
        json: json!({ "reason": reason }).to_string(),
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
    for (input, key) in known.event.inputs.iter().zip(&known.keys) {
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
            json.push_str(key);
            write_value(&mut json, v);
        }
    }
    json.push('}');
    Decoded {
        name: Cow::Borrowed(&known.event.name),
        json,
    }
}

/// The JSON object of an event whose inputs are all one word each, read straight from the
/// topics and data (most events, ERC-20 transfers among them); `None` when the log does not
/// have exactly that shape, or a word is not a clean value of its type, which the full decoder
/// then judges.
fn decode_words(known: &Known, words: &[Word], log: &RawLog) -> Option<String> {
    let indexed = known.event.inputs.iter().filter(|i| i.indexed).count();
    let body = words.len() - indexed;
    if log.topics.len() != 1 + indexed || log.data.len() != 32 * body {
        return None;
    }
    let mut json = String::with_capacity(16 + 80 * words.len());
    json.push('{');
    let (mut topic, mut offset) = (1, 0);
    let members = known.event.inputs.iter().zip(&known.keys).zip(words);
    for (i, ((input, key), word)) in members.enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(key);
        let value = if input.indexed {
            topic += 1;
            log.topics[topic - 1]
        } else {
            offset += 32;
            B256::from_slice(&log.data[offset - 32..offset])
        };
        if !word.write(&mut json, &value) {
            return None;
        }
    }
    json.push('}');
    Some(json)
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

    /// A log of block 1 with `data`'s topics and data.
    fn log_of(data: &alloy::primitives::LogData) -> RawLog {
        RawLog {
            block_number: 1,
            block_hash: B256::ZERO,
            block_timestamp: None,
            tx_hash: B256::ZERO,
            tx_index: 0,
            log_index: 0,
            address: Address::ZERO,
            topics: data.topics().to_vec(),
            data: data.data.clone(),
        }
    }

    #[test]
    fn every_kind_has_events() {
        for (i, kind) in ContractKind::ALL.into_iter().enumerate() {
            // `table` finds a kind's events at its place in `ALL`.
            assert_eq!(kind as usize, i, "{kind:?}");
            assert!(!table(kind).is_empty(), "{kind:?}");
            assert_eq!(ContractKind::parse(kind.as_str()), Some(kind));
        }
    }

    /// Every event made of one-word inputs decodes the same straight from its words as by the
    /// full decoder, and a word that is not a clean value leaves it to the full decoder.
    #[test]
    fn one_word_events_decode_as_the_full_decoder_does() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        for kind in ContractKind::ALL {
            for known in table(kind).values() {
                let Some(words) = &known.words else { continue };
                for _ in 0..20 {
                    let mut topics = vec![known.event.selector()];
                    let mut data = Vec::new();
                    for (input, word) in known.event.inputs.iter().zip(words) {
                        let mut w = [0u8; 32];
                        for chunk in w.chunks_mut(8) {
                            chunk.copy_from_slice(&next().to_be_bytes());
                        }
                        let value = match *word {
                            Word::Address => {
                                w[..12].fill(0);
                                B256::from(w)
                            }
                            Word::Bool => B256::from(U256::from(next() % 2)),
                            Word::Uint(bits) => {
                                let v = U256::from_be_bytes(w);
                                B256::from(if bits < 256 { v >> (256 - bits) } else { v })
                            }
                            Word::Int(bits) => {
                                let v = I256::from_be_bytes(w);
                                let v = if bits < 256 { v.asr(256 - bits) } else { v };
                                B256::from(v.into_raw())
                            }
                            Word::FixedBytes(size) => {
                                w[size..].fill(0);
                                B256::from(w)
                            }
                        };
                        if input.indexed {
                            topics.push(value);
                        } else {
                            data.extend_from_slice(value.as_slice());
                        }
                    }
                    let log = log_of(&alloy::primitives::LogData::new_unchecked(
                        topics,
                        data.into(),
                    ));
                    let full = decode_full(known, &log);
                    assert_ne!(full.name, "unknown", "{}: {}", known.event.name, full.json);
                    assert_eq!(
                        decode_words(known, words, &log).as_deref(),
                        Some(full.json.as_str()),
                        "{}",
                        known.event.name
                    );
                    assert_eq!(decode(kind, &log), full);
                    checked += 1;
                }
            }
        }
        assert!(checked >= 20 * 10, "{checked} logs checked");

        // A dirty address word, or a short data section, is left to the full decoder.
        let transfer = &table(ContractKind::Shares)[&PropertyShares::Transfer::SIGNATURE_HASH];
        let words = transfer.words.as_ref().expect("a transfer is all words");
        let clean = PropertyShares::Transfer {
            from: Address::repeat_byte(1),
            to: Address::repeat_byte(2),
            value: U256::from(5u8),
        }
        .encode_log_data();
        let mut dirty = log_of(&clean);
        dirty.topics[1] = B256::repeat_byte(0xff);
        assert_eq!(decode_words(transfer, words, &dirty), None);
        assert_eq!(
            decode(ContractKind::Shares, &dirty),
            decode_full(transfer, &dirty)
        );
        let short = RawLog {
            topics: clean.topics().to_vec(),
            data: Bytes::from(vec![1u8; 31]),
            ..dirty
        };
        assert_eq!(decode_words(transfer, words, &short), None);
        assert_eq!(decode(ContractKind::Shares, &short).name, "unknown");
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
        let log = log_of(&data);
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
