//! Sign-In with Ethereum (EIP-4361): parsing a message exactly as the standard writes it, and
//! checking it against what this API expects (domain, URI, chain, nonce, times) and against
//! its signature (EIP-191 `personal_sign` by the message's address).
//!
//! ```text
//! example.com wants you to sign in with your Ethereum account:
//! 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2
//!
//! Sign in to PropLedger.
//!
//! URI: https://example.com
//! Version: 1
//! Chain ID: 31337
//! Nonce: 32891756
//! Issued At: 2026-12-06T16:25:24Z
//! Expiration Time: 2026-12-06T16:35:24Z
//! ```

use alloy_primitives::{Address, Signature};
use chrono::{DateTime, FixedOffset};

use crate::error::{Error, Result};

/// The most bytes of a message this API reads.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// A parsed EIP-4361 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The scheme before the domain, when given (`https`).
    pub scheme: Option<String>,
    /// The domain (host and optional port) asking for the sign-in.
    pub domain: String,
    /// The signing account, EIP-55 checksummed in the message.
    pub address: Address,
    /// A sentence for the person signing.
    pub statement: Option<String>,
    /// The URI the sign-in is for.
    pub uri: String,
    /// Always `1`.
    pub version: String,
    /// The EIP-155 chain id.
    pub chain_id: u64,
    /// The server's nonce (at least 8 alphanumeric characters).
    pub nonce: String,
    /// When the message was made.
    pub issued_at: DateTime<FixedOffset>,
    /// When it stops being valid.
    pub expiration_time: Option<DateTime<FixedOffset>>,
    /// When it starts being valid.
    pub not_before: Option<DateTime<FixedOffset>>,
    /// A request id of the application's.
    pub request_id: Option<String>,
    /// Resources the sign-in covers.
    pub resources: Vec<String>,
}

const PREAMBLE: &str = " wants you to sign in with your Ethereum account:";

fn bad(why: impl Into<String>) -> Error {
    Error::invalid("/message", why.into())
}

fn time(field: &str, s: &str) -> Result<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).map_err(|_| bad(format!("{field} is not an RFC 3339 time")))
}

/// Takes the line `Name: value` from the front of `lines`, if it is there.
fn field<'a>(
    lines: &mut std::iter::Peekable<std::str::Split<'a, char>>,
    name: &str,
) -> Option<&'a str> {
    let line = lines.peek()?;
    let value = line.strip_prefix(name)?.strip_prefix(": ")?;
    lines.next();
    Some(value)
}

impl Message {
    /// Parses a message; anything that is not exactly the standard's format is refused.
    pub fn parse(text: &str) -> Result<Message> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(bad(format!("longer than {MAX_MESSAGE_BYTES} bytes")));
        }
        if text.contains('\r') {
            return Err(bad("lines end with LF, not CR LF"));
        }
        let mut lines = text.split('\n').peekable();
        let first = lines.next().unwrap_or("");
        let origin = first.strip_suffix(PREAMBLE).ok_or_else(|| {
            bad("the first line must end with \"wants you to sign in with your Ethereum account:\"")
        })?;
        let (scheme, domain) = match origin.split_once("://") {
            Some((s, d)) => (Some(s.to_owned()), d.to_owned()),
            None => (None, origin.to_owned()),
        };
        if domain.is_empty() || domain.contains(char::is_whitespace) || domain.contains('/') {
            return Err(bad("the domain is not an authority (host[:port])"));
        }
        let address_text = lines.next().ok_or_else(|| bad("no address line"))?;
        let address: Address = address_text
            .parse()
            .map_err(|_| bad("the address is not 20 bytes of hex"))?;
        if address.to_checksum(None) != address_text {
            return Err(bad("the address must be EIP-55 checksummed"));
        }
        if lines.next() != Some("") {
            return Err(bad("an empty line must follow the address"));
        }
        let statement = match lines.next() {
            Some("") => None,
            Some(s) => {
                if lines.next() != Some("") {
                    return Err(bad("an empty line must follow the statement"));
                }
                Some(s.to_owned())
            }
            None => return Err(bad("the message ends early")),
        };
        let uri = field(&mut lines, "URI")
            .ok_or_else(|| bad("no URI line"))?
            .to_owned();
        let version = field(&mut lines, "Version").ok_or_else(|| bad("no Version line"))?;
        if version != "1" {
            return Err(bad("the version must be 1"));
        }
        let chain_id = field(&mut lines, "Chain ID")
            .ok_or_else(|| bad("no Chain ID line"))?
            .parse::<u64>()
            .map_err(|_| bad("the chain id is not a number"))?;
        let nonce = field(&mut lines, "Nonce").ok_or_else(|| bad("no Nonce line"))?;
        if nonce.len() < 8 || nonce.len() > 64 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(bad("the nonce must be 8 to 64 letters and digits"));
        }
        let issued_at = time(
            "Issued At",
            field(&mut lines, "Issued At").ok_or_else(|| bad("no Issued At line"))?,
        )?;
        let expiration_time = field(&mut lines, "Expiration Time")
            .map(|t| time("Expiration Time", t))
            .transpose()?;
        let not_before = field(&mut lines, "Not Before")
            .map(|t| time("Not Before", t))
            .transpose()?;
        let request_id = field(&mut lines, "Request ID").map(str::to_owned);
        let mut resources = Vec::new();
        if lines.peek() == Some(&"Resources:") {
            lines.next();
            while let Some(r) = lines.peek().and_then(|l| l.strip_prefix("- ")) {
                resources.push(r.to_owned());
                lines.next();
            }
        }
        match lines.next() {
            None => {}
            Some("") if lines.next().is_none() => {}
            Some(other) => return Err(bad(format!("unexpected line {:?}", truncate(other)))),
        }
        Ok(Message {
            scheme,
            domain,
            address,
            statement,
            uri,
            version: version.to_owned(),
            chain_id,
            nonce: nonce.to_owned(),
            issued_at,
            expiration_time,
            not_before,
            request_id,
            resources,
        })
    }

    /// The message's text, as a wallet shows and signs it.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if let Some(scheme) = &self.scheme {
            s.push_str(scheme);
            s.push_str("://");
        }
        s.push_str(&self.domain);
        s.push_str(PREAMBLE);
        s.push('\n');
        s.push_str(&self.address.to_checksum(None));
        s.push_str("\n\n");
        if let Some(st) = &self.statement {
            s.push_str(st);
            s.push('\n');
        }
        s.push('\n');
        let rfc =
            |t: &DateTime<FixedOffset>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        s.push_str(&format!(
            "URI: {}\nVersion: {}\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.uri,
            self.version,
            self.chain_id,
            self.nonce,
            rfc(&self.issued_at)
        ));
        if let Some(t) = &self.expiration_time {
            s.push_str(&format!("\nExpiration Time: {}", rfc(t)));
        }
        if let Some(t) = &self.not_before {
            s.push_str(&format!("\nNot Before: {}", rfc(t)));
        }
        if let Some(r) = &self.request_id {
            s.push_str(&format!("\nRequest ID: {r}"));
        }
        if !self.resources.is_empty() {
            s.push_str("\nResources:");
            for r in &self.resources {
                s.push_str(&format!("\n- {r}"));
            }
        }
        s
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// What a sign-in must match.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// The API's domain (host[:port]) as browsers send it.
    pub domain: &'a str,
    /// The API's origin (`scheme://host[:port]`); the message's URI must be on it.
    pub origin: &'a str,
    /// The chain the platform runs on.
    pub chain_id: u64,
    /// Now, Unix seconds.
    pub now_s: i64,
    /// How far a clock may be off, seconds.
    pub skew_s: i64,
    /// The longest a message may be valid without an expiration time, seconds since it was
    /// issued.
    pub max_age_s: i64,
}

/// Checks a parsed message against what this API expects (everything but the nonce, which the
/// caller consumes, and the signature).
pub fn check(m: &Message, e: &Expected<'_>) -> Result<()> {
    if m.domain != e.domain {
        return Err(Error::Unauthenticated("the message is for another domain"));
    }
    let on_origin = m.uri == e.origin
        || m.uri
            .strip_prefix(e.origin)
            .is_some_and(|rest| rest.starts_with('/'));
    if !on_origin {
        return Err(Error::Unauthenticated(
            "the message's URI is not this API's",
        ));
    }
    if let Some(scheme) = &m.scheme
        && !e.origin.starts_with(&format!("{scheme}://"))
    {
        return Err(Error::Unauthenticated(
            "the message's scheme is not this API's",
        ));
    }
    if m.chain_id != e.chain_id {
        return Err(Error::Unauthenticated("the message is for another chain"));
    }
    let issued = m.issued_at.timestamp();
    if issued > e.now_s + e.skew_s {
        return Err(Error::Unauthenticated(
            "the message was issued in the future",
        ));
    }
    if let Some(nb) = &m.not_before
        && nb.timestamp() > e.now_s + e.skew_s
    {
        return Err(Error::Unauthenticated("the message is not valid yet"));
    }
    match &m.expiration_time {
        Some(exp) if exp.timestamp() <= e.now_s => {
            return Err(Error::Unauthenticated("the message has expired"));
        }
        None if e.now_s - issued > e.max_age_s => {
            return Err(Error::Unauthenticated("the message is too old"));
        }
        _ => {}
    }
    Ok(())
}

/// Checks that `signature` (65 bytes, hex) is the message's address signing its text with
/// EIP-191 `personal_sign`.
pub fn verify_signature(text: &str, address: Address, signature: &str) -> Result<()> {
    let bytes = alloy_primitives::hex::decode(signature.trim())
        .map_err(|_| Error::invalid("/signature", "not hex"))?;
    let sig = Signature::try_from(bytes.as_slice())
        .map_err(|_| Error::invalid("/signature", "not a 65-byte signature"))?;
    let signer = sig
        .recover_address_from_msg(text.as_bytes())
        .map_err(|_| Error::Unauthenticated("the signature does not verify"))?;
    if signer != address {
        return Err(Error::Unauthenticated(
            "the signature is not the message's address",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "example.com wants you to sign in with your Ethereum account:\n0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\nSign in to PropLedger.\n\nURI: https://example.com/login\nVersion: 1\nChain ID: 31337\nNonce: 32891756abc\nIssued At: 2026-12-06T16:25:24Z\nExpiration Time: 2026-12-06T16:35:24Z\nRequest ID: r-1\nResources:\n- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n- https://example.com/my-web2-claim.json";

    #[test]
    fn round_trip() {
        let m = Message::parse(SAMPLE).unwrap();
        assert_eq!(m.domain, "example.com");
        assert_eq!(m.statement.as_deref(), Some("Sign in to PropLedger."));
        assert_eq!(m.chain_id, 31337);
        assert_eq!(m.resources.len(), 2);
        assert_eq!(m.to_text(), SAMPLE);
        // No statement: two empty lines.
        let bare = "example.com wants you to sign in with your Ethereum account:\n0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: 12345678\nIssued At: 2026-12-06T16:25:24Z";
        let m = Message::parse(bare).unwrap();
        assert_eq!(m.statement, None);
        assert_eq!(m.to_text(), bare);
    }

    #[test]
    fn refusals() {
        let lower = SAMPLE.replace(
            "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
            "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",
        );
        assert!(
            Message::parse(&lower).is_err(),
            "an address that is not checksummed"
        );
        assert!(Message::parse(&SAMPLE.replace("Version: 1", "Version: 2")).is_err());
        assert!(Message::parse(&SAMPLE.replace("Nonce: 32891756abc", "Nonce: 123")).is_err());
        assert!(Message::parse(&SAMPLE.replace("Chain ID: 31337", "Chain ID: x")).is_err());
        assert!(Message::parse(&SAMPLE.replace('\n', "\r\n")).is_err());
        assert!(Message::parse(&format!("{SAMPLE}\nExtra: line")).is_err());
        assert!(Message::parse("").is_err());
        assert!(Message::parse(&"x".repeat(5000)).is_err());
    }

    #[test]
    fn checks() {
        let m = Message::parse(SAMPLE).unwrap();
        let issued = m.issued_at.timestamp();
        let e = Expected {
            domain: "example.com",
            origin: "https://example.com",
            chain_id: 31337,
            now_s: issued + 10,
            skew_s: 60,
            max_age_s: 600,
        };
        check(&m, &e).unwrap();
        assert!(
            check(
                &m,
                &Expected {
                    domain: "evil.com",
                    ..e.clone()
                }
            )
            .is_err()
        );
        assert!(
            check(
                &m,
                &Expected {
                    origin: "https://evil.com",
                    ..e.clone()
                }
            )
            .is_err()
        );
        assert!(
            check(
                &m,
                &Expected {
                    origin: "https://example.co",
                    ..e.clone()
                }
            )
            .is_err()
        );
        assert!(
            check(
                &m,
                &Expected {
                    chain_id: 1,
                    ..e.clone()
                }
            )
            .is_err()
        );
        assert!(
            check(
                &m,
                &Expected {
                    now_s: issued + 600,
                    ..e.clone()
                }
            )
            .is_err(),
            "expired"
        );
        assert!(
            check(
                &m,
                &Expected {
                    now_s: issued - 120,
                    ..e.clone()
                }
            )
            .is_err(),
            "from the future"
        );
    }
}
