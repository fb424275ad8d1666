//! Request rate limits (GCRA, from `governor`): per client address for every request, per
//! credential for authenticated ones, and a much stricter one per client address for routes
//! that take no credential (signing in). Limits are kept per process: each replica enforces its
//! own, which bounds what one client can make any replica do.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::{Error, Result};

/// A rate: `per_period` requests each `period`, with bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per period.
    pub per_period: u32,
    /// The period.
    pub period: Duration,
    /// The largest burst.
    pub burst: u32,
}

impl Rate {
    /// `n` per second, bursts of `burst`.
    pub const fn per_second(n: u32, burst: u32) -> Rate {
        Rate {
            per_period: n,
            period: Duration::from_secs(1),
            burst,
        }
    }

    /// `n` per minute, bursts of `burst`.
    pub const fn per_minute(n: u32, burst: u32) -> Rate {
        Rate {
            per_period: n,
            period: Duration::from_secs(60),
            burst,
        }
    }

    fn quota(self) -> Option<Quota> {
        let n = NonZeroU32::new(self.per_period)?;
        let burst = NonZeroU32::new(self.burst.max(1))?;
        Quota::with_period(self.period / n.get()).map(|q| q.allow_burst(burst))
    }
}

/// The limits; `None` turns one off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Every request, per client address.
    pub per_client: Option<Rate>,
    /// Authenticated requests, per credential.
    pub per_credential: Option<Rate>,
    /// Routes without a credential (signing in), per client address.
    pub unauthenticated: Option<Rate>,
}

impl Default for RateLimits {
    /// 200 requests/s per address (bursts of 400), 100/s per credential (bursts of 200), and 10
    /// sign-in attempts a minute per address (bursts of 5).
    fn default() -> Self {
        RateLimits {
            per_client: Some(Rate::per_second(200, 400)),
            per_credential: Some(Rate::per_second(100, 200)),
            unauthenticated: Some(Rate::per_minute(10, 5)),
        }
    }
}

impl RateLimits {
    /// No limits (for benchmarks and tests that measure something else).
    pub fn off() -> Self {
        RateLimits {
            per_client: None,
            per_credential: None,
            unauthenticated: None,
        }
    }
}

/// Most keys a limiter keeps before it forgets them all (a flood of new addresses or made-up
/// tokens cannot grow memory without bound).
const MAX_KEYS: usize = 100_000;

/// The limiters of one process.
pub struct RateLimiter {
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_credential: Option<DefaultKeyedRateLimiter<u64>>,
    unauthenticated: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn check<K: Hash + Eq + Clone>(
    limiter: &Option<DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<()> {
    let Some(l) = limiter else { return Ok(()) };
    if l.len() > MAX_KEYS {
        l.retain_recent();
    }
    l.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Error::RateLimited {
            retry_after_s: wait.as_secs().max(1),
        }
    })
}

fn limiter<K: Hash + Eq + Clone>(r: Option<Rate>) -> Option<DefaultKeyedRateLimiter<K>> {
    r.and_then(Rate::quota).map(DefaultKeyedRateLimiter::keyed)
}

impl RateLimiter {
    /// Limiters for the limits.
    pub fn new(limits: &RateLimits) -> Self {
        RateLimiter {
            per_client: limiter(limits.per_client),
            per_credential: limiter(limits.per_credential),
            unauthenticated: limiter(limits.unauthenticated),
        }
    }

    /// Counts a request from an address.
    pub fn client(&self, ip: IpAddr) -> Result<()> {
        check(&self.per_client, &ip)
    }

    /// Counts a request with a bearer credential (keyed by a hash of it: no token is kept).
    pub fn credential(&self, token: &str) -> Result<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        token.hash(&mut h);
        check(&self.per_credential, &h.finish())
    }

    /// Counts a request to a route that takes no credential.
    pub fn unauthenticated(&self, ip: IpAddr) -> Result<()> {
        check(&self.unauthenticated, &ip)
    }

    /// Forgets keys that are back to a full allowance.
    pub fn trim(&self) {
        if let Some(l) = &self.per_client {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_credential {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.unauthenticated {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}
