//! [`WorkQueue`]: the resources waiting to be reconciled, keyed by resource, as a kube-rs
//! controller's scheduler keeps them.
//!
//! - A resource is queued at most once: adding it again while it waits changes nothing.
//! - A resource runs at most once at a time: added while it runs, it runs again right after
//!   (the change may have come after the run read the store).
//! - A run that asks to be looked at later ([`Next::After`]) gets a timer; an earlier add
//!   supersedes it (the new run will ask again if it still needs to).
//! - A run that fails is retried with a per-resource exponential backoff
//!   ([`RETRY_DELAY_MIN`] doubling up to [`RETRY_DELAY_MAX`]), reset by its next success.
//!
//! Nothing here walks every resource: adding, taking and finishing are O(log n) in the number
//! of resources with pending work.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::Next;

/// First retry delay of a failed run.
pub const RETRY_DELAY_MIN: Duration = Duration::from_millis(20);
/// Longest retry delay of a run that keeps failing.
pub const RETRY_DELAY_MAX: Duration = Duration::from_secs(5);

/// What kind of reconciler a piece of work is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A node's process, role and facts (`<region>/<cache cluster id>`).
    Node,
    /// A shard's primary and failover (`<region>/<group>/<shard>`).
    Shard,
    /// A replication group's life cycle (`<region>/<group>`).
    Group,
    /// The endpoints of a group or standalone cache cluster (`<region>/<id>`).
    Routes,
    /// A snapshot (`<region>/<name>`).
    Snapshot,
    /// The automatic snapshots of a group or standalone cache cluster (`<region>/<id>`).
    Automatic,
    /// The online resharding of a cluster-mode group (`<region>/<group>`).
    Reshard,
    /// A group's members carried into cluster mode (`<region>/<group>`).
    ClusterMode,
}

impl Kind {
    /// Its name in metrics and logs (`node`, `shard`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Shard => "shard",
            Kind::Group => "group",
            Kind::Routes => "routes",
            Kind::Snapshot => "snapshot",
            Kind::Automatic => "automatic",
            Kind::Reshard => "reshard",
            Kind::ClusterMode => "cluster_mode",
        }
    }
}

/// One resource to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Work {
    /// Which reconciler.
    pub kind: Kind,
    /// The resource's store key.
    pub key: String,
}

impl Work {
    /// Work of `kind` on the resource at `key`.
    pub fn new(kind: Kind, key: impl Into<String>) -> Self {
        Self {
            kind,
            key: key.into(),
        }
    }
}

impl std::fmt::Display for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}:{}", self.kind, self.key)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The reconciler finished its step and said what it needs next.
    Ran(Next),
    /// The step failed; it is retried with backoff.
    Failed,
}

#[derive(Default)]
struct State {
    /// Work ready to run, in arrival order.
    ready: VecDeque<Work>,
    /// The members of `ready`.
    queued: HashSet<Work>,
    /// Work being run now.
    running: HashSet<Work>,
    /// Work added while it ran: run again when it finishes.
    again: HashSet<Work>,
    /// Timers by deadline (the sequence number keeps equal deadlines apart).
    timers: BTreeSet<(Instant, u64, Work)>,
    /// The timer of each work that has one.
    timer_of: HashMap<Work, (Instant, u64)>,
    /// Failures in a row of each work that last failed.
    failures: HashMap<Work, u32>,
    /// Source of timer sequence numbers.
    sequence: u64,
}

impl State {
    fn push_ready(&mut self, work: Work) {
        if self.queued.insert(work.clone()) {
            self.ready.push_back(work);
        }
    }

    fn cancel_timer(&mut self, work: &Work) {
        if let Some((at, seq)) = self.timer_of.remove(work) {
            self.timers.remove(&(at, seq, work.clone()));
        }
    }

    fn set_timer(&mut self, work: Work, at: Instant) {
        if let Some((current, _)) = self.timer_of.get(&work) {
            if *current <= at {
                return;
            }
        }
        self.cancel_timer(&work);
        self.sequence += 1;
        self.timer_of.insert(work.clone(), (at, self.sequence));
        self.timers.insert((at, self.sequence, work));
    }

    /// Moves every timer due at `now` to the ready queue; returns the next deadline.
    fn fire_timers(&mut self, now: Instant) -> Option<Instant> {
        while let Some((at, _, _)) = self.timers.first() {
            if *at > now {
                return Some(*at);
            }
            let (_, _, work) = self.timers.pop_first().expect("a first timer exists");
            self.timer_of.remove(&work);
            if self.running.contains(&work) {
                self.again.insert(work);
            } else {
                self.push_ready(work);
            }
        }
        None
    }
}

/// The queue; one consumer ([`WorkQueue::next`]) and any number of producers.
#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    /// Woken when work becomes ready or a timer is set that may be due earlier.
    changed: Notify,
}

impl std::fmt::Debug for WorkQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("WorkQueue")
            .field("ready", &state.ready.len())
            .field("running", &state.running.len())
            .field("timers", &state.timers.len())
            .finish()
    }
}

impl WorkQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation keeps the state consistent before it can panic; a poisoned lock is
        // still a usable queue.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `work` to run as soon as possible.
    pub fn add(&self, work: Work) {
        {
            let mut state = self.lock();
            state.cancel_timer(&work);
            if state.running.contains(&work) {
                state.again.insert(work);
                return;
            }
            state.push_ready(work);
        }
        self.changed.notify_one();
    }

    /// Queues every work of `works`.
    pub fn add_all(&self, works: impl IntoIterator<Item = Work>) {
        for work in works {
            self.add(work);
        }
    }

    /// Queues `work` to run after `delay` (unless it is queued or timed sooner already).
    pub fn add_after(&self, work: Work, delay: Duration) {
        {
            let mut state = self.lock();
            if state.queued.contains(&work) {
                return;
            }
            state.set_timer(work, Instant::now() + delay);
        }
        self.changed.notify_one();
    }

    /// The next work to run, waiting until one is ready; it counts as running until
    /// [`WorkQueue::done`].
    ///
    /// # Cancel safety
    /// Cancel safe: work is only taken in the poll that returns it.
    pub async fn next(&self) -> Work {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let deadline = {
                let mut state = self.lock();
                let deadline = state.fire_timers(Instant::now());
                if let Some(work) = state.ready.pop_front() {
                    state.queued.remove(&work);
                    state.running.insert(work.clone());
                    return work;
                }
                deadline
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Records how the run of `work` ended and schedules what comes next.
    pub fn done(&self, work: &Work, outcome: Outcome) {
        {
            let mut state = self.lock();
            state.running.remove(work);
            match outcome {
                Outcome::Ran(next) => {
                    state.failures.remove(work);
                    if let Next::After(delay) = next {
                        state.set_timer(work.clone(), Instant::now() + delay);
                    }
                }
                Outcome::Failed => {
                    let failures = state.failures.entry(work.clone()).or_insert(0);
                    *failures = failures.saturating_add(1);
                    let delay = retry_delay(*failures);
                    state.set_timer(work.clone(), Instant::now() + delay);
                }
            }
            if state.again.remove(work) {
                state.cancel_timer(work);
                state.push_ready(work.clone());
            }
        }
        self.changed.notify_one();
    }

    /// Work that is ready, running or timed (for tests and diagnostics).
    pub fn pending(&self) -> usize {
        let state = self.lock();
        state.ready.len() + state.running.len() + state.timers.len()
    }
}

/// The backoff after `failures` failures in a row.
pub fn retry_delay(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    RETRY_DELAY_MIN.saturating_mul(factor).min(RETRY_DELAY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str) -> Work {
        Work::new(Kind::Node, key)
    }

    // Goal: a resource is queued once however often it is added, runs once at a time, and one
    // added while it runs runs again right after; timers fire in deadline order and an add
    // supersedes a timer. Method: drive the queue by hand on a paused clock.
    #[tokio::test(start_paused = true)]
    async fn dedupes_reruns_and_times() {
        let q = WorkQueue::default();
        q.add(node("a"));
        q.add(node("a"));
        q.add(node("b"));
        assert_eq!(q.next().await, node("a"));
        q.add(node("a")); // while it runs
        assert_eq!(q.next().await, node("b"));
        q.done(&node("b"), Outcome::Ran(Next::Done));
        q.done(&node("a"), Outcome::Ran(Next::Done));
        assert_eq!(q.next().await, node("a"), "added while running: again");
        q.done(
            &node("a"),
            Outcome::Ran(Next::After(Duration::from_millis(50))),
        );
        q.add_after(node("c"), Duration::from_millis(10));
        let started = Instant::now();
        assert_eq!(q.next().await, node("c"));
        assert_eq!(q.next().await, node("a"));
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        q.done(
            &node("a"),
            Outcome::Ran(Next::After(Duration::from_secs(60))),
        );
        q.add(node("a"));
        let started = Instant::now();
        assert_eq!(q.next().await, node("a"));
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "the add superseded the timer"
        );
    }

    // Goal: failures back off exponentially up to the bound and a success resets them.
    #[tokio::test(start_paused = true)]
    async fn failures_back_off() {
        assert_eq!(retry_delay(1), RETRY_DELAY_MIN);
        assert_eq!(retry_delay(2), RETRY_DELAY_MIN * 2);
        assert_eq!(retry_delay(30), RETRY_DELAY_MAX);
        let q = WorkQueue::default();
        q.add(node("a"));
        let mut w = q.next().await;
        for failures in 1..=3u32 {
            let started = Instant::now();
            q.done(&w, Outcome::Failed);
            w = q.next().await;
            assert_eq!(w, node("a"));
            assert_eq!(started.elapsed(), retry_delay(failures));
        }
        q.done(&w, Outcome::Ran(Next::After(Duration::ZERO)));
        let w = q.next().await;
        let started = Instant::now();
        q.done(&w, Outcome::Failed);
        q.next().await;
        assert_eq!(started.elapsed(), RETRY_DELAY_MIN, "reset by the success");
    }
}
