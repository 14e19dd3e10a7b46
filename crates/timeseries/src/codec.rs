//! Columns of numbers compressed with pco, and how several of them share one payload:
//! `[count u32][byte length u32 × count][each column's pco bytes]`.

use pco::data_types::Number;
use pco::standalone::{simple_compress, simple_decompress};
use pco::ChunkConfig;

use crate::error::TimeseriesError;

/// pco's effort for files written at every flush: they are merged again soon, so speed
/// matters more than size (still ~10× smaller than raw on regular timestamps).
pub(crate) const LEVEL_FLUSH: usize = 2;
/// pco's effort for merged files, which are kept: about 4× slower to write than
/// [`LEVEL_FLUSH`], 10–20 % smaller on counters (measured on the load example's data).
pub(crate) const LEVEL_MERGED: usize = 4;

/// Columns being put together into one payload.
pub(crate) struct ColumnsWriter {
    config: ChunkConfig,
    blobs: Vec<Vec<u8>>,
}

impl ColumnsWriter {
    pub(crate) fn new(level: usize) -> ColumnsWriter {
        ColumnsWriter {
            config: ChunkConfig::default().with_compression_level(level),
            blobs: Vec::new(),
        }
    }

    /// Adds a column.
    pub(crate) fn put<T: Number>(&mut self, values: &[T]) -> Result<(), TimeseriesError> {
        let blob = if values.is_empty() {
            Vec::new()
        } else {
            simple_compress(values, &self.config)
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
        let mut w = ColumnsWriter::new(LEVEL_FLUSH);
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
