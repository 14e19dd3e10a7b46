//! The segment files of the store, tier by tier and partition by partition: loading them at
//! open (and cleaning up what a crash left), and choosing what to expire and what to merge.
//!
//! Merging keeps the number of files small without rewriting much: a flush writes one
//! level-0 file per tier (a few seconds of data); [`FAN_IN`] files of one level in a
//! partition are merged into one of the next level; once a partition is closed (its end is
//! [`CLOSE_GRACE_MS`] past) all its files are merged into one of [`FINAL_LEVEL`]. Points that
//! arrive later for a closed partition (late samples, old timestamps) land in new level-0
//! files beside it and are merged among themselves by the level rule, never into the final
//! file again: a backfill does not rewrite whole days.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::error::TimeseriesError;
use crate::segment::{parse_file_name, Segment, FINAL_LEVEL};
use crate::tier::Tier;

/// How many files of one level are merged into one of the next.
pub(crate) const FAN_IN: usize = 8;

/// How long after a partition's end it is merged into one file: late samples of the last
/// seconds should be in by then.
pub(crate) const CLOSE_GRACE_MS: i64 = 10 * 60_000;

/// A partition: its start and length (the length is kept per partition so a store reopened
/// with another retention still reads its older files).
pub(crate) type PartitionKey = (i64, i64);

/// Every segment file of the store.
#[derive(Debug, Default)]
pub(crate) struct Files {
    tiers: [BTreeMap<PartitionKey, Vec<Arc<Segment>>>; 3],
}

/// Files to merge into one.
#[derive(Debug)]
pub(crate) struct MergePlan {
    pub tier: Tier,
    pub partition: PartitionKey,
    pub inputs: Vec<Arc<Segment>>,
    pub level: u8,
}

/// What [`Files::load`] found besides the files.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub max_seq: u64,
    pub max_id: Option<u32>,
}

fn slot(tier: Tier) -> usize {
    match tier {
        Tier::Fine => 0,
        Tier::Standard => 1,
        Tier::Coarse => 2,
    }
}

impl Files {
    /// Opens every segment under `dir`'s tier directories. Temporary files of an interrupted
    /// write are removed, files a later merge replaced are removed, unreadable ones are
    /// reported and renamed `*.corrupt` (kept for a look, never read again).
    pub(crate) fn load(dir: &Path) -> Result<(Files, Loaded), TimeseriesError> {
        let mut segments = Vec::new();
        let mut loaded = Loaded::default();
        for tier in Tier::ALL {
            let tier_dir = dir.join(tier.dir_name());
            std::fs::create_dir_all(&tier_dir)
                .map_err(|e| TimeseriesError::io("creating", &tier_dir, e))?;
            let entries = std::fs::read_dir(&tier_dir)
                .map_err(|e| TimeseriesError::io("reading", &tier_dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| TimeseriesError::io("reading", &tier_dir, e))?;
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                let Some(seq) = parse_file_name(&name) else {
                    continue;
                };
                loaded.max_seq = loaded.max_seq.max(seq);
                match Segment::open(&path) {
                    Ok(seg) if seg.tier() == tier && seg.seq() == seq => segments.push(seg),
                    Ok(_) => set_aside(&path, "its header does not match its name or directory"),
                    Err(e) => set_aside(&path, &e.to_string()),
                }
            }
        }
        let replaced: HashSet<u64> = segments
            .iter()
            .flat_map(|s| s.header.replaces.iter().copied())
            .collect();
        let mut files = Files::default();
        for seg in segments {
            if replaced.contains(&seg.seq()) {
                // A merge finished but the crash came before its inputs were removed.
                let _ = std::fs::remove_file(&seg.path);
                continue;
            }
            loaded.max_id = loaded.max_id.max(seg.max_id());
            files.add(Arc::new(seg));
        }
        Ok((files, loaded))
    }

    pub(crate) fn add(&mut self, seg: Arc<Segment>) {
        let key = (seg.header.partition_start_ms, seg.header.partition_ms);
        self.tiers[slot(seg.tier())]
            .entry(key)
            .or_default()
            .push(seg);
    }

    /// Takes the files with sequence numbers `seqs` out of `tier`'s `partition`.
    pub(crate) fn remove(&mut self, tier: Tier, partition: PartitionKey, seqs: &[u64]) {
        let partitions = &mut self.tiers[slot(tier)];
        if let Some(segs) = partitions.get_mut(&partition) {
            segs.retain(|s| !seqs.contains(&s.seq()));
            if segs.is_empty() {
                partitions.remove(&partition);
            }
        }
    }

    /// The files of `tier` that may hold points in `[from, to)`.
    pub(crate) fn overlapping(&self, tier: Tier, from: i64, to: i64) -> Vec<Arc<Segment>> {
        self.tiers[slot(tier)]
            .iter()
            .filter(|((start, len), _)| *start < to && start.saturating_add(*len) > from)
            .flat_map(|(_, segs)| segs.iter().cloned())
            .collect()
    }

    /// Takes out the partitions of `tier` that end at or before `cutoff_ms`.
    pub(crate) fn take_expired(&mut self, tier: Tier, cutoff_ms: i64) -> Vec<Arc<Segment>> {
        let partitions = &mut self.tiers[slot(tier)];
        let expired: Vec<PartitionKey> = partitions
            .keys()
            .filter(|(start, len)| start.saturating_add(*len) <= cutoff_ms)
            .copied()
            .collect();
        expired
            .into_iter()
            .flat_map(|key| partitions.remove(&key).unwrap_or_default())
            .collect()
    }

    /// The next merge to do at `now_ms`, if any; with `everything`, any partition of more than
    /// one file is merged into one.
    pub(crate) fn next_merge(&self, now_ms: i64, everything: bool) -> Option<MergePlan> {
        for tier in Tier::ALL {
            for (&(start, len), segs) in &self.tiers[slot(tier)] {
                let closed = now_ms >= start.saturating_add(len).saturating_add(CLOSE_GRACE_MS);
                let has_final = segs.iter().any(|s| s.header.level == FINAL_LEVEL);
                if segs.len() >= 2 && (everything || (closed && !has_final)) {
                    return Some(MergePlan {
                        tier,
                        partition: (start, len),
                        inputs: segs.clone(),
                        level: FINAL_LEVEL,
                    });
                }
                let mut by_level: BTreeMap<u8, Vec<Arc<Segment>>> = BTreeMap::new();
                for s in segs.iter().filter(|s| s.header.level != FINAL_LEVEL) {
                    by_level.entry(s.header.level).or_default().push(s.clone());
                }
                if let Some((level, inputs)) = by_level.into_iter().find(|(_, s)| s.len() >= FAN_IN)
                {
                    return Some(MergePlan {
                        tier,
                        partition: (start, len),
                        inputs,
                        level: (level + 1).min(FINAL_LEVEL - 1),
                    });
                }
            }
        }
        None
    }

    /// Every file, for sizes and counts.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Segment>> {
        self.tiers.iter().flat_map(|t| t.values().flatten())
    }

    /// Bytes on disk of `tier`'s files.
    pub(crate) fn tier_bytes(&self, tier: Tier) -> u64 {
        self.tiers[slot(tier)]
            .values()
            .flatten()
            .map(|s| s.bytes)
            .sum()
    }
}

fn set_aside(path: &Path, reason: &str) {
    let aside = path.with_extension("corrupt");
    tracing::warn!(
        path = %path.display(),
        "unreadable segment file set aside as {} ({reason})",
        aside.display()
    );
    if let Err(e) = std::fs::rename(path, &aside) {
        tracing::warn!(path = %path.display(), "could not set the file aside: {e}");
    }
}
