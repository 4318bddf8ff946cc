//! Sockets outlive the request that opened them, so the right they were opened with is
//! watched for as long as they stay open: the session's expiry, and every change to the
//! account (sign-out, disabling, revoked tokens, a removed role), which the engine
//! announces on the bus under [`Topic::Account`] once it has committed. A socket's writer
//! waits on [`AccessWatch::revoked`] to close it; its reader calls [`AccessWatch::check`]
//! before storing each frame, so nothing sent after a sign-out is kept.
//!
//! Also how many sockets one person may hold open ([`SocketSlot`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::{self, error::TryRecvError};

use super::AccountService;
use super::users::hash_token;
use crate::bus::{self, EventBus, Topic};
use crate::domain::Millis;
use crate::domain::ids::UserId;
use crate::domain::user::Role;
use crate::engine::clock::Clock;
use crate::error::Error;
use crate::events::Frame;
use crate::store::{DynStore, TokenOwner};

/// After a failed re-check (the database out of reach), how long before the next.
const RECHECK_BACKOFF: Duration = Duration::from_secs(1);

/// Why a socket's right to stay open has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// The session or token is gone: signed out, expired, revoked, or the account
    /// disabled.
    SignedOut,
    /// The account lost a role it had when the socket was opened.
    RoleLost,
}

impl Revoked {
    /// Words for the close frame (at most 123 bytes, RFC 6455 §5.5).
    pub fn reason(self) -> &'static str {
        match self {
            Self::SignedOut => "signed out: sign in again to go on",
            Self::RoleLost => "your roles changed: reload to go on",
        }
    }
}

/// What one socket (or one half of it) watches to know when it must close.
pub struct AccessWatch {
    clock: Arc<dyn Clock>,
    store: DynStore,
    bus: Arc<dyn EventBus>,
    token_hash: String,
    user_id: UserId,
    roles: Vec<Role>,
    expires_at: Option<Millis>,
    changes: broadcast::Receiver<Frame>,
    /// Something may have changed since the last look at the store. True at first: the
    /// account may have changed between the sign-in check and the subscription.
    stale: bool,
}

impl AccountService {
    /// Starts watching the right of a socket opened with `token`, which signs in `owner`.
    pub fn watch_access(&self, token: &str, owner: &TokenOwner) -> AccessWatch {
        AccessWatch {
            clock: self.core.clock.clone(),
            store: self.core.store.clone(),
            bus: self.core.bus.clone(),
            token_hash: hash_token(token),
            user_id: owner.user.id,
            roles: owner.user.roles.clone(),
            expires_at: owner.expires_at,
            changes: self.core.bus.subscribe(Topic::Account(owner.user.id)),
            stale: true,
        }
    }

    /// A place for one more socket of `user`; `None` when they already hold
    /// `limits.sockets_per_user`. The place is freed when the slot is dropped.
    pub fn socket_slot(&self, user: UserId) -> Option<SocketSlot> {
        let mut open = self.open_sockets.0.lock().expect("sockets lock");
        let count = open.entry(user).or_default();
        if *count >= self.core.settings.limits.sockets_per_user {
            if *count == 0 {
                open.remove(&user);
            }
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            sockets: self.open_sockets.clone(),
            user,
        })
    }
}

impl AccessWatch {
    fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Whether the socket may still act: `Ok` unless the session has expired or, when the
    /// account changed since the last look, the store no longer signs the token in or
    /// the account lost a role. Cheap when nothing changed (no query). A store that cannot
    /// be reached leaves the socket open and the question open for the next call.
    ///
    /// # Errors
    /// Why the socket must close.
    pub async fn check(&mut self) -> Result<(), Revoked> {
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = self.changes.try_recv() {
            self.stale = true;
        }
        if self.expires_at.is_some_and(|at| self.now() >= at) {
            return Err(Revoked::SignedOut);
        }
        if !self.stale {
            return Ok(());
        }
        match self.store.user_by_token(&self.token_hash, self.now()).await {
            Ok(Some(owner)) => {
                if !self.roles.iter().all(|r| owner.user.roles.contains(r)) {
                    return Err(Revoked::RoleLost);
                }
                self.expires_at = owner.expires_at;
                self.stale = false;
                Ok(())
            }
            Ok(None) => Err(Revoked::SignedOut),
            Err(e) => {
                tracing::warn!(user_id = %self.user_id, error = %Error::from(e).chain(), "could not re-check a socket's access");
                Ok(())
            }
        }
    }

    /// Completes when the socket must close: the session expires or a change to the
    /// account takes the right away. Keep one such future for the socket's life (it
    /// re-checks the store on each change).
    pub async fn revoked(&mut self) -> Revoked {
        loop {
            if let Err(revoked) = self.check().await {
                return revoked;
            }
            if self.stale {
                tokio::time::sleep(RECHECK_BACKOFF).await;
                continue;
            }
            let until_expiry = self
                .expires_at
                .map(|at| Duration::from_millis(u64::try_from(at - self.now()).unwrap_or(0)));
            let expiry = async {
                match until_expiry {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = self.changes.recv() => match changed {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.stale = true,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                },
                () = expiry => {}
            }
        }
    }
}

impl Drop for AccessWatch {
    fn drop(&mut self) {
        bus::unsubscribe(&*self.bus, Topic::Account(self.user_id), &mut self.changes);
    }
}

/// Open sockets per person.
#[derive(Default)]
pub(super) struct OpenSockets(Mutex<HashMap<UserId, usize>>);

/// One person's place for an open socket, given back when dropped.
pub struct SocketSlot {
    sockets: Arc<OpenSockets>,
    user: UserId,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.0.lock().expect("sockets lock");
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}
