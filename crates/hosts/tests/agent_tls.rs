//! The agent API speaks TLS only, with a certificate of the hosts' CA, and answers the
//! hosts' token only.

use std::sync::Arc;

use ferrocache_agent::Agent;
use ferrocache_hosts::client::RemoteHost;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// Goal: a host's calls reach another's agent over TLS (the certificate checked against the
// hosts' CA and the address), a plaintext request gets no HTTP answer, a client trusting
// another CA is refused, and a wrong token is refused. Method: a real agent server on
// loopback, the real client, and a raw TCP connection.
#[tokio::test]
async fn the_agent_answers_over_tls_to_the_hosts_ca_and_token_only() {
    let dir = tempfile::tempdir().unwrap();
    let authority = ferrocache_pki::Authority::load_or_create(&dir.path().join("pki")).unwrap();
    let names = ferrocache_pki::ServerNames::new([], [ferrocache_hosts::wire::agent_server_name()]);
    let server_tls = ferrocache_pki::server_config(&authority.issue(&names).unwrap()).unwrap();
    let trusting = authority.client_config().unwrap();
    let agent = Arc::new(Agent::new(dir.path().join("nodes"), "redis-server".into()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (heard, _) = tokio::sync::watch::channel(None);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(ferrocache_hosts::server::serve(
        listener,
        agent,
        "token".into(),
        heard,
        dir.path().join("snapshots"),
        server_tls,
        async move {
            let _ = stopped.changed().await;
        },
    ));

    let host = RemoteHost::new("h", &address, "token", trusting.clone());
    let aside = host.set_aside_data("n1").await;
    assert!(matches!(aside, Ok(None)), "{aside:?}");

    let wrong_token = RemoteHost::new("h", &address, "other", trusting);
    assert!(wrong_token.set_aside_data("n1").await.is_err());

    let other = ferrocache_pki::Authority::load_or_create(&dir.path().join("other")).unwrap();
    let stranger = RemoteHost::new("h", &address, "token", other.client_config().unwrap());
    let refused = stranger.set_aside_data("n1").await;
    assert!(
        matches!(
            refused,
            Err(ferrocache_agent::AgentError::HostUnreachable { .. })
        ),
        "{refused:?}"
    );

    let mut plain = tokio::net::TcpStream::connect(&address).await.unwrap();
    plain
        .write_all(b"POST /agent/v1/set-aside HTTP/1.1\r\nhost: h\r\ncontent-length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        plain.read_to_end(&mut answer),
    )
    .await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}
