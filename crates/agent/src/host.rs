//! The host's own figures, for the metrics ElastiCache calls host-level: the memory available
//! to processes, the packets through every interface, and a node process's swapped-out memory.
//! Read from `/proc` (Linux); a figure that cannot be read is `None`, not zero.

use std::path::Path;

/// The machine's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostFigures {
    /// `MemAvailable` of `/proc/meminfo`, bytes.
    pub available_memory: Option<u64>,
    /// Packets received on every interface since boot (`/proc/net/dev`).
    pub packets_in: Option<u64>,
    /// Packets sent on every interface since boot.
    pub packets_out: Option<u64>,
}

/// Reads the machine's figures now.
pub fn host_figures() -> HostFigures {
    let available_memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| kib_field(&text, "MemAvailable:"));
    let (packets_in, packets_out) = match std::fs::read_to_string("/proc/net/dev") {
        Ok(text) => {
            let (i, o) = packets(&text);
            (Some(i), Some(o))
        }
        Err(_) => (None, None),
    };
    HostFigures {
        available_memory,
        packets_in,
        packets_out,
    }
}

/// The swapped-out memory of process `pid` (`VmSwap`), bytes; `None` when it cannot be read
/// (the process is gone, or the kernel does not say).
pub fn process_swap(pid: u32) -> Option<u64> {
    let text =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    kib_field(&text, "VmSwap:")
}

/// `Name:   123 kB` → bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// Received and sent packets summed over the interfaces of a `/proc/net/dev` text (two
/// header lines, then `iface: rx_bytes rx_packets … tx_bytes tx_packets …`).
fn packets(text: &str) -> (u64, u64) {
    let mut totals = (0, 0);
    for line in text.lines().skip(2) {
        let Some((_, counters)) = line.split_once(':') else {
            continue;
        };
        let fields: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() >= 10 {
            totals.0 += fields[1];
            totals.1 += fields[9];
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_texts_are_read() {
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n  eth0: 5000 7 0 0 0 0 0 0 9000 3 0 0 0 0 0 0\n";
        assert_eq!(packets(dev), (17, 13));
        let status = "Name:\tredis-server\nVmSwap:\t      12 kB\n";
        assert_eq!(kib_field(status, "VmSwap:"), Some(12 * 1024));
        assert_eq!(kib_field(status, "VmRSS:"), None);
    }

    #[test]
    fn this_machine_is_read() {
        let figures = host_figures();
        assert!(figures.available_memory.is_some_and(|m| m > 0));
        assert!(figures.packets_in.is_some());
        assert!(process_swap(std::process::id()).is_some());
    }
}
