//! Availability zones of a region and how nodes are spread over them.
//!
//! Until subnet groups exist, a region offers the zones `<region>a`, `<region>b` and
//! `<region>c` (the zones of a default VPC's subnets in most regions).

use crate::Fault;

/// The zone letters a region offers by default.
pub const ZONE_SUFFIXES: [char; 3] = ['a', 'b', 'c'];

/// The availability zones of `region`.
pub fn zones(region: &str) -> Vec<String> {
    ZONE_SUFFIXES
        .iter()
        .map(|s| format!("{region}{s}"))
        .collect()
}

/// Checks that `zone` is one of `region`'s zones.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] naming the zone.
pub fn validate(region: &str, zone: &str) -> Result<(), Fault> {
    if zones(region).iter().any(|z| z == zone) {
        Ok(())
    } else {
        Err(Fault::value(format!("Invalid availability zone: {zone}")))
    }
}

/// Places `count` nodes: preferred zones where given (position by position), else spread
/// round-robin starting from the first zone, so that the primary (first) and its replicas land
/// in different zones whenever there is more than one node.
pub fn spread(region: &str, preferred: &[String], count: usize, start: usize) -> Vec<String> {
    let all = zones(region);
    (0..count)
        .map(|i| {
            preferred
                .get(i)
                .cloned()
                .unwrap_or_else(|| all[(start + i) % all.len()].clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_puts_primary_and_replicas_apart() {
        let z = spread("us-east-1", &[], 3, 0);
        assert_eq!(z, ["us-east-1a", "us-east-1b", "us-east-1c"]);
        let z = spread("us-east-1", &["us-east-1c".into()], 2, 0);
        assert_eq!(z, ["us-east-1c", "us-east-1b"]);
        assert!(validate("us-east-1", "us-west-2a").is_err());
    }
}
