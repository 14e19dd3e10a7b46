//! `ferrocache`: self-hosted Amazon ElastiCache for Redis in one binary.
//!
//! `ferrocache up` runs everything in one process: the ElastiCache API (awsQuery over HTTP), the
//! control loop, the agent that runs `redis-server` nodes, and the router that serves every
//! endpoint. This file only wires the crates together and handles start-up and shutdown; see
//! `docs/architecture.md` for the parts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use ferrocache_agent::Agent;
use ferrocache_control::object_store::ObjectStore;
use ferrocache_control::reconcile::{ControlConfig, Controller, TICK_DEFAULT};
use ferrocache_control::{Service, ServiceConfig};
use ferrocache_router::{Router, RouterLimits};
use ferrocache_store::RedbStore;
use ipnet::Ipv4Net;
use tokio::sync::watch;

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
    Up(UpArgs),
}

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
    /// S3-compatible object store (plain `http://host:port`, path-style) for
    /// `copy-snapshot --target-bucket` and `--snapshot-arns arn:aws:s3:::bucket/key.rdb`; signs
    /// with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN). Without it both
    /// are refused.
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
}

fn main() -> Result<()> {
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
            runtime.block_on(up(args))
        }
    }
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
    let objects = match &args.s3_endpoint {
        None => None,
        Some(url) => match ObjectStore::from_env(url, &args.default_region) {
            Ok(o) => Some(o),
            Err(e) => {
                eprintln!("ferrocache: {e}");
                std::process::exit(2);
            }
        },
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let nodes_dir = data_dir.join("nodes");
    std::fs::create_dir_all(&nodes_dir)?;

    let store: Arc<dyn ferrocache_store::Store> =
        Arc::new(RedbStore::open(&data_dir.join("state.redb"))?);
    let agent = Arc::new(Agent::new(nodes_dir.clone(), redis_server));
    let service = Service::new(
        store.clone(),
        ServiceConfig {
            account_id: args.account_id.clone(),
            engine_version_running: engine_version.clone(),
        },
    )
    .with_object_store(objects.clone());
    let controller = Controller::new(
        store.clone(),
        agent,
        ControlConfig {
            nodes_dir,
            snapshots_dir: data_dir.join("snapshots"),
            cidr: args.endpoint_cidr,
            tick: TICK_DEFAULT,
        },
    )
    .with_object_store(objects);
    let router = Arc::new(Router::new(RouterLimits::default()));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    // Routes: the controller publishes whole tables; the router applies them.
    let mut routes = controller.routes();
    let route_router = router.clone();
    let mut route_shutdown = shutdown_rx.clone();
    let route_task = tokio::spawn(async move {
        loop {
            let table = routes.borrow_and_update().clone();
            for (addr, error) in route_router.apply(table).await {
                tracing::warn!(%addr, %error, "endpoint could not listen");
            }
            tokio::select! {
                changed = routes.changed() => if changed.is_err() { break },
                _ = route_shutdown.changed() => break,
            }
        }
    });

    let control_task = {
        let controller = controller.clone();
        let rx = shutdown_rx.clone();
        tokio::spawn(async move { controller.run(rx).await })
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another ferrocache running? use --listen)",
                args.listen
            )
        })?;
    let app = ferrocache_api::router(
        service,
        ferrocache_api::ApiConfig {
            default_region: args.default_region.clone(),
            ..Default::default()
        },
    );
    let mut api_shutdown = shutdown_rx.clone();
    let api_task = tokio::spawn(ferrocache_api::serve(listener, app, async move {
        let _ = api_shutdown.changed().await;
    }));

    println!("Ferrocache API: http://{}", args.listen);
    println!("export AWS_ENDPOINT_URL=http://{}", args.listen);
    println!("export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test");
    println!("export AWS_DEFAULT_REGION={}", args.default_region);
    println!(
        "Engine: redis-server {engine_version}; data in {}; endpoints in {}",
        data_dir.display(),
        args.endpoint_cidr
    );
    // Handlers go in before "Ready.": a SIGTERM sent as soon as that line shows must stop us
    // cleanly, not by the default action.
    let stop_signal = stop_signal();
    println!("Ready.");

    stop_signal.await;
    tracing::info!("shutting down: nodes save their data and stop");
    let _ = shutdown_tx.send(true);
    let _ = api_task.await;
    let _ = control_task.await;
    controller.stop_nodes().await;
    let _ = route_task.await;
    router.shutdown().await;
    tracing::info!("stopped");
    Ok(())
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
