//! Columns of numbers compressed with pco, and how several of them share one payload:
//! `[count u32][byte length u32 × count][each column's pco bytes]`.

use pco::data_types::Number;
use pco::standalone::{simple_compress, simple_decompress};
use pco::{ChunkConfig, DeltaSpec};

use crate::error::TimeseriesError;

/// How hard a file's columns are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effort {
    /// Files written at every flush and the merges between them, rewritten again within the
    /// hour: speed before size. pco at level 2, ascending columns (series ids, times) as
    /// first-order deltas, value columns without pco's search for a delta encoding — the
    /// search (lookbacks in particular) was most of the store's CPU at 1000 nodes, and a
    /// group's value column mixes ~200 series, where no delta pays.
    Quick,
    /// Final files, kept for the tier's whole retention: pco at level 4 with its own choice
    /// of delta encoding for every column — about 4× slower to write than `Quick`'s level
    /// alone, 10–20 % smaller on counters, ~40 % smaller in all (measured on the load
    /// example's data).
    Thorough,
}

impl Effort {
    fn config(self, ascending: bool) -> ChunkConfig {
        match self {
            Effort::Quick => ChunkConfig::default()
                .with_compression_level(2)
                .with_delta_spec(if ascending {
                    DeltaSpec::TryConsecutive(1)
                } else {
                    DeltaSpec::NoOp
                }),
            Effort::Thorough => ChunkConfig::default().with_compression_level(4),
        }
    }
}

/// Columns being put together into one payload.
pub(crate) struct ColumnsWriter {
    effort: Effort,
    blobs: Vec<Vec<u8>>,
}

impl ColumnsWriter {
    pub(crate) fn new(effort: Effort) -> ColumnsWriter {
        ColumnsWriter {
            effort,
            blobs: Vec::new(),
        }
    }

    /// Adds a column of values.
    pub(crate) fn put<T: Number>(&mut self, values: &[T]) -> Result<(), TimeseriesError> {
        self.put_with(values, false)
    }

    /// Adds a column that mostly ascends (ids, times).
    pub(crate) fn put_ascending<T: Number>(&mut self, values: &[T]) -> Result<(), TimeseriesError> {
        self.put_with(values, true)
    }

    fn put_with<T: Number>(
        &mut self,
        values: &[T],
        ascending: bool,
    ) -> Result<(), TimeseriesError> {
        let blob = if values.is_empty() {
            Vec::new()
        } else {
            simple_compress(values, &self.effort.config(ascending))
                .map_err(|e| TimeseriesError::Encode(e.to_string()))?
        };
        self.blobs.push(blob);
        Ok(())
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        let total: usize = self.blobs.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(4 + 4 * self.blobs.len() + total);
        out.extend_from_slice(&(self.blobs.len() as u32).to_le_bytes());
        for b in &self.blobs {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        }
        for b in &self.blobs {
            out.extend_from_slice(b);
        }
        out
    }
}

/// The columns of a payload, read back one by one in the order they were put.
pub(crate) struct ColumnsReader<'a> {
    blobs: Vec<&'a [u8]>,
    next: usize,
}

impl<'a> ColumnsReader<'a> {
    /// Splits `payload` into its columns. Errors say what is wrong, for the caller's report.
    pub(crate) fn new(payload: &'a [u8]) -> Result<ColumnsReader<'a>, String> {
        let word = |at: usize| -> Result<usize, String> {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                .ok_or_else(|| "columns header cut short".to_string())
        };
        let count = word(0)?;
        if count > 64 {
            return Err(format!("{count} columns"));
        }
        let mut at = 4 + 4 * count;
        let mut blobs = Vec::with_capacity(count);
        for i in 0..count {
            let len = word(4 + 4 * i)?;
            let blob = payload
                .get(at..at + len)
                .ok_or_else(|| "column cut short".to_string())?;
            blobs.push(blob);
            at += len;
        }
        Ok(ColumnsReader { blobs, next: 0 })
    }

    /// The next column, which must hold `expected` numbers.
    pub(crate) fn take<T: Number>(&mut self, expected: usize) -> Result<Vec<T>, String> {
        let blob = self
            .blobs
            .get(self.next)
            .ok_or_else(|| format!("column {} missing", self.next))?;
        self.next += 1;
        let values: Vec<T> = if blob.is_empty() {
            Vec::new()
        } else {
            simple_decompress(blob).map_err(|e| e.to_string())?
        };
        if values.len() != expected {
            return Err(format!(
                "column {} holds {} numbers, {expected} expected",
                self.next - 1,
                values.len()
            ));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_read_back() {
        let mut w = ColumnsWriter::new(Effort::Quick);
        w.put(&[1u32, 2, 3]).unwrap();
        w.put::<f64>(&[]).unwrap();
        w.put(&[1.5f64, -2.0]).unwrap();
        let bytes = w.finish();
        let mut r = ColumnsReader::new(&bytes).unwrap();
        assert_eq!(r.take::<u32>(3).unwrap(), vec![1, 2, 3]);
        assert_eq!(r.take::<f64>(0).unwrap(), Vec::<f64>::new());
        assert!(r.take::<f64>(3).is_err());
    }
}
