//! The framing of every file this crate writes: a record is
//! `[length u32 LE][crc32 u32 LE][payload]`, so a torn write or a flipped bit is caught before
//! the payload is decoded, and a reader stops at the first record that is not whole.

/// Bytes before a frame's payload.
pub(crate) const FRAME_OVERHEAD: usize = 8;

/// No frame is larger: a length past this is damage, not data.
pub(crate) const MAX_FRAME: usize = 64 << 20;

/// Why bytes are not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The bytes end before the frame does (a torn write, or the end of the file).
    Short,
    /// The payload does not match its checksum, or the length is impossible.
    Damaged,
}

/// Appends `payload` to `out` as one frame.
pub(crate) fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(
        payload.len() <= MAX_FRAME,
        "frame of {} bytes",
        payload.len()
    );
    let len = u32::try_from(payload.len()).expect("frames are smaller than 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The payload of the frame at the start of `bytes`, and the frame's whole length.
pub(crate) fn decode_frame(bytes: &[u8]) -> Result<(&[u8], usize), FrameError> {
    let head: [u8; 8] = bytes
        .get(..FRAME_OVERHEAD)
        .and_then(|b| b.try_into().ok())
        .ok_or(FrameError::Short)?;
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::Damaged);
    }
    let end = FRAME_OVERHEAD + len;
    let payload = bytes.get(FRAME_OVERHEAD..end).ok_or(FrameError::Short)?;
    let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
    if crc32fast::hash(payload) != crc {
        return Err(FrameError::Damaged);
    }
    Ok((payload, end))
}

/// The frames of `bytes` in order, each with its offset; stops at the end or at the first bytes
/// that are not a whole frame, which [`Frames::stopped`] then tells.
#[derive(Debug)]
pub(crate) struct Frames<'a> {
    bytes: &'a [u8],
    offset: usize,
    stopped: Option<FrameError>,
}

impl<'a> Frames<'a> {
    /// The frames of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            stopped: None,
        }
    }

    /// Where the whole frames end: every byte before this was read back intact.
    pub(crate) fn good_len(&self) -> usize {
        self.offset
    }

    /// Why reading stopped before the end of the bytes, if it did.
    pub(crate) fn stopped(&self) -> Option<FrameError> {
        self.stopped
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped.is_some() || self.offset >= self.bytes.len() {
            return None;
        }
        match decode_frame(&self.bytes[self.offset..]) {
            Ok((payload, len)) => {
                let at = self.offset;
                self.offset += len;
                Some((at, payload))
            }
            Err(e) => {
                self.stopped = Some(e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_and_damage_is_seen() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, b"hello");
        encode_frame(&mut buf, b"world");
        assert_eq!(decode_frame(&buf).unwrap(), (&b"hello"[..], 13));
        let all: Vec<_> = Frames::new(&buf).map(|(_, p)| p.to_vec()).collect();
        assert_eq!(all, vec![b"hello".to_vec(), b"world".to_vec()]);

        let torn = &buf[..buf.len() - 2];
        let mut frames = Frames::new(torn);
        assert_eq!(frames.by_ref().count(), 1);
        assert_eq!(frames.stopped(), Some(FrameError::Short));
        assert_eq!(frames.good_len(), 13);

        let mut flipped = buf.clone();
        flipped[20] ^= 1;
        let mut frames = Frames::new(&flipped);
        assert_eq!(frames.by_ref().count(), 1);
        assert_eq!(frames.stopped(), Some(FrameError::Damaged));
    }
}
