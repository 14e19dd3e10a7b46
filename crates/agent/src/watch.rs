//! Process events as they happen. Every node process the agent starts or adopts is watched
//! until it exits, and what happens to it (exit, stop, continue) is broadcast as a
//! [`NodeEvent`] to every receiver from [`Agent::process_events`](crate::Agent::process_events),
//! so the control plane learns of a dead or frozen node from the process itself instead of
//! polling every node's liveness: an idle host with a thousand nodes does next to nothing.
//!
//! # How each case is detected
//!
//! - **Exit, any process: heard at once.** A pidfd (`pidfd_open(2)`) registered with tokio's
//!   reactor becomes readable when the process exits, child or not.
//! - **Stop and continue of our child: heard at once.** SIGCHLD, then
//!   `waitid(P_ALL, .., WSTOPPED | WCONTINUED | WNOHANG)` until no report is left.
//! - **Stop and continue of a process that is not our child: checked on a timer.** The state
//!   letter of `/proc/<pid>/stat` (`T`, `t`) is read every [`FROZEN_CHECK_INTERVAL`].
//! - **Exit without a pidfd: checked on a timer.** [`ProcessHandle::is_alive`] every
//!   [`EXIT_POLL_FALLBACK_INTERVAL`].
//!
//! Why the timers: the kernel reports a process's stops and continues (`CLD_STOPPED`,
//! `CLD_CONTINUED`) only to its parent, through SIGCHLD and `wait`. Nodes this process spawned
//! are its children; a node adopted after a Ferrocache restart was reparented to init (or a
//! subreaper) when the old Ferrocache died, and nothing reports its stops to anyone else: a
//! pidfd only signals exit, and `ptrace` would change the process it watches. So its state is
//! read on a slow timer; a frozen node is a slow failure anyway (clients time out after
//! seconds). A pidfd works for any process we may signal, child or not, on Linux 5.3 and
//! later; where `pidfd_open` fails (`ENOSYS` before 5.3, `EPERM` in some sandboxes, `EMFILE`)
//! that process is polled instead. [`Agent::without_pidfd`](crate::Agent::without_pidfd)
//! forces the fallback, for its tests.
//!
//! # Children and tokio
//!
//! The `waitid` above has no `WEXITED`, so it never reaps: tokio keeps reaping the children it
//! spawned (through its own pidfd, or its orphan queue on SIGCHLD), and a node we spawned
//! leaves no zombie. tokio installs its SIGCHLD handler (through `signal-hook-registry`) with
//! `SA_RESTART | SA_SIGINFO` and without `SA_NOCLDSTOP`, so stops do raise SIGCHLD; this is
//! read back with `sigaction(2)` when the collector starts, and if something has set
//! `SA_NOCLDSTOP` (or ignores SIGCHLD) children are checked on the timer like adopted
//! processes. `waitid(P_ALL)` is process-wide and consumes each report once, so the table from
//! a child's PID to its watchers is process-wide too: several agents in one process (tests)
//! each run a collector, and whichever collects a report hands it to the right watchers. Stop
//! and continue reports of children that are not nodes are consumed and dropped; nothing in
//! Ferrocache waits for them (std and tokio only wait for exits).
//!
//! # Guarantees
//!
//! - One watch per process (PID and start time, [`ProcessHandle`]): adopting a watched process
//!   again adds nothing. A node's new process gets a watch of its own; the old process's watch
//!   ends when that process exits, and its `Exited` carries the old PID, which the consumer
//!   compares with the node's current one.
//! - One task per watched process, the only writer of that process's events, so they arrive in
//!   the order they happened and `Exited` comes last. Stops and continues are transitions: a
//!   stop and continue quicker than they are seen may yield neither (the kernel itself replaces
//!   a pending stop report with the continue).
//! - A process that exits between being found alive and the pidfd being opened, or whose PID
//!   was reused meanwhile, is reported `Exited` at once: liveness (with the start time) is
//!   checked after opening.
//! - The task ends when its process exits; [`Agent::stop_watching`](crate::Agent::stop_watching)
//!   or dropping the agent ends them all.
//! - The channel holds [`PROCESS_EVENTS_CAPACITY`] events; a receiver that falls further
//!   behind gets `RecvError::Lagged` and must treat every node as possibly changed (check each
//!   once, with [`Agent::liveness`](crate::Agent::liveness)).
//!
//! # Cost
//!
//! An idle child node costs one file descriptor (its pidfd) and a parked task: no timer, no
//! system call. An adopted node, which is every node after a Ferrocache restart until it is
//! restarted itself, adds one read of `/proc/<pid>/stat` per [`FROZEN_CHECK_INTERVAL`]. One
//! descriptor per node counts against `RLIMIT_NOFILE`: a process for which `pidfd_open` fails
//! with `EMFILE` is polled like on a kernel without pidfds (the first failure is a warning).

use std::collections::HashMap;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::signal::unix::{signal, Signal as SignalStream, SignalKind};
use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, warn};

use crate::process::{is_stopped, proc_parent, ProcessHandle};

/// Events the broadcast channel holds for its slowest receiver. A host-wide failure produces
/// one event per node (a few hundred to a thousand), so this leaves room for several at once
/// before a receiver lags.
pub const PROCESS_EVENTS_CAPACITY: usize = 4096;
/// How often a process whose stops cannot be heard (not our child) has its state read. Slow
/// because it is per process: 1000 adopted nodes cost 1000 small `/proc` reads a second.
pub const FROZEN_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How often a process without a pidfd is checked for exit. This is the fallback's detection
/// delay, and its cost: two `/proc` reads and a `kill(pid, 0)` per process per interval.
pub const EXIT_POLL_FALLBACK_INTERVAL: Duration = Duration::from_millis(100);
/// Most child reports collected per SIGCHLD before the collector yields to other tasks (and
/// then goes on collecting); a bound on one pass, not on what is collected.
pub const CHILD_REPORTS_PER_WAKE_MAX: usize = 1024;

/// What happened to a node's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessEvent {
    /// The process exited: crashed, killed, or stopped through the agent (the consumer knows
    /// what it asked for). The last event of a process.
    Exited,
    /// The process was stopped by a signal (SIGSTOP, a debugger) and answers nothing until
    /// continued: a frozen node.
    Stopped,
    /// A stopped process runs again.
    Continued,
}

/// One event: which node, which process, what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// The node the process runs.
    pub node_id: String,
    /// The process, so a consumer can tell an event of a node's old process from one of its
    /// current process.
    pub pid: u32,
    /// What happened.
    pub event: ProcessEvent,
}

/// Source of unique watch ids, process-wide because the child table is.
static NEXT_WATCH_ID: AtomicU64 = AtomicU64::new(1);
/// Set once `pidfd_open` failed, so the fallback is announced once, not for every node.
static PIDFD_FALLBACK_ANNOUNCED: AtomicBool = AtomicBool::new(false);

/// Our children's watchers by PID. Process-wide, like `waitid(P_ALL)` itself: a collector
/// may collect a report meant for another agent's watcher.
static CHILD_WATCHES: LazyLock<Mutex<HashMap<u32, Vec<ChildWatch>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Where a collector sends the stop state of one watched child.
#[derive(Debug)]
struct ChildWatch {
    /// The watch, to remove exactly this entry when it ends.
    id: u64,
    /// The child, to drop a report about a later process that reused the PID.
    process: ProcessHandle,
    /// True while stopped; a watch channel, so it holds one value and cannot overflow.
    stopped: watch::Sender<bool>,
}

/// The agent's watches: the event channel and one task per watched process.
#[derive(Debug)]
pub(crate) struct Watches {
    /// Shared with the watcher tasks, which emit events and forget themselves on exit.
    shared: Arc<Shared>,
    /// False forces the polling fallback ([`crate::Agent::without_pidfd`]).
    use_pidfd: bool,
}

#[derive(Debug)]
struct Shared {
    /// The sending side of [`crate::Agent::process_events`].
    events: broadcast::Sender<NodeEvent>,
    /// What is watched; a plain mutex, never held across an await.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Live watches, one per process.
    watched: HashMap<ProcessHandle, Watched>,
    /// Started with the first watched child; `None` before.
    collector: Option<Collector>,
    /// Set by shutdown: no new watches.
    closed: bool,
}

#[derive(Debug)]
struct Watched {
    /// Tells this watch from a later one of the same process key.
    id: u64,
    node_id: String,
    /// `None` only between the entry being made and its task being spawned.
    task: Option<AbortHandle>,
}

/// The SIGCHLD listener of this agent.
#[derive(Debug)]
struct Collector {
    /// Its task; `None` when stops cannot be heard.
    task: Option<AbortHandle>,
    /// False when SIGCHLD cannot be listened to or does not report stops; children are then
    /// checked on the timer.
    stops_heard: bool,
}

impl Watches {
    pub(crate) fn new() -> Watches {
        let (events, _) = broadcast::channel(PROCESS_EVENTS_CAPACITY);
        Watches {
            shared: Arc::new(Shared {
                events,
                state: Mutex::new(State::default()),
            }),
            use_pidfd: true,
        }
    }

    pub(crate) fn force_polling(&mut self) {
        self.use_pidfd = false;
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.shared.events.subscribe()
    }

    /// The watched processes as (node id, PID), sorted.
    pub(crate) fn watched(&self) -> Vec<(String, u32)> {
        let state = self.shared.lock();
        let mut watched: Vec<(String, u32)> = state
            .watched
            .iter()
            .map(|(process, watch)| (watch.node_id.clone(), process.pid))
            .collect();
        watched.sort();
        watched
    }

    /// Watches `process`, which runs node `node_id`, unless it is watched already. Must be
    /// called inside a tokio runtime, which runs the watcher task.
    pub(crate) fn watch(&self, node_id: &str, process: ProcessHandle) {
        let id = NEXT_WATCH_ID.fetch_add(1, Ordering::Relaxed);
        let (exit, stops) = {
            let mut state = self.shared.lock();
            if state.closed || state.watched.contains_key(&process) {
                return;
            }
            let Some(exit) = self.exit_source(process.pid) else {
                self.shared.emit(node_id, process.pid, ProcessEvent::Exited);
                return;
            };
            // The process may have exited (or its PID been reused) after it was found alive
            // and before the pidfd was opened; the pidfd then names a zombie or a stranger
            // and would never, or wrongly, fire.
            if !process.is_alive() {
                self.shared.emit(node_id, process.pid, ProcessEvent::Exited);
                return;
            }
            let stops = stop_source(&mut state, process, id);
            state.watched.insert(
                process,
                Watched {
                    id,
                    node_id: node_id.to_string(),
                    task: None,
                },
            );
            (exit, stops)
        };
        let registration = Registration {
            shared: Arc::clone(&self.shared),
            process,
            id,
            child: matches!(stops, Stops::Reports(_)),
        };
        // Spawned without the lock held: a runtime that is shutting down drops the task at
        // once, and its registration then takes the lock to forget itself.
        let task = tokio::spawn(watch_process(
            registration,
            node_id.to_string(),
            exit,
            stops,
        ));
        let mut state = self.shared.lock();
        match state.watched.get_mut(&process) {
            Some(watched) if watched.id == id => watched.task = Some(task.abort_handle()),
            // Ended already (its entry is gone), or shut down meanwhile (which drains them).
            _ => task.abort(),
        }
    }

    /// How the exit of `pid` will be detected; `None` when it has exited already.
    fn exit_source(&self, pid: u32) -> Option<Exit> {
        if !self.use_pidfd {
            return Some(Exit::poll());
        }
        match open_pidfd(pid) {
            // SAFETY: the `OwnedFd` is a valid descriptor that only the `AsyncFd` owns and
            // closes, so it stays open and the same for the `AsyncFd`'s whole life.
            Ok(fd) => match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
                Ok(fd) => Some(Exit::Pidfd(fd)),
                Err(error) => {
                    warn!(pid, %error, "cannot register a pidfd; polling for the exit instead");
                    Some(Exit::poll())
                }
            },
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => None,
            Err(error) => {
                if !PIDFD_FALLBACK_ANNOUNCED.swap(true, Ordering::Relaxed) {
                    warn!(pid, %error, interval = ?EXIT_POLL_FALLBACK_INTERVAL,
                        "pidfd_open failed; node exits are polled for");
                } else {
                    debug!(pid, %error, "pidfd_open failed; polling for the exit");
                }
                Some(Exit::poll())
            }
        }
    }

    /// Ends every watch and refuses new ones.
    pub(crate) fn shutdown(&self) {
        let tasks: Vec<AbortHandle> = {
            let mut state = self.shared.lock();
            state.closed = true;
            let mut tasks: Vec<AbortHandle> = state
                .watched
                .drain()
                .filter_map(|(_, watched)| watched.task)
                .collect();
            tasks.extend(state.collector.take().and_then(|collector| collector.task));
            tasks
        };
        // Outside the lock: a task's registration takes it when the task is dropped.
        for task in tasks {
            task.abort();
        }
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn emit(&self, node_id: &str, pid: u32, event: ProcessEvent) {
        debug!(node_id, pid, ?event, "node process event");
        // An error only means nobody listens now, which is fine.
        let _ = self.events.send(NodeEvent {
            node_id: node_id.to_string(),
            pid,
            event,
        });
    }
}

/// How stops of `process` will be detected: reports through SIGCHLD for our children (when
/// SIGCHLD reports stops), the timer otherwise.
fn stop_source(state: &mut State, process: ProcessHandle, id: u64) -> Stops {
    let ours = proc_parent(process.pid) == Some(std::process::id());
    if !ours {
        return Stops::timer();
    }
    let collector = state.collector.get_or_insert_with(Collector::start);
    if !collector.stops_heard {
        return Stops::timer();
    }
    let (stopped, receiver) = watch::channel(false);
    child_watches()
        .entry(process.pid)
        .or_default()
        .push(ChildWatch {
            id,
            process,
            stopped,
        });
    Stops::Reports(receiver)
}

fn child_watches() -> MutexGuard<'static, HashMap<u32, Vec<ChildWatch>>> {
    CHILD_WATCHES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Collector {
    fn start() -> Collector {
        let sigchld = match signal(SignalKind::child()) {
            Ok(sigchld) => sigchld,
            Err(error) => {
                warn!(%error, interval = ?FROZEN_CHECK_INTERVAL,
                    "cannot listen for SIGCHLD; stops of child nodes are checked on a timer");
                return Collector {
                    task: None,
                    stops_heard: false,
                };
            }
        };
        if !sigchld_reports_stops() {
            warn!(
                interval = ?FROZEN_CHECK_INTERVAL,
                "SIGCHLD is ignored or has SA_NOCLDSTOP; stops of child nodes are checked on a \
                 timer"
            );
            return Collector {
                task: None,
                stops_heard: false,
            };
        }
        let task = tokio::spawn(collect_child_reports(sigchld));
        Collector {
            task: Some(task.abort_handle()),
            stops_heard: true,
        }
    }
}

/// True when the installed SIGCHLD disposition is a handler without `SA_NOCLDSTOP`, so that a
/// child's stop or continue raises SIGCHLD (`sigaction(2)`: with `SA_NOCLDSTOP` only exits do).
pub(crate) fn sigchld_reports_stops() -> bool {
    // SAFETY: a zeroed `sigaction` is a valid value to be overwritten; a null new action
    // makes the call only read the current disposition into `current`.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above; both pointers are valid for the duration of the call.
    let rc = unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut current) };
    rc == 0
        && current.sa_sigaction != libc::SIG_IGN
        && current.sa_sigaction != libc::SIG_DFL
        && current.sa_flags & libc::SA_NOCLDSTOP == 0
}

/// The collector: on every SIGCHLD, collects the stop and continue reports of our children and
/// hands each to the watchers of that PID.
async fn collect_child_reports(mut sigchld: SignalStream) {
    loop {
        // First round: reports from before the listener existed.
        if !drain_child_reports() {
            // Bound reached with reports left: let other tasks run, then go on.
            tokio::task::yield_now().await;
            continue;
        }
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}

/// Collects up to [`CHILD_REPORTS_PER_WAKE_MAX`] reports; true when none is left.
fn drain_child_reports() -> bool {
    for _ in 0..CHILD_REPORTS_PER_WAKE_MAX {
        // SAFETY: `siginfo_t` is plain data, and zeroed is how `waitid(2)` with WNOHANG says
        // "no report": it leaves `si_pid` at 0.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid for writing. No WEXITED: nothing is reaped, only stop and
        // continue reports are consumed.
        let rc = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WSTOPPED | libc::WCONTINUED | libc::WNOHANG,
            )
        };
        if rc == -1 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // ECHILD: no children at all.
            return true;
        }
        // SAFETY: a successful waitid fills the SIGCHLD fields of the union, or leaves the
        // zeroes.
        let pid = unsafe { info.si_pid() };
        if pid <= 0 {
            return true;
        }
        let stopped = match info.si_code {
            libc::CLD_STOPPED => true,
            libc::CLD_CONTINUED => false,
            _ => continue,
        };
        dispatch_child_report(pid.unsigned_abs(), stopped);
    }
    false
}

fn dispatch_child_report(pid: u32, stopped: bool) {
    let watches = child_watches();
    let Some(list) = watches.get(&pid) else {
        // Not a watched node (or not yet: its watcher reads the state when it starts).
        return;
    };
    for watch in list {
        // The PID could name a later child than the one watched, if the watched one exited
        // and its watcher has not yet forgotten it.
        if watch.process.is_alive() {
            watch.stopped.send_replace(stopped);
        }
    }
}

/// `pidfd_open(pid, 0)`: a file descriptor for the process, readable once it has exited.
/// Opened close-on-exec by the kernel, so nodes we spawn do not inherit it.
fn open_pidfd(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open takes a PID and flags, touches no memory of ours, and returns a new
    // file descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the descriptor was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// How a watcher learns of its process's exit.
enum Exit {
    /// Readable once the process has exited.
    Pidfd(AsyncFd<OwnedFd>),
    /// The fallback: a liveness check on each tick.
    Poll(Interval),
}

impl Exit {
    fn poll() -> Exit {
        let mut interval = tokio::time::interval(EXIT_POLL_FALLBACK_INTERVAL);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Exit::Poll(interval)
    }

    /// Returns once `process` has exited.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it holds nothing between calls but the pidfd and the interval.
    async fn wait(&mut self, process: ProcessHandle) {
        loop {
            match self {
                Exit::Pidfd(fd) => match fd.readable().await {
                    Ok(_) => return,
                    // Only when the reactor is going away; poll until the task is dropped.
                    Err(error) => {
                        debug!(pid = process.pid, %error, "pidfd unusable; polling instead");
                    }
                },
                Exit::Poll(interval) => {
                    interval.tick().await;
                    if !process.is_alive() {
                        return;
                    }
                    continue;
                }
            }
            *self = Exit::poll();
        }
    }
}

/// How a watcher learns of its process's stops and continues.
enum Stops {
    /// Our child: the collector's reports, latest state only.
    Reports(watch::Receiver<bool>),
    /// Not our child: a read of its state on each tick.
    Timer(Interval),
}

impl Stops {
    fn timer() -> Stops {
        // The first tick one period from now: the watcher reads the state when it starts.
        let mut interval = tokio::time::interval_at(
            Instant::now() + FROZEN_CHECK_INTERVAL,
            FROZEN_CHECK_INTERVAL,
        );
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Stops::Timer(interval)
    }

    /// Whether `pid` is stopped, at the next report or tick.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a report not yet read stays in the watch channel.
    async fn next(&mut self, pid: u32) -> bool {
        match self {
            Stops::Reports(reports) => {
                if reports.changed().await.is_err() {
                    // The sender is only dropped with our own registration.
                    std::future::pending::<()>().await;
                }
                *reports.borrow_and_update()
            }
            Stops::Timer(interval) => {
                interval.tick().await;
                is_stopped(pid)
            }
        }
    }
}

/// A watch's entries in the agent's table and in the child table; dropping it (the task
/// ended or was aborted) removes both.
struct Registration {
    shared: Arc<Shared>,
    process: ProcessHandle,
    id: u64,
    /// Registered in [`CHILD_WATCHES`].
    child: bool,
}

impl Drop for Registration {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            if state
                .watched
                .get(&self.process)
                .is_some_and(|watched| watched.id == self.id)
            {
                state.watched.remove(&self.process);
            }
        }
        if self.child {
            let mut children = child_watches();
            if let Some(list) = children.get_mut(&self.process.pid) {
                list.retain(|watch| watch.id != self.id);
                if list.is_empty() {
                    children.remove(&self.process.pid);
                }
            }
        }
    }
}

/// The task of one watched process: reports its stop transitions until it exits, then its
/// exit, and forgets the watch.
async fn watch_process(
    registration: Registration,
    node_id: String,
    mut exit: Exit,
    mut stops: Stops,
) {
    let process = registration.process;
    let pid = process.pid;
    let shared = Arc::clone(&registration.shared);
    // It may have been stopped before its watch was registered, when a report would have
    // found no one to go to.
    let mut stopped = is_stopped(pid);
    if stopped {
        shared.emit(&node_id, pid, ProcessEvent::Stopped);
    }
    loop {
        tokio::select! {
            // Exit first: once the process is gone, a late stop report means nothing.
            biased;
            () = exit.wait(process) => break,
            now_stopped = stops.next(pid) => {
                if now_stopped != stopped {
                    stopped = now_stopped;
                    let event = if stopped {
                        ProcessEvent::Stopped
                    } else {
                        ProcessEvent::Continued
                    };
                    shared.emit(&node_id, pid, event);
                }
            }
        }
    }
    // Forgotten before `Exited` is sent, so a receiver of `Exited` no longer sees it watched.
    drop(registration);
    shared.emit(&node_id, pid, ProcessEvent::Exited);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bound on waiting for a task to wind down; generous, never a performance threshold.
    const WAIT_MAX: Duration = Duration::from_secs(10);

    fn next_now(events: &mut broadcast::Receiver<NodeEvent>) -> NodeEvent {
        events
            .try_recv()
            .expect("an event sent before watch() returned")
    }

    #[tokio::test]
    async fn a_process_gone_before_its_pidfd_is_opened_is_reported_at_once() {
        // Goal: the race between "found alive" and pidfd_open: a process that exited meanwhile,
        // whether reaped (pidfd_open fails with ESRCH) or a zombie (pidfd_open succeeds on
        // it), is reported Exited at once and not watched.
        // Method: capture a `true` child's handle, let it exit, watch it as a zombie, reap it
        // and watch it again; each time an Exited is already in the channel when watch()
        // returns.
        let watches = Watches::new();
        let mut events = watches.subscribe();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let process = ProcessHandle::from_pid(child.id());
        let deadline = std::time::Instant::now() + WAIT_MAX;
        while crate::process::is_alive(process.pid) {
            assert!(std::time::Instant::now() < deadline, "`true` did not exit");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let exited = NodeEvent {
            node_id: "n1".to_string(),
            pid: process.pid,
            event: ProcessEvent::Exited,
        };
        watches.watch("n1", process);
        assert_eq!(next_now(&mut events), exited);
        child.wait().unwrap();
        watches.watch("n1", process);
        assert_eq!(next_now(&mut events), exited);
        assert!(watches.watched().is_empty());
    }

    #[tokio::test]
    async fn a_reused_pid_is_not_mistaken_for_the_watched_process() {
        // Goal: pid reuse: a handle whose PID now names another process (another start time)
        // is reported Exited, although pidfd_open succeeds on that PID.
        // Method: watch our own PID with a start time that is not ours.
        let watches = Watches::new();
        let mut events = watches.subscribe();
        let me = std::process::id();
        watches.watch("n1", ProcessHandle::with_start_time(me, 1));
        assert_eq!(
            next_now(&mut events),
            NodeEvent {
                node_id: "n1".to_string(),
                pid: me,
                event: ProcessEvent::Exited,
            }
        );
        assert!(watches.watched().is_empty());
    }

    #[tokio::test]
    async fn one_watch_per_process_and_shutdown_ends_it() {
        // Goal: watching a process again adds no second watch or task, and shutdown ends the
        // task and refuses new watches (no task outlives the watches).
        // Method: watch this test process (alive for the whole test) three times, count
        // entries and the runtime's live tasks; shut down, wait (bounded) for the task count
        // to drop to zero, and watch again.
        let metrics = tokio::runtime::Handle::current().metrics();
        let watches = Watches::new();
        let me = ProcessHandle::capture(std::process::id()).unwrap();
        for _ in 0..3 {
            watches.watch("n1", me);
        }
        assert_eq!(watches.watched(), vec![("n1".to_string(), me.pid)]);
        // Not our child, so no collector: the one task is the watcher.
        assert_eq!(metrics.num_alive_tasks(), 1);
        watches.shutdown();
        assert!(watches.watched().is_empty());
        let deadline = std::time::Instant::now() + WAIT_MAX;
        while metrics.num_alive_tasks() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "watcher task still alive"
            );
            tokio::task::yield_now().await;
        }
        watches.watch("n1", me);
        assert!(watches.watched().is_empty());
        assert_eq!(metrics.num_alive_tasks(), 0);
    }

    #[tokio::test]
    async fn tokio_sigchld_handler_reports_child_stops() {
        // Goal: the premise of hearing our children's stops at once: tokio's SIGCHLD handler
        // is installed without SA_NOCLDSTOP, so a child's SIGSTOP raises SIGCHLD, and waitid
        // without WEXITED reports the stop but leaves the exit for the child's owner to reap.
        // Method: listen for SIGCHLD through tokio, read the disposition back with sigaction,
        // SIGSTOP a `sleep` child and wait (bounded) for SIGCHLD, then for a CLD_STOPPED report
        // of that PID (P_PID, so no report meant for another test is consumed); then SIGKILL it
        // and check that std's `wait` still gets its exit status.
        let mut sigchld = signal(SignalKind::child()).unwrap();
        assert!(sigchld_reports_stops(), "SIGCHLD handler has SA_NOCLDSTOP");

        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id();
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) }, 0);
        // The stop itself raises SIGCHLD (with SA_NOCLDSTOP nothing would come).
        tokio::time::timeout(Duration::from_secs(10), sigchld.recv())
            .await
            .expect("no SIGCHLD after the child's SIGSTOP");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let stopped = loop {
            // SAFETY: as in `drain_child_reports`, for one PID.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: `info` is valid for writing; no WEXITED, so nothing is reaped.
            let rc = unsafe {
                libc::waitid(libc::P_PID, pid, &mut info, libc::WSTOPPED | libc::WNOHANG)
            };
            assert_eq!(rc, 0, "{}", io::Error::last_os_error());
            // SAFETY: filled by waitid or left zero.
            if unsafe { info.si_pid() } == pid as libc::pid_t {
                break info.si_code;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no stop report for the child"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(stopped, libc::CLD_STOPPED);

        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}
