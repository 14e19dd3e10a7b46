//! Merging segment files into one: a walk over all inputs in series order (each holds its
//! series ascending), so only one decoded group per input is in memory at a time.

use std::path::Path;
use std::sync::Arc;

use crate::codec::Effort;
use crate::error::TimeseriesError;
use crate::files::MergePlan;
use crate::head::{normalize, Point};
use crate::segment::{Group, Segment, SegmentHeader, SegmentWriter, FINAL_LEVEL};

/// Where a walk over one input is.
struct Cursor {
    seg: Arc<Segment>,
    next_group: usize,
    group: Group,
    series: usize,
}

impl Cursor {
    fn new(seg: Arc<Segment>) -> Cursor {
        let mut cursor = Cursor {
            seg,
            next_group: 0,
            group: Group::default(),
            series: 0,
        };
        cursor.load();
        cursor
    }

    /// Moves to the next group that decodes, when the current one is used up. A damaged
    /// group is reported and left out of the merge (its points are lost, not falsified).
    fn load(&mut self) {
        while self.series >= self.group.ids.len() && self.next_group < self.seg.index.len() {
            let i = self.next_group;
            self.next_group += 1;
            self.series = 0;
            self.group = match self.seg.group(i) {
                Ok(group) => group,
                Err(reason) => {
                    tracing::warn!(
                        path = %self.seg.path.display(),
                        "merge skips a damaged group: {reason}"
                    );
                    Group::default()
                }
            };
        }
    }

    fn current(&self) -> Option<u32> {
        self.group.ids.get(self.series).copied()
    }

    fn take(&mut self, out: &mut Vec<Point>) {
        out.extend(self.group.points(self.series));
        self.series += 1;
        self.load();
    }
}

/// Writes the merge of `plan`'s inputs as file `seq` in `dir`.
pub(crate) fn merge(dir: &Path, plan: &MergePlan, seq: u64) -> Result<Segment, TimeseriesError> {
    let header = SegmentHeader {
        tier: plan.tier.code(),
        level: plan.level,
        partition_start_ms: plan.partition.0,
        partition_ms: plan.partition.1,
        seq,
        replaces: plan.inputs.iter().map(|s| s.seq()).collect(),
    };
    // Only a partition's final file is kept; the merges before it are rewritten soon.
    let effort = if plan.level == FINAL_LEVEL {
        Effort::Thorough
    } else {
        Effort::Quick
    };
    let mut writer = SegmentWriter::create(dir, header, effort)?;
    let mut cursors: Vec<Cursor> = plan.inputs.iter().cloned().map(Cursor::new).collect();
    let mut points = Vec::new();
    while let Some(id) = cursors.iter().filter_map(Cursor::current).min() {
        points.clear();
        for c in cursors.iter_mut().filter(|c| c.current() == Some(id)) {
            c.take(&mut points);
        }
        normalize(&mut points);
        if let Err(e) = writer.push(id, &points) {
            writer.abandon();
            return Err(e);
        }
    }
    writer.finish()
}
