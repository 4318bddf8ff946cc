//! Analysts' presence: online or offline with a capacity, set by the analyst, and lapsed
//! by a sweeper when no instance has seen a socket or a request of theirs for
//! `chat.presence_timeout_secs` (see [`crate::engine`]'s liveness).

use std::time::Duration;

use super::DeskService;
use crate::domain::Millis;
use crate::error::Result;

impl DeskService {
    /// Checks analysts' presence four times per `chat.presence_timeout_secs` on the
    /// engine's clock, until the engine stops (see [`DeskService::lapse_presence`]); nothing
    /// with a timeout of 0.
    pub fn start_presence_checks(&self) {
        let timeout = Duration::from_secs(self.core.settings.chat.presence_timeout_secs);
        if !timeout.is_zero() {
            self.check_presence_in((timeout / 4).max(Duration::from_millis(250)));
        }
    }

    fn check_presence_in(&self, every: Duration) {
        let desk = self.clone();
        self.core.after(every, async move {
            if let Err(e) = desk.lapse_presence().await {
                tracing::warn!(error = %e, "could not check analysts' presence");
            }
            desk.check_presence_in(every);
        });
    }

    /// Notes in the database when this instance last saw each online analyst, then sets
    /// offline every online analyst no instance has seen for `chat.presence_timeout_secs`
    /// (none in this process's first timeout, while consoles reconnect after a restart),
    /// and announces the desk when any lapsed. Returns how many.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn lapse_presence(&self) -> Result<usize> {
        let timeout = Duration::from_secs(self.core.settings.chat.presence_timeout_secs);
        let now = self.core.now();
        for analyst in self.core.store.online_analysts().await? {
            if let Some(at) = self.core.liveness.last_seen(analyst, now)
                && let Err(e) = self.core.store.presence_seen(analyst, at).await
            {
                // The others are still noted; this one is noted at the next check.
                tracing::warn!(%analyst, error = %e, "could not note an analyst as seen");
            }
        }
        if !self.core.liveness.settled(timeout, now) {
            return Ok(0);
        }
        let cutoff = now - Millis::try_from(timeout.as_millis()).unwrap_or(Millis::MAX);
        let lapsed = self.core.store.lapse_unseen(cutoff, now).await?;
        for analyst in &lapsed {
            tracing::info!(%analyst, "presence lapsed: no socket or request on any instance");
        }
        if !lapsed.is_empty() {
            self.core.announce_desk().await?;
        }
        Ok(lapsed.len())
    }
}
