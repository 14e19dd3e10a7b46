//! The control plane's state shared by several hosts in etcd: opening the store, this host's
//! registration and agent, the secrets the hosts share, and the store's leadership; the
//! `ferrocache store migrate` and `ferrocache hosts` commands.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use ferrocache_agent::Agent;
use ferrocache_control::reconcile::Controller;
use ferrocache_etcd::leader::Leadership;
use ferrocache_etcd::registration::Registration;
use ferrocache_etcd::EtcdStore;
use ferrocache_model::host::{HostRecord, HostSpec, HostsSecrets, SharedCa};
use ferrocache_store::RedbStore;
use ferrocache_store::{ReadExt, WriteExt};

use crate::{HostsArgs, MigrateArgs, UpArgs};

/// How long the store's leadership lease lasts without a renewal (seconds).
const LEADERSHIP_TTL: i64 = 10;

/// How long to wait before trying again to take a lost leadership back.
const LEAD_AGAIN_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// `ferrocache store migrate`.
pub(crate) fn migrate_store(args: &MigrateArgs) -> Result<()> {
    let path = args.data_dir.join("state.redb");
    if !path.is_file() {
        anyhow::bail!("{} does not exist: nothing to migrate", path.display());
    }
    let documents = RedbStore::open(&path)?.documents()?;
    let target = EtcdStore::open(&args.to)?;
    let written = target.fill(&documents)?;
    // The nodes of this data directory answer to its identity: the hosts share that one.
    shared_secrets(&target, &args.data_dir)?;
    println!(
        "copied {written} documents from {} into {}",
        path.display(),
        args.to
    );
    println!(
        "start Ferrocache with: ferrocache up --data-dir {} --store {}",
        args.data_dir.display(),
        args.to
    );
    Ok(())
}

/// A size given as bytes, or with a binary unit: `512MiB`, `4GiB`, `1TiB` (also `K`, `M`,
/// `G`, `T`, with or without `iB`).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a size is a number of bytes, or e.g. 512MiB or 4GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().trim_end_matches("ib") {
        "" | "b" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("{text:?}: the unit is one of KiB, MiB, GiB, TiB")),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?}: too large"))
}

/// The machine's total memory (`MemTotal` of `/proc/meminfo`), bytes.
fn machine_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `ferrocache hosts`: one line per registered host, the leader marked.
pub(crate) fn list_hosts(args: &HostsArgs) -> Result<()> {
    let store = EtcdStore::open(&args.store)?;
    for (name, draining) in [(&args.drain, true), (&args.undrain, false)] {
        if let Some(name) = name {
            set_draining(&store, name, draining)?;
        }
    }
    let leader = store.leader()?;
    let hosts = ferrocache_store::view(&store, |r| {
        let mut hosts = Vec::new();
        for (_, host) in r.docs::<HostRecord>("")? {
            let nodes = r.lookup_count(ferrocache_store::tables::NODES_BY_HOST, &host.name)?;
            let used = ferrocache_control::capacity::used(r, &host.name)?;
            let draining = ferrocache_control::capacity::draining(r, &host.name)?;
            hosts.push((host, nodes, used, draining));
        }
        Ok::<_, ferrocache_store::StoreError>(hosts)
    })?;
    println!(
        "{:<24} {:<14} {:<16} {:<7} {:<9} {:<6} {:<18} {:<22} DATA DIR",
        "HOST", "ZONE", "ADDRESS", "LEADS", "DRAINING", "NODES", "NODE MEMORY (MiB)", "REGISTERED"
    );
    const MIB: u64 = 1024 * 1024;
    for (host, nodes, used, draining) in hosts {
        let leads = leader
            .as_deref()
            .is_some_and(|holder| holder == host.leader_name());
        let memory = match host.memory {
            Some(total) => format!("{}/{}", used / MIB, total / MIB),
            None => format!("{}/-", used / MIB),
        };
        println!(
            "{:<24} {:<14} {:<16} {:<7} {:<9} {:<6} {:<18} {:<22} {}",
            host.name,
            host.zone,
            host.address,
            if leads { "yes" } else { "" },
            if draining { "yes" } else { "" },
            nodes,
            memory,
            host.registered,
            host.data_dir
        );
    }
    Ok(())
}

/// Marks host `name` draining or not (`HostSpec`); the leading control plane does the rest.
fn set_draining(store: &EtcdStore, name: &str, draining: bool) -> Result<()> {
    let known = ferrocache_store::update(store, |w| {
        let known = w.doc::<HostRecord>(name)?.is_some()
            || w.lookup_count(ferrocache_store::tables::NODES_BY_HOST, name)? > 0
            || w.doc::<HostSpec>(name)?.is_some();
        if known {
            w.put_doc(name, &HostSpec { draining })?;
        }
        Ok::<_, ferrocache_store::StoreError>(known)
    })?;
    if !known {
        anyhow::bail!("no host named {name:?} is registered with this store or runs nodes");
    }
    Ok(())
}

/// This host as it registers itself with a shared store.
pub(crate) fn host_record(args: &UpArgs, data_dir: &std::path::Path) -> Result<HostRecord> {
    let name = args.host_name.clone().unwrap_or_else(host_name);
    if !ferrocache_model::host::valid_host_name(&name) {
        anyhow::bail!(
            "--host-name {name:?}: a host name is 1-63 letters, digits, '-', '_' or '.', not \
             starting with '-' or '.'"
        );
    }
    Ok(HostRecord {
        agent: None,
        memory: args.host_memory.or_else(machine_memory),
        zone: args
            .zone
            .clone()
            .unwrap_or_else(|| format!("{}a", args.default_region)),
        address: args.advertise_address.to_string(),
        data_dir: data_dir.display().to_string(),
        registered: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        version: env!("CARGO_PKG_VERSION").to_string(),
        name,
    })
}

/// The store `ferrocache up` runs on.
pub(crate) struct OpenedStore {
    pub(crate) store: Arc<dyn ferrocache_store::Store>,
    /// The same store when it is in etcd, with what this host needs to share it.
    pub(crate) shared: Option<SharedStore>,
    /// For the banner.
    pub(crate) described: String,
}

/// A store in etcd, shared with other hosts.
pub(crate) struct SharedStore {
    pub(crate) store: Arc<EtcdStore>,
    /// This host's registration.
    pub(crate) host: HostRecord,
    /// The registration's lease, kept while the process runs.
    pub(crate) _registration: Registration,
    /// Where this host's agent takes the leader's calls (its address is in `host.agent`).
    pub(crate) agent_listener: Option<tokio::net::TcpListener>,
    /// What the hosts share.
    pub(crate) secrets: HostsSecrets,
    /// Who leads: this host and data directory.
    holder: String,
    /// The leadership held now (`None` while it is not).
    pub(crate) leadership: Arc<std::sync::Mutex<Option<Leadership>>>,
    /// Where the leadership's renewer says it was lost.
    lost: tokio::sync::mpsc::UnboundedReceiver<String>,
    lost_sender: tokio::sync::mpsc::UnboundedSender<String>,
}

impl SharedStore {
    /// Takes the leadership (waiting while another process holds it), reporting its loss to
    /// `lost`.
    fn take(
        store: &EtcdStore,
        holder: &str,
        lost: &tokio::sync::mpsc::UnboundedSender<String>,
        given_up: &std::sync::atomic::AtomicBool,
    ) -> Result<Leadership, ferrocache_store::StoreError> {
        let lost = lost.clone();
        store.lead_unless(
            holder,
            LEADERSHIP_TTL,
            Box::new(move |why| {
                let _ = lost.send(why);
            }),
            given_up,
        )
    }

    /// Waits until this host leads the store; the wait ends without leading when the
    /// returned future is dropped.
    ///
    /// # Errors
    /// The store's.
    pub(crate) async fn lead(&self) -> Result<()> {
        let (store, holder, sender) = (
            self.store.clone(),
            self.holder.clone(),
            self.lost_sender.clone(),
        );
        let given_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Set when this future is dropped (a stop while waiting).
        struct GiveUp(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for GiveUp {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Release);
            }
        }
        let _give_up = GiveUp(given_up.clone());
        // A host waiting to lead outlives etcd's hiccups (an election, a member cut off): it
        // asks again, as a leader that lost its lease does.
        loop {
            let (store, holder, sender, given_up) = (
                store.clone(),
                holder.clone(),
                sender.clone(),
                given_up.clone(),
            );
            let taken = tokio::task::spawn_blocking(move || {
                store.lead_unless(
                    &holder,
                    LEADERSHIP_TTL,
                    Box::new(move |why| {
                        let _ = sender.send(why);
                    }),
                    &given_up,
                )
            })
            .await?;
            match taken {
                Ok(leadership) => {
                    *self.leadership.lock().unwrap_or_else(|p| p.into_inner()) = Some(leadership);
                    return Ok(());
                }
                Err(e @ ferrocache_store::StoreError::Fenced(_)) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot wait for the store's leadership yet; asking again");
                    tokio::time::sleep(LEAD_AGAIN_RETRY).await;
                }
            }
        }
    }

    /// Keeps leading: when the leadership is lost (etcd out of reach longer than the lease
    /// allows), every transaction of this process is already refused (fenced) while the
    /// endpoints keep serving; the leadership is taken again as soon as etcd answers (or
    /// another host lets go of it), and the controller reads every resource again. Ends when
    /// `shutdown` turns true, a wait for the leadership included.
    pub(crate) async fn keep_leading(
        store: Arc<EtcdStore>,
        holder: String,
        leadership: Arc<std::sync::Mutex<Option<Leadership>>>,
        mut lost: tokio::sync::mpsc::UnboundedReceiver<String>,
        lost_sender: tokio::sync::mpsc::UnboundedSender<String>,
        controller: Controller,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        // Set at shutdown: a wait for the leadership in a blocking thread ends then (the
        // runtime waits for its blocking threads before the process can exit).
        let given_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let give_up = || given_up.store(true, std::sync::atomic::Ordering::Release);
        loop {
            let why = tokio::select! {
                why = lost.recv() => match why {
                    Some(why) => why,
                    None => return,
                },
                _ = shutdown.changed() => return give_up(),
            };
            // Out of the lock before it is let go: letting go revokes the lease, an etcd call
            // that waits while etcd is out of reach, and nothing else may wait on the lock
            // meanwhile (this host's proof of contact with the leader reads it).
            let lapsed = leadership.lock().unwrap_or_else(|p| p.into_inner()).take();
            tracing::error!(
                %why,
                "lost the store's leadership: changes are refused until it is taken again; endpoints keep serving"
            );
            let _ = tokio::task::spawn_blocking(move || drop(lapsed)).await;
            loop {
                let (store, holder, sender, given_up) = (
                    store.clone(),
                    holder.clone(),
                    lost_sender.clone(),
                    given_up.clone(),
                );
                let taking = tokio::task::spawn_blocking(move || {
                    Self::take(&store, &holder, &sender, &given_up)
                });
                let taken = tokio::select! {
                    taken = taking => taken,
                    _ = shutdown.changed() => return give_up(),
                };
                match taken {
                    Ok(Ok(taken)) => {
                        *leadership.lock().unwrap_or_else(|p| p.into_inner()) = Some(taken);
                        tracing::warn!("leading the store again");
                        if let Err(e) = controller.resync() {
                            tracing::error!(error = %e, "cannot read the resources again");
                        }
                        break;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot take the store's leadership yet");
                        tokio::select! {
                            () = tokio::time::sleep(LEAD_AGAIN_RETRY) => {}
                            _ = shutdown.changed() => return give_up(),
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "taking the leadership failed");
                        return;
                    }
                }
            }
        }
    }

    /// Hands the leadership's renewal over to [`SharedStore::keep_leading`] for `controller`,
    /// until `shutdown`.
    pub(crate) fn spawn_keep_leading(
        &mut self,
        controller: Controller,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let (_, placeholder) = tokio::sync::mpsc::unbounded_channel();
        let lost = std::mem::replace(&mut self.lost, placeholder);
        tokio::spawn(Self::keep_leading(
            self.store.clone(),
            self.holder.clone(),
            self.leadership.clone(),
            lost,
            self.lost_sender.clone(),
            controller,
            shutdown,
        ));
    }
}

/// While this process leads the store, it is in touch with the leader (itself): `heard` is
/// renewed every beat interval, so its own endpoints are not fenced while it leads (see
/// `ferrocache_hosts::fence`); once its leadership lapses, only etcd's answers count.
pub(crate) async fn hear_own_leadership(
    leadership: Arc<std::sync::Mutex<Option<Leadership>>>,
    heard: tokio::sync::watch::Sender<Option<tokio::time::Instant>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(ferrocache_hosts::wire::HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.changed() => return,
        }
        // Never waits for the lock: it is held while a lost leadership is let go, which can
        // take an etcd call's time (and this runs on the runtime's threads).
        let leads = matches!(leadership.try_lock(), Ok(held) if held.is_some());
        if leads {
            heard.send_replace(Some(tokio::time::Instant::now()));
        }
    }
}

/// The secrets the hosts of `store` share: read, or created from this data directory's
/// identity and CA by the first host (one transaction, so two first hosts agree); this host's
/// identity file then holds the shared identity, so its agent starts nodes with it, and its
/// CA files the shared CA, so the endpoints it serves present certificates of the one CA
/// clients trust.
///
/// # Errors
/// The store's; the identity file's.
fn shared_secrets(store: &EtcdStore, data_dir: &std::path::Path) -> Result<HostsSecrets> {
    let identity_path = data_dir.join(ferrocache_engine::IDENTITY_FILE_NAME);
    let local = ferrocache_engine::AdminIdentity::load_or_create(&identity_path)
        .with_context(|| format!("reading {}", identity_path.display()))?;
    let pki_dir = data_dir.join(ferrocache_pki::PKI_DIR);
    let local_ca = ferrocache_pki::Authority::load_or_create(&pki_dir)
        .context("the certificate authority (TLS)")?;
    let local_ca = SharedCa {
        cert_pem: local_ca.cert_pem().to_string(),
        key_pem: local_ca
            .key_pem()
            .context("the certificate authority's key")?,
    };
    let secrets = ferrocache_store::update(
        store,
        |w| -> Result<HostsSecrets, ferrocache_store::StoreError> {
            if let Some(mut existing) = w.doc::<HostsSecrets>(HostsSecrets::KEY)? {
                // Written by a release that did not share the CA: this host's becomes it.
                if existing.ca.is_none() {
                    existing.ca = Some(local_ca.clone());
                    w.put_doc(HostsSecrets::KEY, &existing)?;
                }
                return Ok(existing);
            }
            let token: String = {
                use rand::Rng;
                let mut rng = rand::rng();
                (0..32)
                    .map(|_| format!("{:02x}", rng.random::<u8>()))
                    .collect()
            };
            let created = HostsSecrets {
                identity: local.to_text(),
                agent_token: token,
                ca: Some(local_ca.clone()),
            };
            w.put_doc(HostsSecrets::KEY, &created)?;
            Ok(created)
        },
    )?;
    let shared = ferrocache_engine::AdminIdentity::parse(&secrets.identity)
        .context("the hosts' shared identity in the store")?;
    if shared != local {
        tracing::warn!(
            path = %identity_path.display(),
            "this data directory's identity is replaced by the one the store's hosts share"
        );
        shared
            .write_to(&identity_path)
            .with_context(|| format!("writing {}", identity_path.display()))?;
    }
    if let Some(shared_ca) = secrets.ca.as_ref().filter(|ca| **ca != local_ca) {
        tracing::warn!(
            path = %pki_dir.display(),
            "this data directory's CA is replaced by the one the store's hosts share"
        );
        ferrocache_pki::Authority::adopt(&pki_dir, &shared_ca.cert_pem, &shared_ca.key_pem)
            .context("writing the hosts' shared certificate authority")?;
    }
    Ok(secrets)
}

/// Opens the store `ferrocache up` runs on. In etcd, this host also binds its agent's
/// listener, takes the shared secrets and registers (leading is [`SharedStore::lead`]).
pub(crate) async fn open_store(args: &UpArgs, data_dir: &std::path::Path) -> Result<OpenedStore> {
    let Some(location) = args.store.clone() else {
        let path = data_dir.join("state.redb");
        let store = RedbStore::open(&path)?;
        return Ok(OpenedStore {
            store: Arc::new(store),
            shared: None,
            described: path.display().to_string(),
        });
    };
    let mut host = host_record(args, data_dir)?;
    let agent_at = std::net::SocketAddr::new(args.advertise_address, args.agent_port);
    let agent_listener = tokio::net::TcpListener::bind(agent_at)
        .await
        .with_context(|| format!("cannot listen for the agent on {agent_at} (--agent-port)"))?;
    host.agent = Some(agent_listener.local_addr()?.to_string());
    // Whoever leads is named by host and data directory (locked by this process): the next
    // run of this very one takes over at once instead of waiting out its own lease.
    let holder = host.leader_name();
    let (lost_sender, lost) = tokio::sync::mpsc::unbounded_channel();
    let data_dir = data_dir.to_path_buf();
    let (store, registration, secrets, host) = tokio::task::spawn_blocking(move || -> Result<_> {
        let store = EtcdStore::open(&location)?;
        let registered: Option<HostRecord> =
            ferrocache_store::view(&store, |r| r.doc::<HostRecord>(&host.name))?;
        if let Some(other) = registered.filter(|other| other.data_dir != host.data_dir) {
            anyhow::bail!(
                "host name {} is registered with {location} by another ferrocache (data \
                 directory {}, {}); give this one another --host-name",
                host.name,
                other.data_dir,
                other.address
            );
        }
        let secrets = shared_secrets(&store, &data_dir)?;
        // Registered before leading: a host is up (listed, and given nodes) while it waits.
        let registration = store.register_doc(&host.name, &host, LEADERSHIP_TTL)?;
        Ok((Arc::new(store), registration, secrets, host))
    })
    .await??;
    let described = store.location().to_string();
    Ok(OpenedStore {
        store: store.clone(),
        shared: Some(SharedStore {
            store,
            host,
            _registration: registration,
            agent_listener: Some(agent_listener),
            secrets,
            holder,
            leadership: Arc::new(std::sync::Mutex::new(None)),
            lost,
            lost_sender,
        }),
        described,
    })
}

/// Stops every node process of this host, saving its data: a host that stops takes its nodes
/// with it (the leader fails their primaries over).
pub(crate) async fn stop_local_nodes(agent: &Arc<Agent>, nodes_dir: &std::path::Path) {
    let mut stops = tokio::task::JoinSet::new();
    for (node_id, _) in agent.watched_processes() {
        let Some(socket) = ferrocache_control::reconcile::node::socket_path(nodes_dir, &node_id)
        else {
            continue;
        };
        let agent_dir = agent.node_dir(&node_id);
        tracing::info!(node = %node_id, dir = %agent_dir.display(), "stopping");
        let address = ferrocache_engine::NodeAddress::Unix(socket);
        let agent = agent.clone();
        stops.spawn(async move {
            if let Err(e) = agent.stop(&node_id, &address, true).await {
                tracing::warn!(node = %node_id, error = %e, "node did not stop cleanly");
            }
        });
    }
    while stops.join_next().await.is_some() {}
}

/// This machine's host name (`unknown` when it has none).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("1024"), Ok(1024));
        assert_eq!(super::parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(super::parse_size("4G"), Ok(4 << 30));
        assert_eq!(super::parse_size("2 gib"), Ok(2 << 30));
        assert!(super::parse_size("4GB/s").is_err());
        assert!(super::parse_size("MiB").is_err());
        assert!(super::parse_size("99999999999TiB").is_err());
    }
}
