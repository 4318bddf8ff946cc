//! The accounts service: creating and changing accounts, signing in (with its limits and
//! device cookies), bearer tokens and sessions, and watching a socket's access so that a
//! revoked token or a changed role closes it.

mod access;
mod device_cookies;
mod sign_in;
mod users;

use std::net::IpAddr;
use std::sync::Arc;

pub use access::{AccessWatch, Revoked, SocketSlot};
pub use device_cookies::{DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE_SECS};
pub use sign_in::{Attempt, MAX_USERNAME_CHARS, SignedIn};
pub use users::{AccountChange, Token};

use super::core::Core;
use super::throttle::Limiter;
use crate::config::Limits;
use crate::store::DynStore;

#[derive(Clone)]
pub struct AccountService {
    core: Core,
    limits: Arc<LoginLimits>,
    /// Signs device cookies; read from the store on first use.
    device_key: Arc<tokio::sync::OnceCell<device_cookies::DeviceKey>>,
    /// Argon2 runs, at most `limits.password_hashes` at once.
    password_checks: Arc<tokio::sync::Semaphore>,
    /// Open sockets per person, against `limits.sockets_per_user`.
    open_sockets: Arc<access::OpenSockets>,
}

/// Failed sign-ins counted against their limits (see [`super::throttle`]).
struct LoginLimits {
    /// Of clients without a device cookie for the account, by account.
    by_account: Limiter<String>,
    /// Of one browser with a device cookie, by the cookie's nonce.
    by_device: Limiter<String>,
    /// By address (see [`sign_in::address_key`]).
    by_address: Limiter<IpAddr>,
}

impl LoginLimits {
    fn new(store: &DynStore, limits: &Limits) -> Self {
        let refill = 1.0 / limits.login_refill_secs.max(1) as f64;
        let per_account = f64::from(limits.login_attempts_per_account);
        Self {
            by_account: Limiter::new(store, "sign_in_account", per_account, refill),
            by_device: Limiter::new(store, "sign_in_device", per_account, refill),
            by_address: Limiter::new(
                store,
                "sign_in_address",
                f64::from(limits.login_attempts_per_address),
                refill,
            ),
        }
    }
}

impl AccountService {
    pub(super) fn new(core: Core) -> Self {
        let limits = &core.settings.limits;
        Self {
            limits: Arc::new(LoginLimits::new(&core.store, limits)),
            password_checks: Arc::new(tokio::sync::Semaphore::new(limits.password_hashes.max(1))),
            device_key: Default::default(),
            open_sockets: Default::default(),
            core,
        }
    }
}
