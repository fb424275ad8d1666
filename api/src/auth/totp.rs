//! Time-based one-time passwords (RFC 6238): HMAC-SHA1, six digits, 30-second steps, the
//! parameters every authenticator app uses by default.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP_S: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps either side of now that are accepted, for clocks a little off.
pub const SKEW_STEPS: i64 = 1;

/// The code for a step (RFC 4226's HOTP with the step as the counter).
pub fn code_at_step(secret: &[u8], step: i64) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this cannot happen.
        return u32::MAX;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    bin % 10u32.pow(DIGITS)
}

/// The step a Unix time falls in.
pub fn step_at(unix_s: i64) -> i64 {
    unix_s.div_euclid(STEP_S)
}

/// The step within the accepted window whose code is `code`, if any. The comparison takes the
/// same time whichever step matches.
pub fn matching_step(secret: &[u8], code: &str, unix_s: i64) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_s);
    let mut found = None;
    for step in now - SKEW_STEPS..=now + SKEW_STEPS {
        let expected = format!(
            "{:0width$}",
            code_at_step(secret, step),
            width = DIGITS as usize
        );
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A secret as authenticator apps take it (base32, no padding).
pub fn base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// The `otpauth://` URI for enrolling a secret in an authenticator app (as a QR code or by
/// pasting).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_S}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (eight digits there; the last six here).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, eight) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(
                code_at_step(secret, step_at(t)),
                eight % 1_000_000,
                "t = {t}"
            );
        }
    }

    #[test]
    fn window_and_format() {
        let secret = b"12345678901234567890";
        let t = 1111111111;
        let code = format!("{:06}", code_at_step(secret, step_at(t)));
        assert_eq!(matching_step(secret, &code, t), Some(step_at(t)));
        assert_eq!(matching_step(secret, &code, t + 30), Some(step_at(t)));
        assert_eq!(matching_step(secret, &code, t + 90), None);
        assert_eq!(matching_step(secret, "12345", t), None);
        assert_eq!(matching_step(secret, "12a456", t), None);
        assert!(
            otpauth_uri("PropLedger", "ada@x", secret)
                .contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        );
    }
}
