//! In-process tests of the ElastiCache edge: requests through the axum router (`oneshot`) into a
//! real `Service` over a temp-dir store; responses parsed as XML and checked by element name,
//! order, status and wire code.

mod support;

mod cache_cluster;
mod console;
mod edge;
mod errors;
mod event;
mod modify;
mod network;
mod parameter_group;
mod replication_group;
mod snapshot;
mod tag;

/// Asserts that `names` appear in the order of `model` (the AWS model's member order) and that
/// none is unknown to it.
pub fn assert_model_order(names: &[&str], model: &[&str]) {
    let mut last = 0;
    for name in names {
        let at = model
            .iter()
            .position(|m| m == name)
            .unwrap_or_else(|| panic!("{name} is not a model member"));
        assert!(at >= last, "{name} out of model order in {names:?}");
        last = at;
    }
}
