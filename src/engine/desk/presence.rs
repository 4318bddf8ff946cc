//! Analysts' presence: online or offline with a capacity, set by the analyst, and lapsed
//! by a sweeper when they have had no socket and made no request for
//! `chat.presence_timeout_secs` (see [`crate::engine`]'s liveness).

use std::time::Duration;

use super::DeskService;
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

    /// Sets offline every online analyst whose presence has lapsed, and announces the
    /// desk when any did. Returns how many.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn lapse_presence(&self) -> Result<usize> {
        let timeout = Duration::from_secs(self.core.settings.chat.presence_timeout_secs);
        let mut lapsed = 0;
        for analyst in self.core.store.online_analysts().await? {
            if self.core.liveness.lapsed(analyst, timeout, self.core.now())
                && self
                    .core
                    .store
                    .lapse_presence(analyst, self.core.now())
                    .await?
            {
                tracing::info!(%analyst, "presence lapsed: no socket or request");
                lapsed += 1;
            }
        }
        if lapsed > 0 {
            self.core.announce_desk().await?;
        }
        Ok(lapsed)
    }
}
