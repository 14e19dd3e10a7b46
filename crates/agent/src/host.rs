//! The host's own figures, for the metrics ElastiCache calls host-level: the memory available
//! to processes, the swap in use and the packets through every interface.
//! Read from `/proc` (Linux); a figure that cannot be read is `None`, not zero.

/// The machine's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostFigures {
    /// `MemAvailable` of `/proc/meminfo`, bytes.
    pub available_memory: Option<u64>,
    /// Packets received on every interface since boot (`/proc/net/dev`).
    pub packets_in: Option<u64>,
    /// Packets sent on every interface since boot.
    pub packets_out: Option<u64>,
    /// Swap in use (`SwapTotal` − `SwapFree`), bytes.
    pub swap_used: Option<u64>,
}

/// Reads the machine's figures now.
pub fn host_figures() -> HostFigures {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let available_memory = kib_field(&meminfo, "MemAvailable:");
    let swap_used = match (
        kib_field(&meminfo, "SwapTotal:"),
        kib_field(&meminfo, "SwapFree:"),
    ) {
        (Some(total), Some(free)) => Some(total.saturating_sub(free)),
        _ => None,
    };
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
        swap_used,
    }
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
        let meminfo = "MemTotal: 100 kB\nSwapTotal:      12 kB\nSwapFree: 2 kB\n";
        assert_eq!(kib_field(meminfo, "SwapTotal:"), Some(12 * 1024));
        assert_eq!(kib_field(meminfo, "MemAvailable:"), None);
    }

    #[test]
    fn this_machine_is_read() {
        let figures = host_figures();
        assert!(figures.available_memory.is_some_and(|m| m > 0));
        assert!(figures.packets_in.is_some());
        assert!(figures.swap_used.is_some());
    }
}
