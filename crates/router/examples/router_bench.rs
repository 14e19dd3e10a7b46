//! Bench harness for `bench/router.sh`: runs a [`Router`] with `Primary` endpoints given on
//! the command line until SIGINT/SIGTERM, then prints its counters to stderr.
//!
//! ```text
//! router_bench [--workers N] --endpoint LISTEN=tcp:HOST:PORT --endpoint LISTEN=unix:PATH ...
//! ```
//! `--workers 0` runs the router on Tokio's current-thread runtime; `N > 0` on the multi-thread
//! runtime with `N` workers (default: 1 worker thread, see bench/README.md for why).
//! Prints `ready` on stdout once every endpoint listens.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;

use ferrocache_router::{Backend, EndpointKind, EndpointRoute, RouteTable, Router, RouterLimits};
use tokio::signal::unix::{signal, SignalKind};

/// Worker threads when `--workers` is not given.
const WORKERS_DEFAULT: usize = 1;

struct Args {
    workers: usize,
    endpoints: Vec<(SocketAddr, Backend)>,
}

fn usage() -> String {
    "usage: router_bench [--workers N] --endpoint LISTEN=tcp:HOST:PORT|LISTEN=unix:PATH ...".into()
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        workers: WORKERS_DEFAULT,
        endpoints: Vec::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(usage)?;
        match flag.as_str() {
            "--workers" => args.workers = value.parse()?,
            "--endpoint" => {
                let (listen, backend) = value.split_once('=').ok_or_else(usage)?;
                let backend = if let Some(addr) = backend.strip_prefix("tcp:") {
                    Backend::Tcp(addr.parse()?)
                } else if let Some(path) = backend.strip_prefix("unix:") {
                    Backend::Unix(PathBuf::from(path))
                } else {
                    return Err(usage().into());
                };
                args.endpoints.push((listen.parse()?, backend));
            }
            _ => return Err(usage().into()),
        }
    }
    if args.endpoints.is_empty() {
        return Err(usage().into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let runtime = if args.workers == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let router = Router::new(RouterLimits::default());
    let endpoints = args
        .endpoints
        .into_iter()
        .map(|(listen, backend)| EndpointRoute {
            listen,
            kind: EndpointKind::Primary,
            label: format!("bench {backend}"),
            backends: vec![backend],
            epoch: 1,
        })
        .collect();
    let errors = router.apply(RouteTable { endpoints }).await;
    if let Some((listen, e)) = errors.into_iter().next() {
        return Err(format!("cannot serve {listen}: {e}").into());
    }
    println!("ready");
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    for e in router.stats().endpoints {
        eprintln!(
            "{} accepted={} refused={} connect_failed={} bytes_in={} bytes_out={}",
            e.label, e.accepted, e.refused, e.connect_failed, e.bytes_in, e.bytes_out
        );
    }
    router.shutdown().await;
    Ok(())
}
