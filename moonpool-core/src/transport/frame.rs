//! Frames on the wire: a 4-byte big-endian body length, a 4-byte CRC-32 of
//! the body, then the body. A reader refuses a frame longer than its limit
//! before reading it, and a frame whose checksum does not match.

use std::io;
use std::sync::OnceLock;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};

/// Bytes before the body.
pub const HEADER_LEN: usize = 8;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame larger than this side accepts.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body does not match its checksum: corrupted in transit.
    #[error("frame checksum mismatch (expected {expected:#010x}, computed {actual:#010x})")]
    Checksum {
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the bytes received.
        actual: u32,
    },
    /// The connection closed cleanly between frames.
    #[error("connection closed")]
    Closed,
    /// The connection failed or closed in the middle of a frame.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
}

/// Encodes `body` as a frame.
///
/// # Example
///
/// ```
/// use moonpool_core::transport::frame::{encode, HEADER_LEN};
///
/// let f = encode(b"hi");
/// assert_eq!(f.len(), HEADER_LEN + 2);
/// assert_eq!(&f[..4], &2u32.to_be_bytes());
/// ```
pub fn encode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&checksum(body).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Writes one frame.
///
/// # Errors
///
/// The stream's I/O error.
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(w: &mut W, body: &[u8]) -> io::Result<()> {
    w.write_all(&encode(body)).await
}

/// Reads one frame of at most `max` body bytes.
///
/// # Errors
///
/// [`FrameError::Closed`] at a clean end of stream; [`FrameError::TooLarge`]
/// and [`FrameError::Checksum`] for frames to refuse; [`FrameError::Io`]
/// otherwise.
pub async fn read_frame<R: AsyncRead + Unpin + ?Sized>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]).await? {
            0 if got == 0 => return Err(FrameError::Closed),
            0 => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            n => got += n,
        }
    }
    let (len, expected) = parse_header(&header, max)?;
    // Filled straight from the stream into spare capacity: zeroing the
    // body first, only to overwrite it, cost as much as the copy.
    let mut body = Vec::with_capacity(len);
    while body.len() < len {
        let rest = (len - body.len()) as u64;
        if (&mut *r).take(rest).read_buf(&mut body).await? == 0 {
            return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
    }
    checked(body, expected)
}

/// [`read_frame`] from a buffered reader: a frame already whole in the
/// buffer (a small one, most often) is copied out of it in one piece,
/// without reading through the stream's layers byte range by byte range;
/// anything else is read as [`read_frame`] does.
pub(crate) async fn read_buffered_frame<R: AsyncBufRead + Unpin + ?Sized>(
    r: &mut R,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    let buffered = r.fill_buf().await?;
    if let Some(header) = buffered.first_chunk::<HEADER_LEN>() {
        let (len, expected) = parse_header(header, max)?;
        let end = HEADER_LEN + len;
        if let Some(body) = buffered.get(HEADER_LEN..end) {
            let body = body.to_vec();
            r.consume(end);
            return checked(body, expected);
        }
    }
    read_frame(r, max).await
}

/// The CRC-32 of `bytes`, as [`crc32fast::hash`] computes it, from a copy
/// of a hasher made once: `hash` makes a new one each time, asking the CPU
/// which instructions it has (a sixth of a small frame's checksum).
pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    static PROTOTYPE: OnceLock<crc32fast::Hasher> = OnceLock::new();
    let mut hasher = PROTOTYPE.get_or_init(crc32fast::Hasher::new).clone();
    hasher.update(bytes);
    hasher.finalize()
}

/// A header's body length and checksum, unless the length is over `max`.
fn parse_header(header: &[u8; HEADER_LEN], max: usize) -> Result<(usize, u32), FrameError> {
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let expected = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok((len, expected))
}

/// `body`, if it matches its checksum.
fn checked(body: Vec<u8>, expected: u32) -> Result<Vec<u8>, FrameError> {
    let actual = checksum(&body);
    if actual != expected {
        return Err(FrameError::Checksum { expected, actual });
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future + 'static>(f: F) -> F::Output {
        moonpool_sim::Simulation::new(1)
            .run(|_| f)
            .map(|r| r.output)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_checksum_is_crc32fasts_every_time() {
        let long: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        for bytes in [&b""[..], b"a", b"hello frame", &long[..], &long[..17]] {
            // Twice: the second copies the hasher the first one made.
            assert_eq!(checksum(bytes), crc32fast::hash(bytes));
            assert_eq!(checksum(bytes), crc32fast::hash(bytes));
        }
    }

    #[test]
    fn round_trips_and_detects_damage() {
        block_on(async {
            let bytes = encode(b"hello frame");
            let mut r = &bytes[..];
            assert_eq!(read_frame(&mut r, 1024).await.unwrap(), b"hello frame");
            assert!(matches!(
                read_frame(&mut r, 1024).await,
                Err(FrameError::Closed)
            ));

            let mut flipped = bytes.clone();
            flipped[HEADER_LEN + 3] ^= 0x10;
            assert!(matches!(
                read_frame(&mut &flipped[..], 1024).await,
                Err(FrameError::Checksum { .. })
            ));

            assert!(matches!(
                read_frame(&mut &bytes[..], 4).await,
                Err(FrameError::TooLarge { len: 11, max: 4 })
            ));

            // A body that arrives in pieces is read whole.
            let (head, mid, tail) = (
                &bytes[..HEADER_LEN + 2],
                &bytes[HEADER_LEN + 2..HEADER_LEN + 7],
                &bytes[HEADER_LEN + 7..],
            );
            let mut pieces = head.chain(mid).chain(tail);
            assert_eq!(read_frame(&mut pieces, 1024).await.unwrap(), b"hello frame");

            let truncated = &bytes[..bytes.len() - 2];
            assert!(matches!(
                read_frame(&mut &truncated[..], 1024).await,
                Err(FrameError::Io(_))
            ));
            assert!(matches!(
                read_frame(&mut &bytes[..3], 1024).await,
                Err(FrameError::Io(_))
            ));
        });
    }

    #[test]
    fn a_buffered_reader_reads_whole_split_and_bad_frames() {
        block_on(async {
            let bodies: [&[u8]; 4] = [b"one", b"", b"a body longer than the buffer", b"four"];
            let stream: Vec<u8> = bodies.iter().flat_map(|b| encode(b)).collect();
            // Buffers smaller than a header, than a frame, and larger than
            // the whole stream: frames whole in the buffer, split across
            // fills, and read past it.
            for capacity in [3, 16, 1024] {
                let mut r = tokio::io::BufReader::with_capacity(capacity, &stream[..]);
                for body in bodies {
                    assert_eq!(read_buffered_frame(&mut r, 1024).await.unwrap(), body);
                }
                assert!(matches!(
                    read_buffered_frame(&mut r, 1024).await,
                    Err(FrameError::Closed)
                ));
            }
            let bytes = encode(b"hello frame");
            let mut flipped = bytes.clone();
            flipped[HEADER_LEN + 3] ^= 0x10;
            let mut r = tokio::io::BufReader::new(&flipped[..]);
            assert!(matches!(
                read_buffered_frame(&mut r, 1024).await,
                Err(FrameError::Checksum { .. })
            ));
            let mut r = tokio::io::BufReader::new(&bytes[..]);
            assert!(matches!(
                read_buffered_frame(&mut r, 4).await,
                Err(FrameError::TooLarge { len: 11, max: 4 })
            ));
            let mut r = tokio::io::BufReader::new(&bytes[..bytes.len() - 2]);
            assert!(matches!(
                read_buffered_frame(&mut r, 1024).await,
                Err(FrameError::Io(_))
            ));
        });
    }
}
