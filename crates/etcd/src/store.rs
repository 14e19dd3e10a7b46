//! [`EtcdStore`]: the store kept in an etcd cluster, for control planes on several hosts.
//!
//! The shape is Kubernetes' watch cache: the store keeps a copy of every document in memory,
//! loaded once with a listing and kept current by one etcd watch on its key prefix. Reads
//! ([`Store::view`], and the reads inside a transaction) are served from that copy, so a
//! reconcile step costs no network round trip per document. A write transaction is optimistic:
//! its closure runs against the copy with its writes buffered, then one etcd transaction
//! commits every write *if the store's commit key has not changed since the copy was made*
//! (compare-and-swap on the key's `mod_revision`). Every transaction also rewrites that key, so
//! two transactions that read the same state can never both commit: the second finds the key
//! changed, waits for the watch to bring the copy up to date, and runs its closure again —
//! serializable, with no lost update, whichever host wrote first. A committed transaction is
//! applied to the copy (and published) by the thread that made it, before it returns, so a
//! caller reads its writes; the watch brings every other process's commits, and skips the ones
//! the copy has already. Either way the change feed publishes commits in revision order.
//!
//! Keys are `<prefix>/<table>/<key>`; the commit key is `<prefix>/.commit`. Revisions are etcd's
//! (they grow with every write to the cluster, not by exactly one per commit).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use crate::client::{self, prefix_end, Client, Compare, EtcdError, Op};
use crate::leader;
use ferrocache_store::{Change, Commit, Reader, Store, StoreError, Writer, CHANGE_FEED_CAPACITY};

/// How many keys one page of the initial listing holds.
const LIST_PAGE: i64 = 1000;
/// How long a transaction waits for the watch to bring the copy up to its own commit (or to
/// another process's, after a conflict) before it gives up waiting.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);
/// How often a transaction may find another process's commit in its way before it reports a
/// failure instead of running again.
const MAX_ATTEMPTS: usize = 64;
/// How long the watch waits before connecting again after its stream broke.
const WATCH_RETRY: Duration = Duration::from_millis(200);

/// Where an `etcd://` store lives: its members and its key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdLocation {
    /// The members' client addresses (`host:port`).
    pub members: Vec<String>,
    /// The prefix of every key (`/ferrocache` unless the URL names another).
    pub prefix: String,
}

impl std::str::FromStr for EtcdLocation {
    type Err = String;

    /// Parses `etcd://host:port[,host:port…][/prefix]`.
    fn from_str(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("etcd://").ok_or_else(|| {
            format!("{url}: an etcd store is given as etcd://host:port[,host:port…][/prefix]")
        })?;
        let (members, prefix) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let members: Vec<String> = members
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
        if members.is_empty() {
            return Err(format!("{url}: no etcd member given"));
        }
        for m in &members {
            let port_ok = m
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(format!("{url}: {m} is not host:port"));
            }
        }
        let prefix = if prefix.is_empty() {
            "/ferrocache"
        } else {
            prefix
        };
        Ok(Self {
            members,
            prefix: prefix.to_string(),
        })
    }
}

impl std::fmt::Display for EtcdLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd://{}{}", self.members.join(","), self.prefix)
    }
}

/// The documents as of one revision.
#[derive(Debug, Default)]
struct Copy {
    /// The revision of the last change applied.
    revision: i64,
    /// The commit key's `mod_revision` (0: no transaction has committed yet).
    commit_mod: i64,
    /// Every document, by table and key.
    tables: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl Copy {
    fn get(&self, table: &str, key: &str) -> Option<&Vec<u8>> {
        self.tables.get(table).and_then(|t| t.get(key))
    }

    fn range<'a>(
        &'a self,
        table: &str,
        start: &'a str,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Vec<u8>)> + 'a {
        self.tables
            .get(table)
            .into_iter()
            .flat_map(move |t| t.range::<str, _>((Bound::Included(start), Bound::Unbounded)))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// Sets (`Some`) or removes (`None`) a document; returns its value before.
    fn set(&mut self, table: &str, key: &str, value: Option<Vec<u8>>) -> Option<Vec<u8>> {
        match value {
            Some(v) => self
                .tables
                .entry(table.to_string())
                .or_default()
                .insert(key.to_string(), v),
            None => {
                let t = self.tables.get_mut(table)?;
                let old = t.remove(key);
                if t.is_empty() {
                    self.tables.remove(table);
                }
                old
            }
        }
    }
}

/// How far the copy has come, for transactions waiting on it.
#[derive(Debug, Default)]
struct Progress {
    commit_mod: i64,
    /// Why the watch is not running, while it is not.
    broken: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) etcd: Client,
    location: EtcdLocation,
    /// `<prefix>/`: every document key starts with it.
    pub(crate) key_prefix: String,
    /// `<prefix>/.commit`.
    pub(crate) commit_key: String,
    /// The documents. Reads take it with `read_recursive`: a transaction's closure may read
    /// through `view` again while the watch waits to write, which a fair lock would deadlock.
    copy: parking_lot::RwLock<Copy>,
    progress: Mutex<Progress>,
    progressed: Condvar,
    revision: watch::Sender<u64>,
    feed: broadcast::Sender<Arc<Commit>>,
    /// One transaction of this process at a time (others from other processes are kept out by
    /// the commit key).
    writer: Mutex<()>,
    /// While this process leads: the leadership key it holds, which every transaction checks
    /// (see [`leader`]).
    pub(crate) fence: RwLock<Option<leader::Fence>>,
    /// Names this store instance among every process's: pid and opening time.
    instance: String,
    /// Transactions sent so far (with `instance`, a commit's id).
    commits: std::sync::atomic::AtomicU64,
}

/// The store in etcd (see the module documentation).
#[derive(Debug)]
pub struct EtcdStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) fn backend(e: EtcdError) -> StoreError {
    let described = e.to_string();
    match e {
        EtcdError::Refused { message, .. } if message.contains("database space exceeded") => {
            StoreError::NoSpace {
                path: "etcd".into(),
                message,
            }
        }
        EtcdError::Refused { message, .. } if message.contains("too many operations") => {
            StoreError::Backend(format!(
                "{message} (a transaction wrote more keys than etcd allows: start etcd with \
                 --max-txn-ops=10000)"
            ))
        }
        EtcdError::Refused { message, .. } if message.contains("request is too large") => {
            StoreError::Backend(format!(
                "{message} (start etcd with a larger --max-request-bytes, e.g. 33554432)"
            ))
        }
        EtcdError::Unreachable(_) => StoreError::Unavailable(described),
        // gRPC "deadline exceeded" and "unavailable": no leader, no quorum, a timed-out commit.
        EtcdError::Refused {
            code: client::DEADLINE_EXCEEDED | client::UNAVAILABLE,
            ..
        } => StoreError::Unavailable(described),
        _ => StoreError::Backend(described),
    }
}

impl EtcdStore {
    /// Connects to the cluster at `location`, lists every document under its prefix and starts
    /// the watch that keeps the copy current.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when no member answers.
    pub fn open(location: &EtcdLocation) -> Result<Self, StoreError> {
        let etcd = Client::new(&location.members).map_err(backend)?;
        let key_prefix = format!("{}/", location.prefix);
        let inner = Arc::new(Inner {
            commit_key: format!("{key_prefix}.commit"),
            key_prefix,
            location: location.clone(),
            etcd,
            copy: parking_lot::RwLock::new(Copy::default()),
            progress: Mutex::new(Progress::default()),
            progressed: Condvar::new(),
            revision: watch::Sender::new(0),
            feed: broadcast::Sender::new(CHANGE_FEED_CAPACITY),
            writer: Mutex::new(()),
            fence: RwLock::new(None),
            instance: format!(
                "{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
            commits: std::sync::atomic::AtomicU64::new(0),
        });
        let listed = inner.list().map_err(|e| {
            StoreError::Backend(format!("cannot reach the store at {location}: {e}"))
        })?;
        inner.install(listed);
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("etcd-watch".into())
            .spawn(move || follow(&weak))
            .map_err(|e| StoreError::Backend(format!("cannot start the etcd watch: {e}")))?;
        Ok(Self { inner })
    }

    /// Where the store is.
    pub fn location(&self) -> &EtcdLocation {
        &self.inner.location
    }

    /// Writes `documents` (`(table, key, value)`) into this store in one transaction, if
    /// none of their tables holds a document yet; returns how many were written.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a table is not empty (nothing is written) or etcd refuses
    /// the transaction (too many operations: raise etcd's `--max-txn-ops`).
    pub fn fill(&self, documents: &[(String, String, Vec<u8>)]) -> Result<usize, StoreError> {
        let tables: std::collections::BTreeSet<&str> =
            documents.iter().map(|(t, _, _)| t.as_str()).collect();
        self.update(&mut |w| {
            for table in &tables {
                let held = w.count(table, "")?;
                if held > 0 {
                    return Err(StoreError::Backend(format!(
                        "the store at {} already holds {held} documents in {table}; \
                         it must be empty",
                        self.inner.location
                    )));
                }
            }
            for (table, key, value) in documents {
                w.put(table, key, value)?;
            }
            Ok(())
        })?;
        Ok(documents.len())
    }
}

impl Inner {
    /// Every document under the prefix as of one revision (paged, all pages at that revision).
    fn list(&self) -> Result<Copy, EtcdError> {
        let prefix = self.key_prefix.as_bytes();
        let end = prefix_end(prefix);
        let mut copy = Copy::default();
        let mut from = prefix.to_vec();
        let mut revision = 0;
        loop {
            let page = self.etcd.range(&from, &end, revision, LIST_PAGE)?;
            if revision == 0 {
                revision = page.header.revision;
            }
            let last = page.kvs.last().map(|kv| kv.key.clone());
            for kv in page.kvs {
                match self.document(&kv.key) {
                    Some(Target::Commit) => copy.commit_mod = kv.mod_revision,
                    Some(Target::Doc(table, key)) => {
                        copy.set(&table, &key, Some(kv.value));
                    }
                    None => {}
                }
            }
            match (page.more, last) {
                (true, Some(mut last)) => {
                    last.push(0);
                    from = last;
                }
                _ => break,
            }
        }
        copy.revision = revision;
        Ok(copy)
    }

    /// Replaces the copy with a listing; publishes what differs as one commit (after the first
    /// listing, only when the watch had to list again: its revisions were compacted away).
    fn install(&self, listed: Copy) {
        let mut copy = self.copy.write();
        let mut changes = Vec::new();
        for (table, docs) in &copy.tables {
            for (key, old) in docs {
                let new = listed.get(table, key);
                if new != Some(old) {
                    changes.push(Change {
                        table: table.clone(),
                        key: key.clone(),
                        old: Some(old.clone()),
                        new: new.cloned(),
                    });
                }
            }
        }
        for (table, docs) in &listed.tables {
            for (key, new) in docs {
                if copy.get(table, key).is_none() {
                    changes.push(Change {
                        table: table.clone(),
                        key: key.clone(),
                        old: None,
                        new: Some(new.clone()),
                    });
                }
            }
        }
        *copy = listed;
        self.published(&copy, changes);
    }

    /// Tells subscribers and waiting transactions that the copy reached its revision.
    /// Called with the copy write-locked, so commits are published in order.
    fn published(&self, copy: &Copy, changes: Vec<Change>) {
        let revision = u64::try_from(copy.revision).unwrap_or(0);
        self.revision.send_replace(revision);
        if !changes.is_empty() {
            let _ = self.feed.send(Arc::new(Commit { revision, changes }));
        }
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        progress.commit_mod = copy.commit_mod;
        progress.broken = None;
        self.progressed.notify_all();
    }

    /// What an etcd key is to the store.
    fn document(&self, key: &[u8]) -> Option<Target> {
        let key = std::str::from_utf8(key).ok()?;
        if key == self.commit_key {
            return Some(Target::Commit);
        }
        let (table, key) = key.strip_prefix(&self.key_prefix)?.split_once('/')?;
        Some(Target::Doc(table.to_string(), key.to_string()))
    }

    pub(crate) fn etcd_key(&self, table: &str, key: &str) -> Vec<u8> {
        format!("{}{table}/{key}", self.key_prefix).into_bytes()
    }

    /// Applies this process's own commit at `revision` to the copy and publishes it, unless
    /// the watch did already. Nothing else under the store's tables changed since the copy
    /// the transaction ran against (the commit key says so), so the copy is exact.
    fn apply_own(&self, revision: i64, writes: Vec<(String, String, Option<Vec<u8>>)>) {
        let mut copy = self.copy.write();
        if copy.revision >= revision {
            return;
        }
        let mut changes = Vec::with_capacity(writes.len());
        for (table, key, new) in writes {
            let old = copy.set(&table, &key, new.clone());
            if old != new {
                changes.push(Change {
                    table,
                    key,
                    old,
                    new,
                });
            }
        }
        copy.revision = revision;
        copy.commit_mod = revision;
        self.published(&copy, changes);
    }

    /// Applies the events of one watch message, one commit per revision; events the copy has
    /// already (this process's own commits, applied as they were made) are skipped.
    fn apply(&self, events: Vec<client::Event>) {
        let mut copy = self.copy.write();
        let mut changes: Vec<Change> = Vec::new();
        let mut at = None;
        let known = copy.revision;
        for event in events {
            let deletes = event.is_delete();
            let Some(kv) = event.kv else {
                continue;
            };
            let revision = kv.mod_revision;
            if revision <= known {
                continue;
            }
            if at.is_some_and(|at| at != revision) {
                self.published(&copy, std::mem::take(&mut changes));
            }
            at = Some(revision);
            copy.revision = revision;
            match self.document(&kv.key) {
                Some(Target::Commit) => {
                    copy.commit_mod = if deletes { 0 } else { revision };
                }
                Some(Target::Doc(table, key)) => {
                    let new = (!deletes).then_some(kv.value);
                    let old = copy.set(&table, &key, new.clone());
                    if old != new {
                        changes.push(Change {
                            table,
                            key,
                            old,
                            new,
                        });
                    }
                }
                None => {}
            }
        }
        if at.is_some() {
            self.published(&copy, changes);
        }
    }

    fn broke(&self, why: String) {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        progress.broken = Some(why);
        self.progressed.notify_all();
    }

    /// Whether the copy holds the commit at `revision` (the commit key's modification) by
    /// `deadline`, waiting for it meanwhile.
    pub(crate) fn copy_reaches(&self, revision: i64, deadline: tokio::time::Instant) -> bool {
        let deadline = deadline.into_std();
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        while progress.commit_mod < revision {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            progress = self
                .progressed
                .wait_timeout(progress, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Waits until `reached` holds of the copy's progress, for at most [`CATCH_UP_WAIT`].
    fn wait_for(&self, reached: impl Fn(&Progress) -> bool) -> Result<(), StoreError> {
        let deadline = Instant::now() + CATCH_UP_WAIT;
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        while !reached(&progress) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let why = progress
                    .broken
                    .clone()
                    .unwrap_or_else(|| "no news from the etcd watch".into());
                return Err(StoreError::Backend(format!(
                    "the store's copy did not catch up with etcd in {CATCH_UP_WAIT:?}: {why}"
                )));
            }
            progress = self
                .progressed
                .wait_timeout(progress, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }

    /// One optimistic attempt: runs `f` against the copy and commits its writes if no other
    /// transaction committed meanwhile. `Ok(None)`: another did; run again.
    fn attempt(
        &self,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), StoreError>,
    ) -> Result<Option<i64>, StoreError> {
        let (changes, commit_mod, revision) = {
            let copy = self.copy.read_recursive();
            let mut side = WriteSide {
                copy: &copy,
                pending: BTreeMap::new(),
                order: Vec::new(),
            };
            f(&mut side)?;
            (side.changes(), copy.commit_mod, copy.revision)
        };
        if changes.is_empty() {
            return Ok(Some(revision));
        }
        // The commit key's new value names this transaction, so that an answer lost on the way
        // back (a member killed, a timed-out request applied after all) can still be told
        // apart from another process's commit.
        let id = self.next_commit_id();
        let mut ops = Vec::with_capacity(changes.len() + 1);
        ops.push(Op::Put(self.commit_key.clone().into_bytes(), id.clone()));
        for (table, key, value) in &changes {
            let key = self.etcd_key(table, key);
            ops.push(match value {
                Some(v) => Op::Put(key, v.clone()),
                None => Op::Delete(key),
            });
        }
        let mut guard = vec![Compare::ModRevision(
            self.commit_key.clone().into_bytes(),
            commit_mod,
        )];
        let fence = self.fence.read().unwrap_or_else(|p| p.into_inner()).clone();
        // A lapsed leadership commits nothing: said at once, rather than after etcd's answer
        // (which, out of reach or without a quorum, takes its whole timeout, while the
        // transactions queued behind this one wait).
        if fence
            .as_ref()
            .is_some_and(|f| f.create_revision == leader::DEPOSED)
        {
            return Err(StoreError::Fenced(format!(
                "this process's leadership of the store at {} lapsed (etcd out of reach or \
                 without a quorum); changes wait until it leads again",
                self.location
            )));
        }
        if let Some(fence) = &fence {
            guard.push(Compare::CreateRevision(
                fence.key.clone(),
                fence.create_revision,
            ));
        }
        let committed = match self.etcd.txn(&guard, &ops) {
            Ok(answer) if answer.succeeded => Some(answer.header.revision),
            Ok(_) => self.committed_as(&id)?,
            Err(e) => match self.committed_as(&id) {
                Ok(Some(revision)) => Some(revision),
                _ => return Err(backend(e)),
            },
        };
        if let Some(committed) = committed {
            self.apply_own(committed, changes);
            return Ok(Some(committed));
        }
        if let Some(fence) = &fence {
            let leader = self.etcd.get(&fence.key).map_err(backend)?;
            let held = leader.kvs.first().map_or(0, |kv| kv.create_revision);
            if held != fence.create_revision {
                return Err(StoreError::Fenced(format!(
                    "this process no longer leads the store at {} (its leadership key was \
                     created at revision {}, and is now {})",
                    self.location, fence.create_revision, held
                )));
            }
        }
        // Another transaction committed since the copy was made: wait until the copy has it.
        let now = self.etcd.get(self.commit_key.as_bytes()).map_err(backend)?;
        let latest = now.kvs.first().map_or(0, |kv| kv.mod_revision);
        self.wait_for(|p| p.commit_mod >= latest)?;
        Ok(None)
    }
}

impl Inner {
    /// A value for the commit key no other transaction of any process writes.
    pub(crate) fn next_commit_id(&self) -> Vec<u8> {
        let n = self
            .commits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}/{n}", self.instance).into_bytes()
    }

    /// The revision transaction `id` committed at, if the commit key still names it (its
    /// answer was lost, or a retried request found its own first attempt already applied).
    fn committed_as(&self, id: &[u8]) -> Result<Option<i64>, StoreError> {
        let now = self.etcd.get(self.commit_key.as_bytes()).map_err(backend)?;
        Ok(now
            .kvs
            .first()
            .filter(|kv| kv.value == id)
            .map(|kv| kv.mod_revision))
    }
}

enum Target {
    Commit,
    Doc(String, String),
}

/// Keeps the copy current: one watch from the revision after the copy's, opened again when it
/// breaks (from wherever the copy got to), and a new listing when etcd compacted the revisions
/// the watch would need. Ends when the store is dropped (at the next message or retry).
fn follow(store: &Weak<Inner>) {
    loop {
        let Some(inner) = store.upgrade() else {
            return;
        };
        let from = inner.copy.read_recursive().revision + 1;
        let prefix = inner.key_prefix.clone().into_bytes();
        let stream = inner.etcd.watch(&prefix, from);
        drop(inner);
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                if let Some(inner) = store.upgrade() {
                    inner.broke(e.to_string());
                }
                std::thread::sleep(WATCH_RETRY);
                continue;
            }
        };
        loop {
            let answer = stream.next_answer();
            let Some(inner) = store.upgrade() else {
                return;
            };
            match answer {
                Ok(answer) if answer.compact_revision > 0 => {
                    tracing::warn!(
                        compacted = answer.compact_revision,
                        "the store's watch fell behind etcd's compaction; listing again"
                    );
                    match inner.list() {
                        Ok(listed) => inner.install(listed),
                        Err(e) => inner.broke(e.to_string()),
                    }
                    break;
                }
                Ok(answer) if answer.canceled => {
                    inner.broke(format!(
                        "etcd cancelled the watch: {}",
                        answer.cancel_reason
                    ));
                    break;
                }
                Ok(answer) => inner.apply(answer.events),
                Err(e) => {
                    tracing::warn!(error = %e, "the store's etcd watch broke; connecting again");
                    inner.broke(e.to_string());
                    drop(inner);
                    std::thread::sleep(WATCH_RETRY);
                    break;
                }
            }
        }
    }
}

struct ReadSide<'a> {
    copy: &'a Copy,
}

impl Reader for ReadSide<'_> {
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.copy.get(table, key).cloned())
    }

    fn scan(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .copy
            .range(table, prefix, prefix)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn scan_from(
        &self,
        table: &str,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let start = if from > prefix { from } else { prefix };
        Ok(self
            .copy
            .range(table, start, prefix)
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn count(&self, table: &str, prefix: &str) -> Result<usize, StoreError> {
        Ok(self.copy.range(table, prefix, prefix).count())
    }
}

/// A transaction's view: the copy with the transaction's own writes on top.
struct WriteSide<'a> {
    copy: &'a Copy,
    /// Each document written: its value now (`None`: deleted).
    pending: BTreeMap<(String, String), Option<Vec<u8>>>,
    /// The documents written, in first-write order.
    order: Vec<(String, String)>,
}

impl WriteSide<'_> {
    /// The documents whose value differs from the copy's, in first-write order.
    fn changes(self) -> Vec<(String, String, Option<Vec<u8>>)> {
        let mut pending = self.pending;
        self.order
            .into_iter()
            .filter_map(|(table, key)| {
                let value = pending.remove(&(table.clone(), key.clone()))?;
                (self.copy.get(&table, &key) != value.as_ref()).then_some((table, key, value))
            })
            .collect()
    }

    fn write(&mut self, table: &str, key: &str, value: Option<Vec<u8>>) {
        let id = (table.to_string(), key.to_string());
        if !self.pending.contains_key(&id) {
            self.order.push(id.clone());
        }
        self.pending.insert(id, value);
    }

    /// The documents of `table` from `start` on whose key starts with `prefix`, merged with
    /// the transaction's writes.
    fn merged(
        &self,
        table: &str,
        start: &str,
        prefix: &str,
        limit: usize,
    ) -> Vec<(String, Vec<u8>)> {
        let mut merged: BTreeMap<&str, &Vec<u8>> = BTreeMap::new();
        for (k, v) in self.copy.range(table, start, prefix) {
            merged.insert(k, v);
        }
        let from = (table.to_string(), start.to_string());
        for ((t, k), v) in self.pending.range(from..) {
            if t != table || !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => merged.insert(k, v),
                None => merged.remove(k.as_str()),
            };
        }
        merged
            .into_iter()
            .take(limit)
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

impl Reader for WriteSide<'_> {
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.pending.get(&(table.to_string(), key.to_string())) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.copy.get(table, key).cloned()),
        }
    }

    fn scan(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self.merged(table, prefix, prefix, usize::MAX))
    }

    fn scan_from(
        &self,
        table: &str,
        prefix: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let start = if from > prefix { from } else { prefix };
        Ok(self.merged(table, start, prefix, limit))
    }
}

impl Writer for WriteSide<'_> {
    fn put(&mut self, table: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if table.contains('/') {
            return Err(StoreError::Backend(format!(
                "table name {table} has a '/' (etcd keys are <prefix>/<table>/<key>)"
            )));
        }
        self.write(table, key, Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, table: &str, key: &str) -> Result<bool, StoreError> {
        let existed = self.get(table, key)?.is_some();
        if existed {
            self.write(table, key, None);
        }
        Ok(existed)
    }
}

impl Store for EtcdStore {
    fn view(
        &self,
        f: &mut dyn FnMut(&dyn Reader) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let copy = self.inner.copy.read_recursive();
        f(&ReadSide { copy: &copy })
    }

    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let _writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..MAX_ATTEMPTS {
            if let Some(revision) = self.inner.attempt(f)? {
                return Ok(u64::try_from(revision).unwrap_or(0));
            }
        }
        Err(StoreError::Backend(format!(
            "{MAX_ATTEMPTS} attempts in a row found another commit in the way"
        )))
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.revision.subscribe()
    }

    fn watch(&self) -> broadcast::Receiver<Arc<Commit>> {
        self.inner.feed.subscribe()
    }
}
