//! The framing every file uses: a record is `[length u32 LE][crc32 u32 LE][payload]`, so a torn
//! write or a flipped bit is found before its payload is decoded.

use std::io::{self, Write};

/// Bytes before a frame's payload.
pub(crate) const FRAME_OVERHEAD: usize = 8;

/// No frame is larger: a length past this is damage, not data.
pub(crate) const MAX_FRAME: usize = 512 << 20;

/// Why bytes are not a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The bytes end before the frame does (a torn write, or the end of the file).
    Short,
    /// The payload does not match its checksum, or the length is impossible.
    Damaged,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::Short => "truncated record",
            FrameError::Damaged => "record fails its checksum",
        })
    }
}

/// Writes `payload` as one frame; returns the bytes written.
pub(crate) fn write_frame(out: &mut impl Write, payload: &[u8]) -> io::Result<u64> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&crc32fast::hash(payload).to_le_bytes())?;
    out.write_all(payload)?;
    Ok((FRAME_OVERHEAD + payload.len()) as u64)
}

/// The frame's length header at the start of `bytes`: its payload's length.
pub(crate) fn frame_len(bytes: &[u8]) -> Result<usize, FrameError> {
    let head: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(FrameError::Short)?;
    let len = u32::from_le_bytes(head) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::Damaged);
    }
    Ok(len)
}

/// The payload of the frame at the start of `bytes`, and the frame's whole length.
pub(crate) fn read_frame(bytes: &[u8]) -> Result<(&[u8], usize), FrameError> {
    let len = frame_len(bytes)?;
    let end = FRAME_OVERHEAD + len;
    if bytes.len() < end {
        return Err(FrameError::Short);
    }
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let payload = &bytes[FRAME_OVERHEAD..end];
    if crc32fast::hash(payload) != crc {
        return Err(FrameError::Damaged);
    }
    Ok((payload, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_and_damage_is_seen() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").unwrap();
        assert_eq!(read_frame(&buf).unwrap(), (&b"hello"[..], 13));
        assert_eq!(read_frame(&buf[..10]), Err(FrameError::Short));
        buf[9] ^= 1;
        assert_eq!(read_frame(&buf), Err(FrameError::Damaged));
    }
}
