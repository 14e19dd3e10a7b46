//! The outside contract of `ferrocache up` itself: what it prints, how it stops, and that two
//! instances side by side do not collide.

use std::time::Duration;

use ferrocache_testkit::{Ferrocache, Options};

// Goal: a user who starts `ferrocache up` is told the API URL and the exact `export` lines, then
// `Ready.`, and SIGTERM ends it with exit code 0. Method: start through the testkit, compare the
// captured stdout with the contract, stop with SIGTERM and read the exit status.
#[test]
fn prints_exports_then_ready_and_stops_cleanly_on_sigterm() {
    let mut fc = Ferrocache::start().expect("start ferrocache");
    let url = fc.endpoint_url();
    let lines: Vec<String> = fc
        .stdout_lines()
        .iter()
        .map(|l| l.trim().to_string())
        .collect();
    let api_line = format!("Ferrocache API: {url}");
    let expected = [
        api_line.as_str(),
        &format!("export AWS_ENDPOINT_URL={url}"),
        "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test",
        "export AWS_DEFAULT_REGION=us-east-1",
        "Ready.",
    ];
    let mut position = 0;
    for want in expected {
        let found = lines[position..].iter().position(|l| l == want);
        let found = found.unwrap_or_else(|| panic!("missing line {want:?} in order in {lines:#?}"));
        position += found + 1;
    }
    let status = fc.stop().expect("stop");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );
}

// Goal: two instances with their own data dir, port and CIDR run side by side (tests and users
// rely on it), and a restart comes back on the same port. Method: start two, check both print
// Ready on different URLs, restart one and check it is ready again.
#[test]
fn two_instances_side_by_side_and_restart() {
    let options = Options {
        ready_timeout: Duration::from_secs(60),
        ..Options::default()
    };
    let first = Ferrocache::start_with(options.clone()).expect("first instance");
    let mut second = Ferrocache::start_with(options).expect("second instance");
    assert_ne!(first.endpoint_url(), second.endpoint_url());
    assert_ne!(first.cidr(), second.cidr());
    let url = second.endpoint_url();
    second.restart().expect("restart second");
    assert_eq!(second.endpoint_url(), url);
    let ready_count = second
        .stdout_lines()
        .iter()
        .filter(|l| l.trim() == "Ready.")
        .count();
    assert_eq!(ready_count, 2);
}
