//! Availability zones of a region and how nodes are spread over them.
//!
//! A region offers the zones `<region>a`, `<region>b` and `<region>c` (the zones of its default
//! VPC's subnets). A node goes into one of the zones of its cache subnet group ([`place`]);
//! [`spread`] over the region's zones remains for nodes recorded before subnet groups existed.

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

/// Zones for new nodes of one group (or one subnet group): each requested zone must be one of
/// `zones` (the subnet group's); each unrequested one is the zone of `zones` holding the fewest
/// nodes so far — counting `taken` (zones of the nodes that exist) and the zones given before it
/// — first zone on ties. So the primary and its replicas land in different zones whenever the
/// subnet group spans more than one.
///
/// # Errors
/// [`Fault::InvalidVpcNetworkState`] for a requested zone without a subnet in `zones`.
pub fn place(
    zones: &[String],
    taken: &[String],
    requested: &[Option<String>],
) -> Result<Vec<String>, Fault> {
    if let Some(z) = requested.iter().flatten().find(|z| !zones.contains(z)) {
        return Err(Fault::InvalidVpcNetworkState(format!(
            "No subnet is present in the cache subnet group for availability zone {z}."
        )));
    }
    let mut counts: Vec<usize> = zones
        .iter()
        .map(|z| {
            taken
                .iter()
                .chain(requested.iter().flatten())
                .filter(|t| *t == z)
                .count()
        })
        .collect();
    let mut placed = Vec::with_capacity(requested.len());
    for wanted in requested {
        let zone = match wanted {
            Some(z) => z.clone(),
            None => {
                let Some((i, _)) = counts.iter().enumerate().min_by_key(|(i, c)| (**c, *i)) else {
                    return Err(Fault::InvalidVpcNetworkState(
                        "The cache subnet group has no subnets.".into(),
                    ));
                };
                counts[i] += 1;
                zones[i].clone()
            }
        };
        placed.push(zone);
    }
    Ok(placed)
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

    // Goal: nodes go to the subnet group's zones only, apart where possible, requested zones
    // honoured and counted. Method: place groups over two and three zones.
    #[test]
    fn place_uses_the_subnet_groups_zones() {
        let two = ["us-east-1a".to_string(), "us-east-1b".to_string()];
        let z = place(&two, &[], &[None, None, None]).unwrap();
        assert_eq!(z, ["us-east-1a", "us-east-1b", "us-east-1a"]);
        let z = place(&two, &["us-east-1a".into()], &[None]).unwrap();
        assert_eq!(z, ["us-east-1b"]);
        let z = place(&two, &[], &[None, Some("us-east-1a".into())]).unwrap();
        assert_eq!(z, ["us-east-1b", "us-east-1a"]);
        let e = place(&two, &[], &[Some("us-east-1c".into())]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "No subnet is present in the cache subnet group for availability zone us-east-1c."
        );
        assert!(place(&[], &[], &[None]).is_err());
    }
}
