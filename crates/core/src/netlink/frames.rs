//! Frames in a byte buffer: `[u16 type][u32 trunc][u32 len][payload]` records (native endian), appended in
//! chunks of about [`CHUNK_BYTES`], never one allocation per frame.

/// The frame header: type, truncated length, payload length.
pub const FRAME_HEADER: usize = 10;
/// A chunk takes frames until it holds this much (it may exceed it by one frame).
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Appends one frame to `buf`. A payload is at most the receive buffer (64 KiB), so its length fits a u32;
/// a longer one would be cut to `u32::MAX` bytes.
pub(crate) fn push_frame(buf: &mut Vec<u8>, msg_type: u16, trunc: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let payload = payload.get(..len as usize).unwrap_or(payload);
    buf.reserve(FRAME_HEADER + payload.len());
    buf.extend_from_slice(&msg_type.to_ne_bytes());
    buf.extend_from_slice(&trunc.to_ne_bytes());
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(payload);
}

/// The frame at `pos`: `(type, payload, trunc, end)`, or None at the end (or on a cut frame, which the
/// writer never produces).
#[inline]
pub(crate) fn read_frame(data: &[u8], pos: usize) -> Option<(u16, &[u8], u32, usize)> {
    let head = data.get(pos..pos.checked_add(FRAME_HEADER)?)?;
    let (t, rest) = head.split_first_chunk::<2>()?;
    let (trunc, rest) = rest.split_first_chunk::<4>()?;
    let (len, _) = rest.split_first_chunk::<4>()?;
    let start = pos + FRAME_HEADER;
    let end = start.checked_add(u32::from_ne_bytes(*len) as usize)?;
    let payload = data.get(start..end)?;
    Some((
        u16::from_ne_bytes(*t),
        payload,
        u32::from_ne_bytes(*trunc),
        end,
    ))
}

/// A chunk of whole frames.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(crate) data: Vec<u8>,
    pub(crate) frames: usize,
    /// the journal position of the first frame (see [`crate::netlink::journal`])
    pub(crate) pos: u64,
}

impl Chunk {
    /// Splits off the frames that fit `max_frames` and `max_bytes` (at least one when `take_one`):
    /// returns them as a chunk, self keeps the rest. None when not even one fits.
    pub(crate) fn split_front(
        &mut self,
        max_frames: usize,
        max_bytes: usize,
        take_one: bool,
    ) -> Option<Chunk> {
        let mut pos = 0;
        let mut n = 0;
        while n < max_frames {
            let Some((_, _, _, end)) = read_frame(&self.data, pos) else {
                break;
            };
            if end > max_bytes && !(take_one && n == 0) {
                break;
            }
            pos = end;
            n += 1;
        }
        if n == 0 {
            return None;
        }
        let rest = self.data.split_off(pos);
        let head = std::mem::replace(&mut self.data, rest);
        self.frames -= n;
        let at = self.pos;
        self.pos += pos as u64;
        Some(Chunk {
            data: head,
            frames: n,
            pos: at,
        })
    }
}

/// Frames taken from the reader: iterate with [`FrameBuf::iter`], give the buffer back with
/// [`crate::netlink::Reader::recycle`] to spare the next allocation.
#[derive(Debug, Default)]
pub struct FrameBuf {
    pub(crate) chunks: Vec<Chunk>,
    frames: usize,
    bytes: usize,
}

impl FrameBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one frame (for tests and for frames that did not come through a reader).
    pub fn push(&mut self, msg_type: u16, payload: &[u8], trunc: u32) {
        let room = match self.chunks.last() {
            Some(last) => last.data.len() < CHUNK_BYTES,
            None => false,
        };
        if !room {
            self.chunks.push(Chunk::default());
        }
        if let Some(last) = self.chunks.last_mut() {
            let before = last.data.len();
            push_frame(&mut last.data, msg_type, trunc, payload);
            last.frames += 1;
            self.frames += 1;
            self.bytes += last.data.len() - before;
        }
    }

    pub(crate) fn push_chunk(&mut self, chunk: Chunk) {
        self.frames += chunk.frames;
        self.bytes += chunk.data.len();
        self.chunks.push(chunk);
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames
    }

    /// No frame held.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Bytes held, frame headers included.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// `(msg_type, payload, trunc)` per frame, in arrival order; `trunc` is the datagram's real length when
    /// it was cut (`MSG_TRUNC`), else 0.
    pub fn iter(&self) -> FrameIter<'_> {
        FrameIter {
            chunks: &self.chunks,
            pos: 0,
        }
    }

    /// `(position, end, msg_type, payload, trunc)` per frame: [`FrameBuf::iter`] with each frame's journal
    /// position and the position after it (the reader's frames; 0-based for frames pushed by hand).
    pub fn iter_at(&self) -> impl Iterator<Item = (u64, u64, u16, &[u8], u32)> {
        self.chunks.iter().flat_map(|c| {
            let mut pos = 0;
            std::iter::from_fn(move || {
                let (t, payload, trunc, end) = read_frame(&c.data, pos)?;
                let at = c.pos + pos as u64;
                pos = end;
                Some((at, c.pos + end as u64, t, payload, trunc))
            })
        })
    }
}

impl<'a> IntoIterator for &'a FrameBuf {
    type Item = (u16, &'a [u8], u32);
    type IntoIter = FrameIter<'a>;

    fn into_iter(self) -> FrameIter<'a> {
        self.iter()
    }
}

/// Iterator over a [`FrameBuf`]'s frames.
#[derive(Debug, Clone)]
pub struct FrameIter<'a> {
    chunks: &'a [Chunk],
    pos: usize,
}

impl<'a> Iterator for FrameIter<'a> {
    type Item = (u16, &'a [u8], u32);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (first, rest) = self.chunks.split_first()?;
            if let Some((t, payload, trunc, end)) = read_frame(&first.data, self.pos) {
                self.pos = end;
                return Some((t, payload, trunc));
            }
            self.chunks = rest;
            self.pos = 0;
        }
    }
}
