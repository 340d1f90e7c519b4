//! Request rate limits (GCRA, `governor`) per client address and per credential, and the
//! lockout of addresses with repeated failed authentications.
//!
//! Addresses are keyed by IPv4 address and by IPv6 /64 (one host usually owns a whole /64, so
//! per-address state would let it rotate addresses at will). Both use the injected clock.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use parking_lot::Mutex;

use crate::auth::config::{LockoutConfig, RateLimitConfig};
use crate::auth::{AuthError, Clock};

/// Most addresses with failure state kept; beyond that the oldest half is forgotten.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// The injected millisecond clock as a `governor` clock.
#[derive(Clone)]
pub(crate) struct GovClock(Clock);

impl governor::clock::Clock for GovClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        let ms = u64::try_from((self.0)()).unwrap_or(0);
        Nanos::from(ms.saturating_mul(1_000_000))
    }
}

type Keyed<K> = RateLimiter<K, DashMapStateStore<K>, GovClock, NoOpMiddleware<Nanos>>;

/// The key of a client address: the IPv4 address, or the /64 of an IPv6 address.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !((1u128 << 64) - 1))),
        },
    }
}

fn limiter<K: std::hash::Hash + Eq + Clone>(rate: u32, burst: u32, clock: &GovClock) -> Option<Keyed<K>> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::dashmap_with_clock(Quota::per_second(rate).allow_burst(burst), clock.clone()))
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    window_start_ms: i64,
    count: u32,
    locked_until_ms: i64,
}

pub(crate) struct Limits {
    per_credential: Option<Keyed<String>>,
    per_address: Option<Keyed<IpAddr>>,
    gov_clock: GovClock,
    lockout: LockoutConfig,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    clock: Clock,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Limits {
    pub(crate) fn new(rate: &RateLimitConfig, lockout: &LockoutConfig, clock: Clock) -> Limits {
        let gov_clock = GovClock(clock.clone());
        Limits {
            per_credential: limiter(rate.per_token, rate.per_token_burst, &gov_clock),
            per_address: limiter(rate.per_ip, rate.per_ip_burst, &gov_clock),
            gov_clock,
            lockout: lockout.clone(),
            failures: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Lockout, then the address's rate limit.
    /// The lockout applies to requests `with_credentials` only: a lockout stops credential
    /// guessing, and requests without credentials guess nothing.
    pub(crate) fn check_address(&self, ip: IpAddr, with_credentials: bool) -> Result<(), AuthError> {
        let key = address_key(ip);
        if with_credentials && self.lockout.max_failures > 0 {
            let now = (self.clock)();
            if let Some(f) = self.failures.lock().get(&key)
                && f.locked_until_ms > now
            {
                let retry_after = Duration::from_millis(u64::try_from(f.locked_until_ms - now).unwrap_or(0));
                return Err(AuthError::LockedOut { retry_after });
            }
        }
        match &self.per_address {
            Some(l) => l.check_key(&key).map_err(|n| self.limited(n)),
            None => Ok(()),
        }
    }

    /// The rate limit of a token id or user.
    pub(crate) fn check_credential(&self, key: &str) -> Result<(), AuthError> {
        match &self.per_credential {
            // Allocates only when the key is new to the limiter's map.
            Some(l) => l.check_key(&key.to_string()).map_err(|n| self.limited(n)),
            None => Ok(()),
        }
    }

    fn limited(&self, n: governor::NotUntil<Nanos>) -> AuthError {
        let wait = n.wait_time_from(self.gov_clock.now());
        // Retry-After has whole seconds; never tell a client to retry "now".
        AuthError::RateLimited { retry_after: wait.max(Duration::from_millis(1)) }
    }

    /// Counts a failed authentication from `ip`; the `max_failures`th within `window` locks
    /// the address out for `duration`.
    pub(crate) fn record_failure(&self, ip: IpAddr) {
        if self.lockout.max_failures == 0 {
            return;
        }
        let now = (self.clock)();
        let key = address_key(ip);
        let mut map = self.failures.lock();
        if map.len() >= MAX_TRACKED_ADDRESSES && !map.contains_key(&key) {
            prune(&mut map, now, ms(self.lockout.window.0));
            if map.len() >= MAX_TRACKED_ADDRESSES {
                // Under a flood from many addresses, forget the oldest half of the windows.
                let mut starts: Vec<i64> = map.values().map(|f| f.window_start_ms).collect();
                starts.sort_unstable();
                // Non-empty: it holds at least MAX_TRACKED_ADDRESSES entries.
                let cut = starts[starts.len() / 2];
                map.retain(|_, f| f.window_start_ms > cut || f.locked_until_ms > now);
            }
        }
        let f = map.entry(key).or_insert(Failures { window_start_ms: now, count: 0, locked_until_ms: 0 });
        if now.saturating_sub(f.window_start_ms) >= ms(self.lockout.window.0) {
            *f = Failures { window_start_ms: now, count: 0, locked_until_ms: f.locked_until_ms };
        }
        f.count += 1;
        if f.count >= self.lockout.max_failures {
            f.locked_until_ms = now.saturating_add(ms(self.lockout.duration.0));
            f.count = 0;
            f.window_start_ms = now;
            tracing::warn!(address = %key, failures = self.lockout.max_failures,
                duration = %humantime::format_duration(self.lockout.duration.0), "address locked out after failed authentications");
        }
    }

    /// Forgets state that no longer limits anything.
    pub(crate) fn maintain(&self) {
        if let Some(l) = &self.per_credential {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_address {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = (self.clock)();
        prune(&mut self.failures.lock(), now, ms(self.lockout.window.0));
    }

    #[cfg(test)]
    pub(crate) fn tracked_addresses(&self) -> usize {
        self.failures.lock().len()
    }
}

fn prune(map: &mut HashMap<IpAddr, Failures>, now: i64, window_ms: i64) {
    map.retain(|_, f| f.locked_until_ms > now || now.saturating_sub(f.window_start_ms) < window_ms);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    #[test]
    fn address_keys() {
        for (ip, key) in [
            ("192.0.2.7", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
            ("2001:db8:1:2:ffff::1", "2001:db8:1:2::"),
            ("::1", "::"),
        ] {
            assert_eq!(address_key(ip.parse().unwrap()).to_string(), key, "{ip}");
        }
    }

    #[test]
    fn governor_clock_follows_the_injected_clock() {
        let now = Arc::new(AtomicI64::new(5));
        let n = now.clone();
        let c = GovClock(Arc::new(move || n.load(Ordering::Relaxed)));
        assert_eq!(c.now(), Nanos::from(5_000_000u64));
        now.store(-1, Ordering::Relaxed);
        assert_eq!(c.now(), Nanos::from(0u64), "before the epoch clamps to 0");
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up_and_state_is_pruned() {
        let now = Arc::new(AtomicI64::new(1_000_000));
        let n = now.clone();
        let lockout = LockoutConfig::default(); // 10 in 5m, 15m
        let l = Limits::new(&RateLimitConfig::default(), &lockout, Arc::new(move || n.load(Ordering::Relaxed)));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..9 {
            l.record_failure(ip);
        }
        assert!(l.check_address(ip, true).is_ok());
        now.fetch_add(300_000, Ordering::Relaxed);
        l.record_failure(ip); // a new window: 1 of 10
        assert!(l.check_address(ip, true).is_ok());
        now.fetch_add(300_000, Ordering::Relaxed);
        l.maintain();
        assert_eq!(l.tracked_addresses(), 0);
    }
}
