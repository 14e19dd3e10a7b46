//! The typed views of `CLUSTER INFO` and `CLUSTER NODES`. [`ClusterInfo::parse`] reads the
//! `field:value` text into the facts the control plane waits on (is the cluster `ok`, are all
//! slots assigned, how many nodes does this one know); [`ClusterNode::parse_all`] reads one
//! line per known node into [`ClusterNode`]s. Neither ever panics. Unlike `INFO`, every field
//! we keep is required: a field Redis 7.0 always sends that is missing or unreadable means the
//! text is not what we think it is, and a guessed slot owner or role is how a cluster ends up
//! with two primaries for one slot.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::error::EngineError;

/// Number of hash slots of a Redis cluster; slots are `0..CLUSTER_SLOTS`.
pub const CLUSTER_SLOTS: u16 = 16384;

/// Length of a cluster node id: 40 hex digits (160 random bits).
pub const CLUSTER_NODE_ID_LEN: usize = 40;

/// The facts from `CLUSTER INFO` that Ferrocache uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterInfo {
    /// `cluster_state:ok`: this node serves queries (every slot is covered by a reachable
    /// primary, unless `cluster-require-full-coverage` is off).
    pub state_ok: bool,
    /// `cluster_slots_assigned`: slots with an owner, as this node sees them.
    pub slots_assigned: u32,
    /// `cluster_slots_ok`: assigned slots whose owner is neither `fail` nor `fail?`.
    pub slots_ok: u32,
    /// `cluster_known_nodes`: nodes in this node's table, itself and nodes still in handshake
    /// included.
    pub known_nodes: u32,
    /// `cluster_size`: primaries serving at least one slot.
    pub size: u32,
    /// `cluster_current_epoch`: the highest epoch this node has seen.
    pub current_epoch: u64,
    /// `cluster_my_epoch`: the config epoch of this node, or of its primary for a replica.
    pub my_epoch: u64,
}

impl ClusterInfo {
    /// Parses the text of `CLUSTER INFO` (`\r\n` or `\n` line ends); fields we do not use are
    /// ignored, so later Redis releases may add their own.
    ///
    /// # Errors
    ///
    /// [`EngineError::ClusterMalformed`] when a field this struct holds is missing or is not
    /// a number (or, for `cluster_state`, neither `ok` nor `fail`).
    pub fn parse(text: &str) -> Result<ClusterInfo, EngineError> {
        let fields: BTreeMap<&str, &str> = text
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| line.split_once(':'))
            .map(|(field, value)| (field, value.trim()))
            .collect();
        let field = |name: &str| {
            fields
                .get(name)
                .copied()
                .ok_or_else(|| malformed("CLUSTER INFO", format!("no {name} field")))
        };
        fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, EngineError> {
            value.parse().map_err(|_| {
                malformed("CLUSTER INFO", format!("{name} is {value:?}, not a number"))
            })
        }
        let state_ok = match field("cluster_state")? {
            "ok" => true,
            "fail" => false,
            other => {
                return Err(malformed(
                    "CLUSTER INFO",
                    format!("unknown cluster_state {other:?}"),
                ))
            }
        };
        Ok(ClusterInfo {
            state_ok,
            slots_assigned: number("cluster_slots_assigned", field("cluster_slots_assigned")?)?,
            slots_ok: number("cluster_slots_ok", field("cluster_slots_ok")?)?,
            known_nodes: number("cluster_known_nodes", field("cluster_known_nodes")?)?,
            size: number("cluster_size", field("cluster_size")?)?,
            current_epoch: number("cluster_current_epoch", field("cluster_current_epoch")?)?,
            my_epoch: number("cluster_my_epoch", field("cluster_my_epoch")?)?,
        })
    }
}

/// One node as a `CLUSTER NODES` line describes it, from the answering node's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterNode {
    /// The node's cluster id (40 hex digits). A node still in handshake shows a temporary
    /// random id that is replaced by its real one once it answers, so never record this id
    /// while [`handshake`](Self::handshake) is set.
    pub id: String,
    /// The address the node announced; `None` while it is unknown (`noaddr`, shown as `:0`).
    pub ip: Option<IpAddr>,
    /// The client port it announced; 0 while unknown.
    pub port: u16,
    /// The cluster bus port it announced; 0 while unknown.
    pub bus_port: u16,
    /// The hostname it announced (`cluster-announce-hostname`), if any.
    pub hostname: Option<String>,
    /// Flag `myself`: this line describes the node that answered.
    pub myself: bool,
    /// Flag `master`.
    pub primary: bool,
    /// Flag `slave`.
    pub replica: bool,
    /// Flag `fail`: a majority of primaries agreed the node is unreachable.
    pub failed: bool,
    /// Flag `fail?`: the answering node alone cannot reach it (PFAIL).
    pub possibly_failed: bool,
    /// Flag `handshake`: met but not yet answered; the id is a placeholder.
    pub handshake: bool,
    /// Flag `noaddr`: the address is unknown.
    pub no_address: bool,
    /// For a replica, the id of its primary; `None` for a primary (`-`).
    pub primary_id: Option<String>,
    /// The node's config epoch (for a replica, the one it last had as a primary, usually 0).
    pub config_epoch: u64,
    /// The answering node's cluster bus link to this one is `connected` (always true for
    /// `myself`).
    pub connected: bool,
    /// The slots the node owns, as inclusive ranges in the order listed; slots being migrated
    /// or imported (`[n->-id]`, `[n-<-id]`) are not listed here.
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    /// Parses the text of `CLUSTER NODES`: one node per non-empty line.
    ///
    /// # Errors
    ///
    /// [`EngineError::ClusterMalformed`] naming the first line that [`parse`](Self::parse)
    /// refuses.
    pub fn parse_all(text: &str) -> Result<Vec<ClusterNode>, EngineError> {
        text.lines()
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.trim().is_empty())
            .map(ClusterNode::parse)
            .collect()
    }

    /// Parses one `CLUSTER NODES` line:
    /// `<id> <ip:port@cport[,hostname]> <flags> <primary-id|-> <ping-sent> <pong-recv>
    /// <config-epoch> <link-state> <slot> <slot> ...`.
    /// IPv6 addresses come without brackets (`::1:7000@17000`), so the port is what follows
    /// the last `:`. Unknown flags are ignored.
    ///
    /// # Errors
    ///
    /// [`EngineError::ClusterMalformed`] for fewer than eight fields, an id that is not 40 hex
    /// digits, an unreadable address, port or epoch, or a slot outside `0..16384` or a range
    /// that runs backwards.
    pub fn parse(line: &str) -> Result<ClusterNode, EngineError> {
        let fail = |reason: String| malformed("CLUSTER NODES", format!("{reason} in {line:?}"));
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [id, address, flags, primary, _ping_sent, _pong_received, epoch, link, slots @ ..] =
            fields.as_slice()
        else {
            return Err(fail(format!(
                "{} fields where at least 8 are expected",
                fields.len()
            )));
        };
        if !is_node_id(id) {
            return Err(fail(format!(
                "node id {id:?} is not {CLUSTER_NODE_ID_LEN} hex digits"
            )));
        }
        let (ip, port, bus_port, hostname) = parse_address(address).map_err(&fail)?;
        let mut node = ClusterNode {
            id: id.to_string(),
            ip,
            port,
            bus_port,
            hostname,
            primary_id: match *primary {
                "-" => None,
                other if is_node_id(other) => Some(other.to_string()),
                other => return Err(fail(format!("primary id {other:?} is not a node id"))),
            },
            config_epoch: epoch
                .parse()
                .map_err(|_| fail(format!("config epoch {epoch:?} is not a number")))?,
            connected: *link == "connected",
            ..ClusterNode::default()
        };
        for flag in flags.split(',') {
            match flag {
                "myself" => node.myself = true,
                "master" => node.primary = true,
                "slave" => node.replica = true,
                "fail" => node.failed = true,
                "fail?" => node.possibly_failed = true,
                "handshake" => node.handshake = true,
                "noaddr" => node.no_address = true,
                // `nofailover`, `noflags` and any later additions say nothing we act on.
                _ => {}
            }
        }
        for entry in slots {
            // `[slot->-id]` (migrating) and `[slot-<-id]` (importing): the slot still belongs
            // to whoever it is listed under elsewhere, so these add nothing to ownership.
            if entry.starts_with('[') {
                continue;
            }
            let range = match entry.split_once('-') {
                Some((start, end)) => (parse_slot(start), parse_slot(end)),
                None => (parse_slot(entry), parse_slot(entry)),
            };
            match range {
                (Some(start), Some(end)) if start <= end => node.slots.push((start, end)),
                _ => return Err(fail(format!("bad slot entry {entry:?}"))),
            }
        }
        Ok(node)
    }
}

/// A slot number, `0..CLUSTER_SLOTS`.
fn parse_slot(text: &str) -> Option<u16> {
    text.parse().ok().filter(|slot| *slot < CLUSTER_SLOTS)
}

/// 40 hex digits.
fn is_node_id(text: &str) -> bool {
    text.len() == CLUSTER_NODE_ID_LEN && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The parts of a `CLUSTER NODES` address: ip, client port, bus port, hostname.
type Address = (Option<IpAddr>, u16, u16, Option<String>);

/// Splits `ip:port@cport[,hostname]`; an empty ip (`:0@0` for a node with no known address)
/// is `None`.
fn parse_address(text: &str) -> Result<Address, String> {
    let (address, hostname) = match text.split_once(',') {
        Some((address, hostname)) => (address, Some(hostname).filter(|h| !h.is_empty())),
        None => (text, None),
    };
    let (ip_port, bus_port) = address
        .split_once('@')
        .ok_or_else(|| format!("address {text:?} has no @bus-port"))?;
    let (ip, port) = ip_port
        .rsplit_once(':')
        .ok_or_else(|| format!("address {text:?} has no :port"))?;
    let ip = match ip {
        "" => None,
        ip => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| format!("address {text:?} has a bad ip"))?,
        ),
    };
    let port = port
        .parse()
        .map_err(|_| format!("address {text:?} has a bad port"))?;
    let bus_port = bus_port
        .parse()
        .map_err(|_| format!("address {text:?} has a bad bus port"))?;
    Ok((ip, port, bus_port, hostname.map(str::to_string)))
}

fn malformed(command: &str, reason: String) -> EngineError {
    EngineError::ClusterMalformed {
        command: command.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `CLUSTER INFO` of a healthy three-shard cluster's replica, as Redis 7.0.15 prints it.
    const INFO_OK: &str = "cluster_state:ok\r\n\
        cluster_slots_assigned:16384\r\n\
        cluster_slots_ok:16384\r\n\
        cluster_slots_pfail:0\r\n\
        cluster_slots_fail:0\r\n\
        cluster_known_nodes:4\r\n\
        cluster_size:3\r\n\
        cluster_current_epoch:3\r\n\
        cluster_my_epoch:1\r\n\
        cluster_stats_messages_ping_sent:112\r\n\
        cluster_stats_messages_pong_sent:109\r\n\
        cluster_stats_messages_sent:221\r\n\
        cluster_stats_messages_ping_received:109\r\n\
        cluster_stats_messages_pong_received:112\r\n\
        cluster_stats_messages_received:221\r\n\
        total_cluster_links_buffer_limit_exceeded:0\r\n";

    const A: &str = "c05fe98f3d978fa69d8f18fe4f65d0083e8e2a60";
    const B: &str = "887d5e4539a0fed0fc0176cbaa0a56b52f48cbd9";
    const C: &str = "3a1b0c2d4e5f60718293a4b5c6d7e8f901234567";
    const D: &str = "d4135f4585c5fe25100bd1fa3d945d7645f60f3d";

    #[test]
    fn parses_cluster_info() {
        // Goal: the fields we keep are read and the many we do not are ignored.
        // Method: parse real-looking output of a healthy cluster and of a fresh node.
        let info = ClusterInfo::parse(INFO_OK).unwrap();
        assert_eq!(
            info,
            ClusterInfo {
                state_ok: true,
                slots_assigned: 16384,
                slots_ok: 16384,
                known_nodes: 4,
                size: 3,
                current_epoch: 3,
                my_epoch: 1,
            }
        );
        // A node just started: alone, no slots, `fail`; `\n` line ends are accepted too.
        let fresh = "cluster_state:fail\ncluster_slots_assigned:0\ncluster_slots_ok:0\n\
            cluster_slots_pfail:0\ncluster_slots_fail:0\ncluster_known_nodes:1\n\
            cluster_size:0\ncluster_current_epoch:0\ncluster_my_epoch:0\n";
        let info = ClusterInfo::parse(fresh).unwrap();
        assert!(!info.state_ok);
        assert_eq!(info.known_nodes, 1);
        assert_eq!(info.slots_assigned, 0);
    }

    #[test]
    fn refuses_cluster_info_without_a_required_field() {
        // Goal: missing or unreadable fields are errors, never defaults.
        // Method: drop each required field in turn, then corrupt two values.
        for required in [
            "cluster_state",
            "cluster_slots_assigned",
            "cluster_slots_ok",
            "cluster_known_nodes",
            "cluster_size",
            "cluster_current_epoch",
            "cluster_my_epoch",
        ] {
            let text: String = INFO_OK
                .split_inclusive('\n')
                .filter(|line| !line.starts_with(&format!("{required}:")))
                .collect();
            let err = ClusterInfo::parse(&text).unwrap_err();
            assert!(
                matches!(err, EngineError::ClusterMalformed { .. }),
                "{required}"
            );
        }
        let bad_state = INFO_OK.replace("cluster_state:ok", "cluster_state:maybe");
        assert!(ClusterInfo::parse(&bad_state).is_err());
        let bad_number = INFO_OK.replace("cluster_size:3", "cluster_size:three");
        assert!(ClusterInfo::parse(&bad_number).is_err());
        assert!(ClusterInfo::parse("").is_err());
    }

    #[test]
    fn parses_cluster_nodes() {
        // Goal: every part of a line is read: address with hostname, flags, primary id, epoch,
        // link, single slots, ranges, and migration entries skipped.
        // Method: parse output shaped like Redis 7.0.15's for three primaries and a replica.
        let text = format!(
            "{B} 127.0.0.1:23102@23202 master - 0 1796569405366 1 connected 5462-10922\n\
             {A} 127.0.0.1:23101@23201,host-a.example myself,master - 0 0 3 connected \
             0-5460 5461 [5->-{B}] [7-<-{C}]\n\
             {C} 127.0.0.1:23103@23203 master,fail? - 1796569405000 1796569404000 2 \
             disconnected 10923-16383\n\
             {D} 127.0.0.1:23104@23204 slave {A} 0 1796569405367 3 connected\n"
        );
        let nodes = ClusterNode::parse_all(&text).unwrap();
        assert_eq!(nodes.len(), 4);

        let a = &nodes[1];
        assert_eq!(a.id, A);
        assert_eq!(a.ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!((a.port, a.bus_port), (23101, 23201));
        assert_eq!(a.hostname.as_deref(), Some("host-a.example"));
        assert!(a.myself && a.primary && !a.replica && a.connected);
        assert_eq!(a.primary_id, None);
        assert_eq!(a.config_epoch, 3);
        assert_eq!(a.slots, [(0, 5460), (5461, 5461)]);

        assert_eq!(nodes[0].hostname, None);
        assert_eq!(nodes[0].slots, [(5462, 10922)]);
        assert!(!nodes[0].myself);

        let c = &nodes[2];
        assert!(c.primary && c.possibly_failed && !c.failed && !c.connected);
        assert_eq!(c.slots, [(10923, 16383)]);

        let d = &nodes[3];
        assert!(d.replica && !d.primary);
        assert_eq!(d.primary_id.as_deref(), Some(A));
        assert!(d.slots.is_empty());
    }

    #[test]
    fn parses_nodes_in_handshake_without_address_and_on_ipv6() {
        // Goal: the transient and unusual shapes parse: a node in handshake, one with no
        // known address (`:0@0`), a failed one, and an IPv6 address without brackets.
        // Method: parse one line of each.
        let handshake = format!("{D} 127.0.0.1:23102@23202 handshake - 0 0 0 disconnected");
        let node = ClusterNode::parse(&handshake).unwrap();
        assert!(node.handshake && !node.primary && !node.connected);

        let noaddr = format!("{C} :0@0 master,fail,noaddr - 1 1 2 disconnected 10923-16383");
        let node = ClusterNode::parse(&noaddr).unwrap();
        assert_eq!((node.ip, node.port, node.bus_port), (None, 0, 0));
        assert!(node.failed && node.no_address && node.primary);

        let v6 = format!("{A} ::1:7000@17000 myself,slave,nofailover {B} 0 0 1 connected");
        let node = ClusterNode::parse(&v6).unwrap();
        assert_eq!(node.ip, Some("::1".parse().unwrap()));
        assert_eq!((node.port, node.bus_port), (7000, 17000));
        assert!(node.myself && node.replica);
    }

    #[test]
    fn refuses_malformed_cluster_nodes_lines() {
        // Goal: a line we cannot read fully is an error, never a partial node.
        // Method: break one part of a valid line at a time.
        let bad = [
            format!("{A} 127.0.0.1:1@2 master - 0 0 1"),
            "xyz 127.0.0.1:1@2 master - 0 0 1 connected".to_string(),
            format!("{A} 127.0.0.1:1 master - 0 0 1 connected"),
            format!("{A} 127.0.0.1@2 master - 0 0 1 connected"),
            format!("{A} 127.0.0.x:1@2 master - 0 0 1 connected"),
            format!("{A} 127.0.0.1:70000@2 master - 0 0 1 connected"),
            format!("{A} 127.0.0.1:1@2 slave nobody 0 0 1 connected"),
            format!("{A} 127.0.0.1:1@2 master - 0 0 one connected"),
            format!("{A} 127.0.0.1:1@2 master - 0 0 1 connected 16384"),
            format!("{A} 127.0.0.1:1@2 master - 0 0 1 connected 10-5"),
            format!("{A} 127.0.0.1:1@2 master - 0 0 1 connected 1-"),
        ];
        for line in &bad {
            let err = ClusterNode::parse(line).unwrap_err();
            assert!(
                matches!(err, EngineError::ClusterMalformed { .. }),
                "{line}"
            );
        }
        let text = format!("{A} 127.0.0.1:1@2 myself,master - 0 0 1 connected\nnonsense\n");
        assert!(ClusterNode::parse_all(&text).is_err());
        assert_eq!(ClusterNode::parse_all("").unwrap(), []);
    }
}
