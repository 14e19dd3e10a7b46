//! `ferrocache`: self-hosted Amazon ElastiCache for Redis in one binary.
//!
//! `ferrocache up` runs everything in one process: the ElastiCache API (awsQuery over HTTP), the
//! control loop, the agent that runs `redis-server` nodes, and the router that serves every
//! endpoint. This file only wires the crates together and handles start-up and shutdown; see
//! `docs/architecture.md` for the parts.
//!
//! # Layout
//! - `main.rs`: the command line, start-up and shutdown.
//! - [`observability`]: the control plane's metric and log hooks wired to CloudWatch and
//!   CloudWatch Logs, the alarm evaluation and the metrics' flush.
//! - [`shared`]: the store shared by several hosts in etcd: this host's registration, agent
//!   listener, shared secrets and leadership; `ferrocache store migrate` and `ferrocache hosts`.
//!
//! # Dependency rules
//! The binary depends directly on exactly the library crates it wires: `model`, `store`,
//! `etcd`, `encryption`, `engine`, `agent`, `hosts`, `control`, `router`, `pki`, `api`, `s3`,
//! `metrics`, `cloudwatch` and `logs`; never on the dev-only `ferrocache-testkit`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use ferrocache_agent::Agent;
use ferrocache_cloudwatch::CloudWatch;
use ferrocache_control::object_store::ObjectStore;
use ferrocache_control::reconcile::{ControlConfig, Controller};
use ferrocache_control::runtime::NodeRuntime;
use ferrocache_control::{Service, ServiceConfig};
use ferrocache_encryption::KeyRing;
use ferrocache_etcd::EtcdLocation;
use ferrocache_logs::Logs;
use ferrocache_router::{Router, RouterLimits};
use ferrocache_s3::S3Store;
use ipnet::Ipv4Net;
use tokio::sync::watch;

/// How long a new leader waits for the other hosts' agents before it reconciles: a node on a
/// host not reached by then is taken for gone.
const HOSTS_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

mod observability;
mod shared;

/// Self-hosted Amazon ElastiCache for Redis.
#[derive(Debug, Parser)]
#[command(name = "ferrocache", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API, the control plane, the nodes and the endpoints in this process.
    Up(Box<UpArgs>),
    /// The Ferrocache certificate authority that signs the endpoints' TLS certificates.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Where the control plane's state lives.
    #[command(subcommand)]
    Store(StoreCommand),
    /// List the hosts registered with an etcd store, which one leads it, and what each runs;
    /// drain a host (--drain) or stop draining it (--undrain).
    Hosts(HostsArgs),
}

#[derive(Debug, clap::Args)]
struct HostsArgs {
    /// The store: etcd://host:port[,host:port…][/prefix].
    #[arg(long, value_name = "URL")]
    store: EtcdLocation,
    /// Drain this host first: nothing new is placed on it, its primaries hand over to
    /// replicas on other hosts, and its replicas start again on other hosts with room.
    #[arg(long, value_name = "HOST", conflicts_with = "undrain")]
    drain: Option<String>,
    /// Stop draining this host first (nodes already moved stay where they went).
    #[arg(long, value_name = "HOST")]
    undrain: Option<String>,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Copy a data directory's embedded state (<data-dir>/state.redb) into an etcd store,
    /// which must be empty, in one transaction. Stop the ferrocache using the data directory
    /// first; then start it with `--store <URL>`.
    Migrate(MigrateArgs),
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// The data directory whose state is copied.
    #[arg(long, default_value = "./.ferrocache")]
    data_dir: PathBuf,
    /// The etcd store it goes to: etcd://host:port[,host:port…][/prefix].
    #[arg(long, value_name = "URL")]
    to: EtcdLocation,
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Print the path of the CA certificate (PEM) as the last line, creating the CA if needed.
    Path(CaArgs),
    /// Install the CA certificate into the system trust store (Debian: copied into
    /// /usr/local/share/ca-certificates, then update-ca-certificates), so `redis-cli --tls`
    /// and `ssl_cert_reqs='required'` verify endpoints without --cacert. Needs root.
    Trust(CaArgs),
}

#[derive(Debug, clap::Args)]
struct CaArgs {
    /// The data directory whose CA is meant (the one `ferrocache up` uses).
    #[arg(long, default_value = "./.ferrocache")]
    data_dir: PathBuf,
}

/// Where `ferrocache ca trust` puts the CA certificate (Debian's local CA directory).
const SYSTEM_CA_DIR: &str = "/usr/local/share/ca-certificates";

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Where state, node data and logs live. Reusing it after a restart brings everything back.
    #[arg(long, default_value = "./.ferrocache")]
    data_dir: PathBuf,
    /// Address of the AWS API (ElastiCache); point AWS_ENDPOINT_URL here.
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Loopback range for endpoints: each endpoint gets its own address here, on the group's port.
    #[arg(long, default_value = "127.77.0.0/16")]
    endpoint_cidr: Ipv4Net,
    /// The redis-server binary to run (7.0.x).
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    /// Region used when a request carries no SigV4 credential scope.
    #[arg(long, default_value = "us-east-1")]
    default_region: String,
    /// Account id in ARNs.
    #[arg(long, default_value = ferrocache_model::DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// An AWS shared-credentials file (`[profile]` sections with aws_access_key_id and
    /// aws_secret_access_key). When given, the API verifies every request's SigV4 signature
    /// against these keys; without it, any key is accepted.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// The master key for encryption at rest (32 bytes, or 64 hex characters), used for every
    /// KmsKeyId. Without it, keys are created on first use under <data-dir>/keys (mode 0600).
    #[arg(long, value_name = "FILE")]
    at_rest_key_file: Option<PathBuf>,
    /// S3-compatible object store (plain `http://host:port`, path-style) for
    /// `copy-snapshot --target-bucket` and `--snapshot-arns arn:aws:s3:::bucket/key.rdb`; signs
    /// with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN). Without it both
    /// are refused.
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// How clients reach the nodes behind plaintext endpoints. `kernel`: eBPF connect-time
    /// redirection connects them straight to the node (needs root); `router`: every byte passes
    /// through Ferrocache's router; `auto`: the kernel where it can run, else the router.
    /// TLS endpoints always go through the router.
    #[arg(long, value_enum, default_value_t = DataPathChoice::Auto)]
    data_path: DataPathChoice,
    /// Nodes of groups with encryption in transit also serve TLS themselves (Redis's own
    /// `tls-port`, certificates from Ferrocache's CA), and the kernel data path connects the
    /// clients of `required` endpoints straight to it: TLS at the engine's cost. A plaintext
    /// client of such an endpoint is then closed by the failed handshake instead of reading
    /// `ERR SSL/TLS connection required` (the router's answer, and the runbooks').
    #[arg(long)]
    engine_tls: bool,
    /// Where the control plane keeps its state. Without it: <data-dir>/state.redb, embedded
    /// (one host). `etcd://host:port[,host:port…][/prefix]`: an etcd cluster (v3 API, etcd
    /// 3.4 or later, started with --max-txn-ops=10000), prefix /ferrocache by default. With
    /// etcd, one ferrocache at a time leads a store: another started on it waits until the
    /// leader stops or its lease runs out. A leader that cannot renew its lease (etcd out of
    /// reach, or without a quorum) refuses every change (503 ServiceUnavailable) while its
    /// endpoints keep serving, and leads again once etcd answers.
    #[arg(long, value_name = "URL")]
    store: Option<EtcdLocation>,
    /// This host's name among the hosts sharing an etcd store (default: the machine's host
    /// name). With `--store etcd://…`, the host registers itself (`ferrocache hosts` lists
    /// the registered hosts) for as long as it runs.
    #[arg(long, value_name = "NAME")]
    host_name: Option<String>,
    /// This host's availability zone (default: the default region's first, e.g. us-east-1a).
    #[arg(long, value_name = "ZONE")]
    zone: Option<String>,
    /// The address other hosts reach this one at.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1")]
    advertise_address: std::net::IpAddr,
    /// With `--store etcd://…`: the port this host's agent takes the leading host's calls on,
    /// at --advertise-address (0: a free port; the host's registration says which). The
    /// nodes placed on this host listen at --advertise-address too, on ports 21000-27999.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    agent_port: u16,
    /// With `--store etcd://…`: the memory this host gives cache nodes (e.g. 4GiB, 512MiB;
    /// default: the machine's total). Each node placed on it takes its node type's memory;
    /// nodes go only where that fits, and an API call asking for nodes no host has room for
    /// is refused with InsufficientCacheClusterCapacity.
    #[arg(long, value_name = "SIZE", value_parser = shared::parse_size)]
    host_memory: Option<u64>,
}

/// `--data-path`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DataPathChoice {
    /// The kernel path where it can run, else the router.
    Auto,
    /// The kernel path; refuse to start without it.
    Kernel,
    /// The router only.
    Router,
}

fn main() {
    // One line with the whole cause chain, not a backtrace: start-up failures are read by
    // people (and by test harnesses that keep only the tail of the log).
    if let Err(error) = run() {
        eprintln!("ferrocache: {error:#}");
        std::process::exit(1);
    }
}

/// Refuses to start on a data directory it cannot write (a read-only mount, wrong owner):
/// every change of state, node data and snapshot is written there, so running on would fail
/// every call and lose the first failover's epoch. Nothing is changed before the refusal;
/// nodes still running from an earlier start keep running with their data, and are adopted by
/// the next start on a writable directory.
fn ensure_writable(data_dir: &std::path::Path) -> Result<()> {
    let probe = data_dir.join(".write-probe");
    let written = std::fs::write(&probe, b"ferrocache\n")
        .and_then(|()| std::fs::File::open(&probe)?.sync_all())
        .and_then(|()| std::fs::remove_file(&probe));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&probe);
        anyhow::anyhow!(
            "the data directory {} is not writable ({e}); Ferrocache keeps its state, node data \
             and snapshots there and does not start without it; nothing was changed",
            data_dir.display()
        )
    })
}

/// How long start-up waits for another process's lock on the data directory to go (a node
/// forked by a ferrocache that was just killed holds it until it `exec`s).
const DATA_DIR_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Locks the data directory for this process (`<data-dir>/ferrocache.lock`, an exclusive
/// `flock` held as long as the returned file is open): two ferrocaches on one data directory
/// would run its nodes twice. With the embedded store, the store file's own lock says the
/// same; with etcd it is the only guard, and what lets the next run of this data directory
/// take the store's leadership over from its dead predecessor at once.
fn lock_data_dir(data_dir: &std::path::Path) -> Result<std::fs::File> {
    let path = data_dir.join("ferrocache.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let deadline = std::time::Instant::now() + DATA_DIR_LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another ferrocache is using this --data-dir ({}); stop it first",
                data_dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERROCACHE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Up(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = runtime.block_on(up(*args));
            // A host stopped while it waited to lead leaves that wait (a blocking call to etcd)
            // behind: it is not waited for.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            result
        }
        Command::Ca(CaCommand::Path(args)) => {
            let authority = authority(&args.data_dir)?;
            println!("{}", authority.cert_path().display());
            Ok(())
        }
        Command::Ca(CaCommand::Trust(args)) => ca_trust(&args.data_dir),
        Command::Store(StoreCommand::Migrate(args)) => shared::migrate_store(&args),
        Command::Hosts(args) => shared::list_hosts(&args),
    }
}

/// The CA of `data_dir`, created (with the directory) on first use.
fn authority(data_dir: &std::path::Path) -> Result<ferrocache_pki::Authority> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = std::fs::canonicalize(data_dir)?;
    Ok(ferrocache_pki::Authority::load_or_create(
        &data_dir.join(ferrocache_pki::PKI_DIR),
    )?)
}

/// `ferrocache ca trust`: copies the CA certificate into the system's local CA directory under
/// a name unique to this CA, then rebuilds the trust bundle.
fn ca_trust(data_dir: &std::path::Path) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!(
            "ferrocache ca trust changes the system trust store and must run as root \
             (try: sudo ferrocache ca trust --data-dir {})",
            data_dir.display()
        );
    }
    let authority = authority(data_dir)?;
    let dir = std::path::Path::new(SYSTEM_CA_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // update-ca-certificates only takes files ending in .crt.
    let target = dir.join(format!("ferrocache-{}.crt", authority.id()));
    std::fs::write(&target, authority.cert_pem())
        .with_context(|| format!("writing {}", target.display()))?;
    let status = std::process::Command::new("update-ca-certificates")
        .status()
        .context("running update-ca-certificates (Debian package ca-certificates)")?;
    if !status.success() {
        anyhow::bail!("update-ca-certificates failed: {status}");
    }
    println!("trusted {}", target.display());
    println!("{}", authority.cert_path().display());
    Ok(())
}

fn resolve_binary(path: &PathBuf) -> PathBuf {
    if path.components().count() > 1 {
        return path.clone();
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(path))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| path.clone())
}

async fn up(args: UpArgs) -> Result<()> {
    let redis_server = resolve_binary(&args.redis_server);
    let engine_version = match ferrocache_engine::version::check_redis_server(&redis_server) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            std::process::exit(2);
        }
    };
    let credentials = match &args.credentials {
        None => None,
        Some(path) => {
            let read = std::fs::read_to_string(path).map_err(|e| e.to_string());
            match read.and_then(|text| {
                ferrocache_api::signature::Credentials::from_shared_file(&text)
                    .map_err(|e| e.to_string())
            }) {
                Ok(credentials) => Some(Arc::new(credentials)),
                Err(e) => {
                    eprintln!("ferrocache: --credentials {}: {e}", path.display());
                    std::process::exit(2);
                }
            }
        }
    };
    let objects: Option<Arc<dyn ObjectStore>> = match &args.s3_endpoint {
        None => None,
        Some(url) => match S3Store::from_env(url, &args.default_region) {
            Ok(store) => Some(Arc::new(store)),
            Err(e) => {
                eprintln!("ferrocache: {e}");
                std::process::exit(2);
            }
        },
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    ensure_writable(&data_dir)?;
    let _data_dir_lock = lock_data_dir(&data_dir)?;
    let nodes_dir = data_dir.join("nodes");
    std::fs::create_dir_all(&nodes_dir)?;

    // Held until the end: dropping it lets another ferrocache lead the store.
    let shared::OpenedStore {
        store,
        shared: mut shared_store,
        described: mut store_described,
    } = shared::open_store(&args, &data_dir).await?;
    // Installed before anything runs: a SIGTERM stops this host cleanly, also while it waits
    // to lead.
    let mut stop_signal = Box::pin(stop_signal());
    let keys = match &args.at_rest_key_file {
        None => KeyRing::in_directory(data_dir.join("keys")),
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| KeyRing::given(&bytes).map_err(|e| e.to_string()))
        {
            Ok(keys) => keys,
            Err(e) => {
                eprintln!("ferrocache: --at-rest-key-file {}: {e}", path.display());
                std::process::exit(2);
            }
        },
    };

    // The control plane's secret command names and internal ACL user: one per data dir, kept
    // across restarts so adopted nodes still answer to them (docs/restricted-commands.md).
    let identity_path = data_dir.join(ferrocache_engine::IDENTITY_FILE_NAME);
    let identity = ferrocache_engine::AdminIdentity::load_or_create(&identity_path)
        .with_context(|| format!("reading {}", identity_path.display()))?;
    let pki_dir = data_dir.join(ferrocache_pki::PKI_DIR);
    let authority = ferrocache_pki::Authority::load_or_create(&pki_dir)
        .context("the certificate authority (TLS)")?;
    let ca_path = authority.cert_path();
    let certificates = Arc::new(ferrocache_pki::Certificates::new(authority));
    // The agent issues its nodes' own certificates (their keys stay on this host).
    let agent = Arc::new(
        Agent::new(nodes_dir.clone(), redis_server)
            .with_key_ring(keys.clone())
            .with_identity(identity)
            .with_certificates(certificates.clone()),
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (router, data_path) = data_path(args.data_path, args.engine_tls, &data_dir)?;
    let router = Arc::new(router);
    // Routes: the leader's controller writes them into the store; every host's data path
    // follows the store, from now on (also while it waits to lead). A host sharing its store
    // with others is fenced — its endpoints serve nobody — while it is out of touch with the
    // store, and once it stops (see ferrocache_hosts::fence).
    // When the latest beat the leading host acknowledged was sent (this host's agent hears
    // the acknowledgements; while this host leads, it is its own leader).
    let (leader_heard, leader_heard_rx) = watch::channel(None);
    let fenced = match &shared_store {
        None => watch::channel(false).1,
        Some(shared) => {
            // Probing etcd is for hosts with company (a host alone is never fenced).
            let probe_wanted = Arc::new(std::sync::atomic::AtomicBool::new(false));
            ferrocache_hosts::fence::follow_contact(
                store.clone(),
                shared.host.name.clone(),
                shared
                    .store
                    .probe_contact(probe_wanted.clone())
                    .context("starting the store's contact probe")?,
                leader_heard_rx,
                shutdown_rx.clone(),
                probe_wanted,
            )
        }
    };
    let (routes_stop, routes_stop_rx) = watch::channel(false);
    let serve_routes = {
        let (store, router, certificates) = (store.clone(), router.clone(), certificates.clone());
        let host = shared_store.as_ref().map(|s| s.host.name.clone());
        move || {
            tokio::spawn(ferrocache_control::routes::serve(
                store,
                router,
                host,
                Some(certificates),
                fenced,
                routes_stop_rx,
            ))
        }
    };
    // Hosts advertising a loopback address share one machine and its addresses: the leading
    // one's endpoints serve every client there, and a second router could not bind them.
    let shares_machine = shared_store.is_some() && args.advertise_address.is_loopback();
    let mut serve_routes = Some(serve_routes);
    let mut route_task = match shares_machine {
        true => None,
        false => serve_routes.take().map(|serve| serve()),
    };
    // With a shared store: this host's agent serves the leader (whichever host that is) from
    // now on, and this host waits to lead.
    let (runtime, host_name): (Arc<dyn NodeRuntime>, Option<String>) = match &mut shared_store {
        None => (agent.clone(), None),
        Some(shared) => {
            let listener = shared
                .agent_listener
                .take()
                .expect("the agent's listener is taken once");
            let (token, name) = (shared.secrets.agent_token.clone(), shared.host.name.clone());
            // The agents speak TLS with certificates of the hosts' shared CA.
            let agent_tls = ferrocache_pki::server_config(
                &certificates
                    .authority()
                    .issue(&ferrocache_pki::ServerNames::new(
                        [],
                        [ferrocache_hosts::wire::agent_server_name()],
                    ))
                    .context("the agent's TLS certificate")?,
            )
            .context("the agent's TLS certificate")?;
            let agents_tls = certificates
                .authority()
                .client_config()
                .context("trusting the hosts' CA")?;
            let mut agent_stop = shutdown_rx.clone();
            tokio::spawn(ferrocache_hosts::server::serve(
                listener,
                agent.clone(),
                token.clone(),
                leader_heard.clone(),
                data_dir.join("snapshots"),
                agent_tls,
                async move {
                    let _ = agent_stop.changed().await;
                },
            ));
            // Until it leads, this host demotes its own primaries that the store says were
            // replaced (its control plane orders every role once it leads).
            let (demotions_stop, demotions_stop_rx) = watch::channel(false);
            tokio::spawn(ferrocache_hosts::demote::follow(
                store.clone(),
                agent.clone(),
                name.clone(),
                demotions_stop_rx,
            ));
            println!(
                "Host: {name} in {}, agent at {}",
                shared.host.zone,
                shared.host.agent.as_deref().unwrap_or("?")
            );
            tokio::select! {
                led = shared.lead() => led?,
                _ = &mut stop_signal => {
                    tracing::info!("stopped while waiting to lead: this host's nodes save their data and stop");
                    shared::stop_local_nodes(&agent, &nodes_dir).await;
                    let _ = shutdown_tx.send(true);
                    let _ = routes_stop.send(true);
                    if let Some(task) = route_task {
                        let _ = task.await;
                    }
                    router.shutdown().await;
                    return Ok(());
                }
            }
            let _ = demotions_stop.send(true);
            store_described = format!("{store_described} (leading)");
            tokio::spawn(shared::hear_own_leadership(
                shared.leadership.clone(),
                leader_heard.clone(),
                shutdown_rx.clone(),
            ));
            if let Some(serve) = serve_routes.take() {
                route_task = Some(serve());
            }
            let runtime = ferrocache_hosts::runtime::HostsRuntime::new(
                agent.clone(),
                &name,
                &token,
                agents_tls,
            );
            runtime.follow_store(store.clone())?;
            let missing = runtime.wait_for_hosts(HOSTS_CONNECT_WAIT).await;
            if !missing.is_empty() {
                tracing::warn!(
                    ?missing,
                    "hosts not reached: their nodes are taken for gone until they answer"
                );
            }
            (runtime, Some(name))
        }
    };
    // Data written by an older release is brought to this release's layout before anything
    // reads it (by the leader only: it alone writes).
    ferrocache_control::migrate::run(store.as_ref()).context("migrating the stored state")?;
    // Every node's latest figures and Ferrocache's own, for `GET /metrics`.
    let samples = Arc::new(ferrocache_metrics::Samples::default());
    let own = Arc::new(ferrocache_metrics::Own::default());
    let service = Service::new(
        store.clone(),
        ServiceConfig {
            account_id: args.account_id.clone(),
            engine_version_running: engine_version.clone(),
            nodes_dir: Some(nodes_dir.clone()),
        },
    )
    .with_object_store(objects.clone());
    // CloudWatch's metrics and alarms, and CloudWatch Logs, live beside the control plane's
    // state in their own directories.
    let cloudwatch_dir = data_dir.join("cloudwatch");
    std::fs::create_dir_all(&cloudwatch_dir)
        .with_context(|| format!("creating {}", cloudwatch_dir.display()))?;
    let cloudwatch = Arc::new(
        CloudWatch::open(&cloudwatch_dir, &args.account_id)
            .with_context(|| format!("opening CloudWatch in {}", cloudwatch_dir.display()))?,
    );
    let logs_dir = data_dir.join("logs");
    std::fs::create_dir_all(&logs_dir)
        .with_context(|| format!("creating {}", logs_dir.display()))?;
    let logs = Arc::new(
        Logs::open(&logs_dir, &args.account_id)
            .map_err(|e| anyhow::anyhow!("{}", e.message()))
            .with_context(|| format!("opening CloudWatch Logs in {}", logs_dir.display()))?,
    );
    let controller = Controller::new(
        store.clone(),
        runtime,
        ControlConfig {
            nodes_dir,
            snapshots_dir: data_dir.join("snapshots"),
            cidr: args.endpoint_cidr,
            keys: Some(keys),
            host: host_name,
        },
    )
    .with_object_store(objects)
    .with_metrics(samples.clone(), own.clone())
    .with_publisher(Arc::new(observability::CloudWatchPublisher::new(
        cloudwatch.clone(),
    )))
    .with_log_sink(Arc::new(observability::LogsSink::new(logs.clone())));
    let controller = match args.engine_tls {
        true => controller.with_engine_tls(),
        false => controller,
    };

    let control_task = {
        let controller = controller.clone();
        let rx = shutdown_rx.clone();
        tokio::spawn(async move { controller.run(rx).await })
    };
    // Let go of the store's leadership only after the nodes stopped (the end of `up`).
    let leadership = shared_store.as_ref().map(|s| s.leadership.clone());
    if let Some(shared) = &mut shared_store {
        shared.spawn_keep_leading(controller.clone(), shutdown_rx.clone());
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another ferrocache running? use --listen)",
                args.listen
            )
        })?;
    let exposition = {
        let (controller, router, dir) = (controller.clone(), router.clone(), data_dir.clone());
        ferrocache_metrics::Exposition::new(samples, own, move || {
            ferrocache_metrics::exposition::Live {
                queue_depth: controller.pending() as u64,
                endpoints: router
                    .stats()
                    .endpoints
                    .iter()
                    .map(endpoint_figures)
                    .collect(),
                data_directory: ferrocache_store::space(&dir).map(|s| (s.free, s.total)),
            }
        })
    };
    let app = ferrocache_api::router(
        service,
        ferrocache_api::ApiConfig {
            default_region: args.default_region.clone(),
            credentials: credentials.clone(),
            metrics: Some(Arc::new(exposition)),
            cloudwatch: Some(cloudwatch.clone()),
            logs: Some(logs.clone()),
            ..Default::default()
        },
    );
    let alarms_task = tokio::spawn(observability::run_alarms(
        cloudwatch.clone(),
        shutdown_rx.clone(),
    ));
    let flush_task = tokio::spawn(observability::flush_metrics(
        cloudwatch.clone(),
        shutdown_rx.clone(),
    ));
    let mut api_shutdown = shutdown_rx.clone();
    let api_task = tokio::spawn(ferrocache_api::serve(listener, app, async move {
        let _ = api_shutdown.changed().await;
    }));

    println!("Ferrocache API: http://{}", args.listen);
    println!("export AWS_ENDPOINT_URL=http://{}", args.listen);
    match &credentials {
        None => println!("export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"),
        Some(c) => println!(
            "Signatures are verified: use one of the {} key(s) of --credentials",
            c.len()
        ),
    }
    println!("export AWS_DEFAULT_REGION={}", args.default_region);
    println!("Prometheus metrics: http://{}/metrics", args.listen);
    println!("Console: http://{}/console/", args.listen);
    println!(
        "Engine: redis-server {engine_version}; data in {}; endpoints in {}",
        data_dir.display(),
        args.endpoint_cidr
    );
    println!("Store: {store_described}");
    println!("Data path: {data_path}");
    println!(
        "TLS: endpoints' certificates are issued by the CA in {} (trust it: ferrocache ca trust --data-dir {})",
        ca_path.display(),
        data_dir.display()
    );
    println!("Ready.");

    (&mut stop_signal).await;
    tracing::info!("shutting down: nodes save their data and stop");
    let _ = shutdown_tx.send(true);
    let _ = api_task.await;
    let _ = control_task.await;
    let _ = alarms_task.await;
    // After the control loop stopped sampling: the last datapoints reach the disk.
    let _ = flush_task.await;
    controller.stop_nodes().await;
    if let Some(leadership) = leadership {
        leadership.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
    // Withdrawn last: this host is listed until its nodes stopped.
    drop(shared_store);
    let _ = routes_stop.send(true);
    if let Some(task) = route_task {
        let _ = task.await;
    }
    router.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// The router, with the kernel path when `choice` asks for it and it loads, and the banner's
/// line saying which data path endpoints use.
///
/// # Errors
/// `--data-path kernel` where the kernel path cannot run.
fn data_path(
    choice: DataPathChoice,
    engine_tls: bool,
    data_dir: &std::path::Path,
) -> Result<(Router, String)> {
    let limits = RouterLimits::default();
    if choice == DataPathChoice::Router {
        return Ok((
            Router::new(limits),
            "router (--data-path router): every connection passes through Ferrocache".into(),
        ));
    }
    // The scratch mount point only exists for an instant (see ferrocache_redirect).
    let scratch = data_dir.join("run").join("cgroup2");
    match ferrocache_router::Redirector::load(&scratch) {
        Ok(redirector) => {
            let line = format!(
                "kernel (eBPF connect-time redirection on the {}): clients are connected \
                 straight to their node{}; refused sources and failovers in progress go \
                 through the router",
                redirector.describe(),
                match engine_tls {
                    true =>
                        " (TLS required: to the node's own TLS port; TLS preferred through \
                             the router)",
                    false =>
                        " (TLS endpoints through the router; --engine-tls for the nodes' \
                              own TLS)",
                }
            );
            Ok((Router::with_kernel(limits, redirector), line))
        }
        Err(e) if choice == DataPathChoice::Kernel => {
            Err(anyhow::anyhow!("--data-path kernel cannot run here: {e}"))
        }
        Err(e) => {
            tracing::info!(reason = %e, "kernel data path unavailable; the router serves every endpoint");
            Ok((
                Router::new(limits),
                format!("router (the kernel path cannot run here: {e})"),
            ))
        }
    }
}

/// An endpoint's counters as the metrics page shows them.
fn endpoint_figures(e: &ferrocache_router::EndpointStats) -> ferrocache_metrics::EndpointFigures {
    ferrocache_metrics::EndpointFigures {
        listen: e.listen.to_string(),
        label: e.label.clone(),
        kind: match e.kind {
            ferrocache_router::EndpointKind::Node => "node",
            ferrocache_router::EndpointKind::Primary => "primary",
            ferrocache_router::EndpointKind::Reader => "reader",
        }
        .to_string(),
        data_path: e.data_path.to_string(),
        accepted: e.accepted + e.redirected,
        redirected: e.redirected,
        active: e.active,
        refused: e.refused,
        denied: e.denied,
        plaintext_refused: e.plaintext_refused,
        fenced: e.fenced,
        bytes_in: e.bytes_in,
        bytes_out: e.bytes_out,
    }
}

/// Installs the SIGTERM and SIGINT handlers now; the future completes on the first signal.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
