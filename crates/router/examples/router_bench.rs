//! Bench harness for `bench/router.sh`: runs a [`Router`] with `Primary` endpoints given on
//! the command line until SIGINT/SIGTERM, then prints its counters to stderr.
//!
//! ```text
//! router_bench [--workers N] [--kernel] [--pki-dir DIR] --endpoint LISTEN=tcp:HOST:PORT \
//!     --endpoint LISTEN=unix:PATH --tls-endpoint LISTEN=tcp:HOST:PORT \
//!     --endpoint reader/LISTEN=tcp:HOST:PORT,tcp:HOST:PORT ...
//! ```
//! An endpoint is a `primary` (the default), `reader` or `node` endpoint (`KIND/LISTEN=…`), with
//! one backend or, for a reader, several (comma-separated).
//! `--kernel` loads the kernel data path (root only): every plaintext endpoint with TCP backends
//! then has its clients connected straight to the backend; the others stay on the router.
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
    Admission, Backend, EndpointKind, EndpointRoute, Redirector, RouteTable, Router, RouterLimits,
    Security, Tls, TlsMode,
};
use tokio::signal::unix::{signal, SignalKind};

/// Worker threads when `--workers` is not given.
const WORKERS_DEFAULT: usize = 1;

struct Args {
    workers: usize,
    pki_dir: Option<PathBuf>,
    kernel: bool,
    /// Kind, listen address, backends, and whether the endpoint requires TLS.
    endpoints: Vec<(EndpointKind, SocketAddr, Vec<Backend>, bool)>,
}

fn usage() -> String {
    "usage: router_bench [--workers N] [--kernel] [--pki-dir DIR] \
     (--endpoint|--tls-endpoint) [primary/|reader/|node/]LISTEN=BACKEND[,BACKEND...] ... \
     where BACKEND is tcp:HOST:PORT or unix:PATH"
        .into()
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        workers: WORKERS_DEFAULT,
        pki_dir: None,
        kernel: false,
        endpoints: Vec::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        if flag == "--kernel" {
            args.kernel = true;
            continue;
        }
        let value = argv.next().ok_or_else(usage)?;
        match flag.as_str() {
            "--workers" => args.workers = value.parse()?,
            "--pki-dir" => args.pki_dir = Some(PathBuf::from(value)),
            "--endpoint" | "--tls-endpoint" => {
                let (listen, backends) = value.split_once('=').ok_or_else(usage)?;
                let (kind, listen) = match listen.split_once('/') {
                    None | Some(("primary", _)) => {
                        (EndpointKind::Primary, listen.trim_start_matches("primary/"))
                    }
                    Some(("reader", l)) => (EndpointKind::Reader, l),
                    Some(("node", l)) => (EndpointKind::Node, l),
                    Some(_) => return Err(usage().into()),
                };
                let mut parsed = Vec::new();
                for backend in backends.split(',') {
                    parsed.push(if let Some(addr) = backend.strip_prefix("tcp:") {
                        Backend::Tcp(addr.parse()?)
                    } else if let Some(path) = backend.strip_prefix("unix:") {
                        Backend::Unix(PathBuf::from(path))
                    } else {
                        return Err(usage().into());
                    });
                }
                args.endpoints
                    .push((kind, listen.parse()?, parsed, flag == "--tls-endpoint"));
            }
            _ => return Err(usage().into()),
        }
    }
    if args.endpoints.is_empty() || (args.endpoints.iter().any(|e| e.3) && args.pki_dir.is_none()) {
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
    let router = if args.kernel {
        let scratch =
            std::env::temp_dir().join(format!("router-bench-cgroup-{}", std::process::id()));
        Router::with_kernel(RouterLimits::default(), Redirector::load(&scratch)?)
    } else {
        Router::new(RouterLimits::default())
    };
    let certificates = match &args.pki_dir {
        Some(dir) => Some(Certificates::new(Authority::load_or_create(dir)?)),
        None => None,
    };
    let mut endpoints = Vec::new();
    for (kind, listen, backends, tls) in args.endpoints {
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
        let direct = backends
            .iter()
            .filter_map(|b| match b {
                Backend::Tcp(addr) => Some(*addr),
                Backend::Unix(_) => None,
            })
            .collect();
        endpoints.push(EndpointRoute {
            listen,
            kind,
            label: format!(
                "bench {kind} {}{}",
                backends[0],
                if tls.is_some() { " tls" } else { "" }
            ),
            backends,
            direct,
            direct_tls: Vec::new(),
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
            "{} path={} redirected={} accepted={} refused={} connect_failed={} tls_handshakes={} tls_failed={} bytes_in={} bytes_out={}",
            e.label,
            e.data_path,
            e.redirected,
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
