//! Bench harness for `bench/router.sh`: runs a [`Router`] with `Primary` endpoints given on
//! the command line until SIGINT/SIGTERM, then prints its counters to stderr.
//!
//! ```text
//! router_bench [--workers N] [--pki-dir DIR] --endpoint LISTEN=tcp:HOST:PORT \
//!     --endpoint LISTEN=unix:PATH --tls-endpoint LISTEN=tcp:HOST:PORT ...
//! ```
//! A `--tls-endpoint` requires TLS (mode `required`) with a certificate for its listen address,
//! issued by the Ferrocache CA of `--pki-dir` (created there if missing; clients verify with
//! `DIR/ca.pem`).
//! `--workers 0` runs the router on Tokio's current-thread runtime; `N > 0` on the multi-thread
//! runtime with `N` workers (default: 1 worker thread, see bench/README.md for why).
//! Prints `ready` on stdout once every endpoint listens.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;

use ferrocache_pki::{Authority, Certificates, ServerNames};
use ferrocache_router::{
    Admission, Backend, EndpointKind, EndpointRoute, RouteTable, Router, RouterLimits, Security,
    Tls, TlsMode,
};
use tokio::signal::unix::{signal, SignalKind};

/// Worker threads when `--workers` is not given.
const WORKERS_DEFAULT: usize = 1;

struct Args {
    workers: usize,
    pki_dir: Option<PathBuf>,
    /// Listen address, backend, and whether the endpoint requires TLS.
    endpoints: Vec<(SocketAddr, Backend, bool)>,
}

fn usage() -> String {
    "usage: router_bench [--workers N] [--pki-dir DIR] \
     (--endpoint|--tls-endpoint) LISTEN=tcp:HOST:PORT|LISTEN=unix:PATH ..."
        .into()
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        workers: WORKERS_DEFAULT,
        pki_dir: None,
        endpoints: Vec::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(usage)?;
        match flag.as_str() {
            "--workers" => args.workers = value.parse()?,
            "--pki-dir" => args.pki_dir = Some(PathBuf::from(value)),
            "--endpoint" | "--tls-endpoint" => {
                let (listen, backend) = value.split_once('=').ok_or_else(usage)?;
                let backend = if let Some(addr) = backend.strip_prefix("tcp:") {
                    Backend::Tcp(addr.parse()?)
                } else if let Some(path) = backend.strip_prefix("unix:") {
                    Backend::Unix(PathBuf::from(path))
                } else {
                    return Err(usage().into());
                };
                args.endpoints
                    .push((listen.parse()?, backend, flag == "--tls-endpoint"));
            }
            _ => return Err(usage().into()),
        }
    }
    if args.endpoints.is_empty() || (args.endpoints.iter().any(|e| e.2) && args.pki_dir.is_none()) {
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
    let certificates = match &args.pki_dir {
        Some(dir) => Some(Certificates::new(Authority::load_or_create(dir)?)),
        None => None,
    };
    let mut endpoints = Vec::new();
    for (listen, backend, tls) in args.endpoints {
        let tls = match (&certificates, tls) {
            (Some(certs), true) => {
                let names = ServerNames::new([listen.ip()], []);
                let server = certs.server_tls(&listen.to_string(), &names)?;
                Some(Tls::new(
                    TlsMode::Required,
                    server.config,
                    server.fingerprint,
                ))
            }
            _ => None,
        };
        endpoints.push(EndpointRoute {
            listen,
            kind: EndpointKind::Primary,
            label: format!("bench {backend}{}", if tls.is_some() { " tls" } else { "" }),
            backends: vec![backend],
            epoch: 1,
            security: Security {
                admission: Admission::Any,
                tls,
            },
        });
    }
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
            "{} accepted={} refused={} connect_failed={} tls_handshakes={} tls_failed={} bytes_in={} bytes_out={}",
            e.label,
            e.accepted,
            e.refused,
            e.connect_failed,
            e.tls_handshakes,
            e.tls_failed,
            e.bytes_in,
            e.bytes_out
        );
    }
    router.shutdown().await;
    Ok(())
}
