//! Work the engine does beside requests (agent assist): tracked, so that shutdown
//! can stop it and wait for it, and never left queued behind a draining server. Before,
//! a loaded server queued one assist ranking per user message on the blocking pool, and
//! a SIGTERM waited for all of them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use thread_priority::ThreadPriority;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

pub(super) struct Background {
    stop: CancellationToken,
    tasks: TaskTracker,
    /// Threads for rankings nobody waits on.
    pub(super) low_priority: LowPriority,
    /// One per low-priority thread: held by a whole piece of background work (its reads
    /// as well as its ranking), so that a burst of it queues here instead of reading the
    /// database beside the message path all at once.
    turns: Arc<Semaphore>,
}

impl Background {
    /// With `threads` low-priority ranking threads.
    ///
    /// # Errors
    /// The threads cannot be started.
    pub(super) fn new(threads: usize) -> anyhow::Result<Self> {
        Ok(Self {
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            low_priority: LowPriority::new(threads)?,
            turns: Arc::new(Semaphore::new(threads.clamp(1, 64))),
        })
    }

    /// Waits for a turn to do background work; `None` once shutdown has closed the turns.
    pub(super) async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.turns.acquire().await.ok()
    }

    /// Runs `task` beside requests; it should end soon after [`Self::stopping`] completes.
    pub(super) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Completes once shutdown has begun.
    pub(super) fn stopping(&self) -> WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    /// Tells background work to stop and waits up to `limit` for it and for the
    /// low-priority threads to finish the job in hand; returns whether all finished. Can
    /// be called again.
    pub(super) async fn stop(&self, limit: Duration) -> bool {
        self.stop.cancel();
        self.turns.close();
        self.tasks.close();
        tokio::time::timeout(limit, async {
            self.tasks.wait().await;
            self.low_priority.finish().await;
        })
        .await
        .is_ok()
    }
}

/// Threads for rankings nobody waits on (agent assist), at the lowest scheduling priority
/// there is (Linux `SCHED_IDLE`): they run on what the message path leaves idle, and
/// give way the moment one of its threads wakes. A loaded desk gets fewer assist updates,
/// never slower messages. At most one job per thread is handed over; the rest wait as
/// futures, which shutdown drops.
pub(super) struct LowPriority {
    pool: rayon::ThreadPool,
    threads: u32,
    /// One per thread, held by the job running on it.
    permits: Arc<Semaphore>,
}

impl LowPriority {
    /// A pool of `threads` (at least 1).
    ///
    /// # Errors
    /// The threads cannot be started.
    pub(super) fn new(threads: usize) -> anyhow::Result<Self> {
        let threads = threads.clamp(1, 64);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("chatdesk-beside-{i}"))
            .start_handler(|_| lower_priority())
            .build()?;
        Ok(Self {
            pool,
            threads: threads as u32,
            permits: Arc::new(Semaphore::new(threads)),
        })
    }

    /// Runs `job` on the pool once a thread is free; `None` if the pool has gone.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let (done, result) = oneshot::channel();
        self.pool.spawn(move || {
            let _ = done.send(job());
            drop(permit);
        });
        result.await.ok()
    }

    /// Takes no more jobs and waits until the ones running have finished: the process
    /// must not exit while a thread is inside libtorch (its teardown would pull the model
    /// from under it).
    async fn finish(&self) {
        if let Ok(all) = self.permits.acquire_many(self.threads).await {
            all.forget();
        }
        self.permits.close();
    }
}

/// Moves the calling thread to `SCHED_IDLE` (Linux), or the lowest nice value elsewhere.
/// Lowering a priority needs no privileges; a failure is logged and the thread runs on.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    let lowered = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Min,
        thread_priority::ThreadSchedulePolicy::Normal(
            thread_priority::NormalThreadSchedulePolicy::Idle,
        ),
    );
    #[cfg(not(target_os = "linux"))]
    let lowered = thread_priority::set_current_thread_priority(ThreadPriority::Min);
    if let Err(e) = lowered {
        tracing::warn!(error = ?e, "could not lower a background thread's priority");
    }
}
