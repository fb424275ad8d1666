//! Credentials out of logs and error messages.
//!
//! Provider URLs often carry an API key (`https://mainnet.infura.io/v3/<key>`,
//! `https://eth-mainnet.g.alchemy.com/v2/<key>`, `?apikey=<key>`, `https://user:<password>@...`)
//! and database URLs a password (`postgres://user:<password>@host/db`). [`redact_url`] masks
//! those parts for display; a [`Redactor`] learns the secret parts of URLs (and any other
//! secret it is given) and masks them wherever they appear in a text, such as an error message
//! that a library built with the URL inside it.
//!
//! What counts as secret in a URL: the password; every path segment that looks like a key (16
//! characters or more of letters, digits, `-`, `_`, `.` or `~`, at least one a digit); and the
//! value of every query parameter whose name mentions a key, token, secret, password,
//! signature or credential, or whose value looks like a key.

use std::borrow::Cow;

/// What a masked part is replaced with.
pub const MASK: &str = "***";

/// The shortest secret a [`Redactor`] masks in free text: masking shorter ones would garble
/// every log line (such a secret is still masked inside URLs by [`redact_url`]).
pub const MIN_SCRUBBED_LEN: usize = 4;

/// `url` with its credentials and API keys masked. Text that does not parse as a URL is
/// replaced whole: it cannot be told apart from a secret.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<unparseable url>".to_owned();
    };
    let secrets = UrlSecrets::of(&parsed);
    if secrets.is_empty() {
        return url.to_owned();
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(MASK));
    }
    if !secrets.segments.is_empty() {
        let segments: Vec<String> = parsed
            .path_segments()
            .map(|s| {
                s.map(|segment| {
                    if looks_like_key(segment) {
                        MASK.to_owned()
                    } else {
                        segment.to_owned()
                    }
                })
                .collect()
            })
            .unwrap_or_default();
        if let Ok(mut path) = parsed.path_segments_mut() {
            path.clear().extend(segments);
        }
    }
    if !secrets.query_values.is_empty() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_pair(&k, &v) {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // The URL library writes the mask percent-encoded in some positions.
    parsed.to_string().replace("%2A%2A%2A", MASK)
}

/// The secret parts of one URL.
#[derive(Default)]
struct UrlSecrets {
    password: Option<String>,
    segments: Vec<String>,
    query_values: Vec<String>,
}

impl UrlSecrets {
    fn of(url: &url::Url) -> Self {
        let mut out = Self {
            password: url.password().map(str::to_owned),
            ..Self::default()
        };
        if let Some(segments) = url.path_segments() {
            out.segments = segments
                .filter(|s| looks_like_key(s))
                .map(str::to_owned)
                .collect();
        }
        out.query_values = url
            .query_pairs()
            .filter(|(k, v)| is_secret_pair(k, v) && !v.is_empty())
            .map(|(_, v)| v.into_owned())
            .collect();
        out
    }

    fn is_empty(&self) -> bool {
        self.password.is_none() && self.segments.is_empty() && self.query_values.is_empty()
    }
}

fn looks_like_key(s: &str) -> bool {
    s.len() >= 16
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        && s.bytes().any(|b| b.is_ascii_digit())
}

fn is_secret_pair(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "key",
        "token",
        "secret",
        "pass",
        "pwd",
        "auth",
        "sig",
        "credential",
    ]
    .iter()
    .any(|word| name.contains(word))
        || looks_like_key(value)
}

/// Masks known secrets in text. Cheap to clone; build one per process from its configuration
/// and pass every message that may quote a URL or key through [`Redactor::scrub`].
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that knows no secrets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A redactor for the secret parts of `url`.
    pub fn for_url(url: &str) -> Self {
        let mut r = Self::new();
        r.add_url(url);
        r
    }

    /// Learns a secret (ignored when shorter than [`MIN_SCRUBBED_LEN`]).
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_SCRUBBED_LEN || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        self.secrets.push(secret.to_owned());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Learns the secret parts of `url`, as written and percent-decoded. Text that does not
    /// parse as a URL is learnt whole.
    pub fn add_url(&mut self, url: &str) {
        let Ok(parsed) = url::Url::parse(url) else {
            self.add(url);
            return;
        };
        let secrets = UrlSecrets::of(&parsed);
        let found = secrets
            .password
            .into_iter()
            .chain(secrets.segments)
            .chain(secrets.query_values);
        for secret in found {
            self.add(&secret);
            if let Ok(decoded) = url_decode(&secret) {
                self.add(&decoded);
            }
            // Query values come decoded; URLs quote them encoded.
            self.add(&url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>());
        }
    }

    /// Learns everything `other` knows.
    pub fn extend(&mut self, other: &Redactor) {
        for s in &other.secrets {
            self.add(s);
        }
    }

    /// Whether it knows no secret.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known secret replaced by [`MASK`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }
}

fn url_decode(s: &str) -> Result<String, std::str::Utf8Error> {
    let bytes: Vec<u8> = url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    std::str::from_utf8(&bytes).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_and_database_urls_lose_their_secrets() {
        let cases = [
            (
                "https://mainnet.infura.io/v3/9aa3d95b3bc440fa88ea12eaa4456161",
                "https://mainnet.infura.io/v3/***",
            ),
            (
                "https://eth-mainnet.g.alchemy.com/v2/Ab3dEfGh1jKlMnOpQr5tUvWx",
                "https://eth-mainnet.g.alchemy.com/v2/***",
            ),
            (
                "wss://node.example/rpc?apikey=s3cr3t&chain=1",
                "wss://node.example/rpc?apikey=***&chain=1",
            ),
            (
                "postgres://books:p%40ss@db.internal:5432/propledger?sslmode=verify-full",
                "postgres://books:***@db.internal:5432/propledger?sslmode=verify-full",
            ),
            ("http://127.0.0.1:8545/", "http://127.0.0.1:8545/"),
            ("sqlite:data/ledger.db", "sqlite:data/ledger.db"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        assert_eq!(redact_url("not a url at all"), "<unparseable url>");
    }

    #[test]
    fn a_redactor_masks_url_secrets_wherever_they_appear() {
        let mut r = Redactor::for_url(
            "https://user:pa%24%24word@node.example/v3/9aa3d95b3bc440fa88ea12eaa4456161?token=t0k3n-abc",
        );
        r.add("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
        r.add("pw");
        let text = "error sending request for url (https://user:pa%24%24word@node.example/v3/\
                    9aa3d95b3bc440fa88ea12eaa4456161?token=t0k3n-abc): pa$$word t0k3n-abc \
                    key 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 pw";
        let scrubbed = r.scrub(text);
        for secret in [
            "pa%24%24word",
            "pa$$word",
            "9aa3d95b3bc440fa88ea12eaa4456161",
            "t0k3n-abc",
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        ] {
            assert!(!scrubbed.contains(secret), "{secret} left in {scrubbed}");
        }
        assert!(
            scrubbed.ends_with(" pw"),
            "short secrets are left: {scrubbed}"
        );
        assert!(matches!(r.scrub("nothing here"), Cow::Borrowed(_)));
    }
}
