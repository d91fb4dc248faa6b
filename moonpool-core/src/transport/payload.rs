//! The bytes of one message, without copies between the layers: an
//! [`Outgoing`] is written straight into the buffer the frame goes out in
//! (the transport fills in its header in front), and a [`Payload`] is the
//! received frame's own buffer with the transport's header skipped. A
//! layer above reads its own header off the front of a payload
//! ([`Payload::advance`]) and hands the rest on, still without a copy.

use std::fmt;
use std::ops::Deref;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::frame::{HEADER_LEN, checksum};
use super::wire::Kind;

/// Bytes of a frame's body before the payload: the kind, then the request
/// id (8 bytes, little-endian).
pub(crate) const DATA_HEADER_LEN: usize = 9;

/// Where the payload starts in an outgoing frame.
const PREFIX: usize = HEADER_LEN + DATA_HEADER_LEN;

/// Lets postcard append to a buffer it does not own (so a failed encode
/// can be undone).
struct Append<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Append<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.0.extend(bytes);
    }
}

/// A message being written: room for the frame's header, then the
/// payload. Build it with [`Outgoing::encode`] (postcard, straight into
/// the buffer) and [`Outgoing::extend_from_slice`]; hand it to
/// [`Transport::request`](super::Transport::request) or
/// [`Responder::reply`](super::Responder::reply).
///
/// # Example
///
/// ```
/// use moonpool_core::transport::Outgoing;
///
/// let mut out = Outgoing::new();
/// out.encode(&(7u32, "seven")).unwrap();
/// out.extend_from_slice(b"raw tail");
/// assert_eq!(&out.payload()[..2], &[7, 5]);
/// assert!(out.payload().ends_with(b"raw tail"));
/// // Bytes you already have convert (with one copy).
/// assert_eq!(Outgoing::from(&b"hi"[..]).payload(), b"hi");
/// ```
#[derive(Clone)]
pub struct Outgoing {
    buf: Vec<u8>,
}

impl Outgoing {
    /// An empty message.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty message with room for `payload` bytes.
    pub fn with_capacity(payload: usize) -> Self {
        let mut buf = Vec::with_capacity(PREFIX + payload);
        buf.resize(PREFIX, 0);
        Self { buf }
    }

    /// A message whose payload is `header`, then `bytes`, built in
    /// `bytes`' own buffer: its contents move up to make room in front,
    /// without an allocation when its capacity allows (else it grows once).
    pub(crate) fn in_front_of(header: &[u8], mut bytes: Vec<u8>) -> Self {
        let front = PREFIX + header.len();
        let len = bytes.len();
        bytes.resize(len + front, 0);
        bytes.copy_within(..len, front);
        bytes[PREFIX..front].copy_from_slice(header);
        Self { buf: bytes }
    }

    /// Bytes a buffer needs beyond a payload for [`Outgoing::in_front_of`]
    /// to put `header_len` bytes in front of it without growing it.
    pub(crate) const fn room_in_front(header_len: usize) -> usize {
        PREFIX + header_len
    }

    /// Appends `value`, postcard-encoded.
    ///
    /// # Errors
    ///
    /// postcard's, when `value` cannot be encoded (the message is then
    /// left as it was).
    pub fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), postcard::Error> {
        let before = self.buf.len();
        postcard::to_extend(value, Append(&mut self.buf))
            .map(drop)
            .inspect_err(|_| {
                self.buf.truncate(before);
            })
    }

    /// Appends raw bytes.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The payload written so far.
    pub fn payload(&self) -> &[u8] {
        &self.buf[PREFIX..]
    }

    /// The length of the frame's body: what a peer's frame limit applies to.
    pub(crate) fn body_len(&self) -> usize {
        self.buf.len() - HEADER_LEN
    }

    /// The frame: the header (length, checksum) and the body's kind and
    /// request id filled in front of the payload.
    pub(crate) fn into_frame(mut self, kind: Kind, id: u64) -> Vec<u8> {
        let body_len = self.body_len() as u32;
        self.buf[HEADER_LEN] = kind as u8;
        self.buf[HEADER_LEN + 1..PREFIX].copy_from_slice(&id.to_le_bytes());
        let crc = checksum(&self.buf[HEADER_LEN..]);
        self.buf[..4].copy_from_slice(&body_len.to_be_bytes());
        self.buf[4..HEADER_LEN].copy_from_slice(&crc.to_be_bytes());
        self.buf
    }
}

impl Default for Outgoing {
    fn default() -> Self {
        Self::new()
    }
}

impl From<&[u8]> for Outgoing {
    fn from(bytes: &[u8]) -> Self {
        let mut out = Self::with_capacity(bytes.len());
        out.extend_from_slice(bytes);
        out
    }
}

impl From<Vec<u8>> for Outgoing {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(&bytes[..])
    }
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Outgoing({} bytes)", self.payload().len())
    }
}

/// Bytes received: the frame's buffer, and where the payload starts in
/// it. Reads as a `[u8]`.
///
/// # Example
///
/// ```
/// use moonpool_core::transport::Payload;
///
/// // A layer reads its header off the front and hands the rest on.
/// let mut p = Payload::from(vec![7, 2, b'o', b'k', b'!']);
/// let (n, word): (u8, String) = p.take().unwrap();
/// assert_eq!((n, word.as_str()), (7, "ok"));
/// assert_eq!(p, b"!");
/// assert!(p.take::<String>().is_err()); // not a string: nothing skipped
/// p.advance(10); // past the end: empty, never a panic
/// assert!(p.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Payload {
    buf: Vec<u8>,
    start: usize,
}

impl Payload {
    /// The payload of a frame body `buf` that starts at `start`.
    pub(crate) fn within(buf: Vec<u8>, start: usize) -> Self {
        let start = start.min(buf.len());
        Self { buf, start }
    }

    /// Decodes a postcard value from the front and skips past it: how a
    /// layer reads its header, leaving the rest for the next.
    ///
    /// # Errors
    ///
    /// postcard's, for bytes that are not a `T` (nothing is skipped).
    pub fn take<T: DeserializeOwned>(&mut self) -> Result<T, postcard::Error> {
        let (value, rest) = postcard::take_from_bytes(self)?;
        let used = self.len() - rest.len();
        self.advance(used);
        Ok(value)
    }

    /// Skips the first `n` bytes (all of them, if there are fewer).
    pub fn advance(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buf.len());
    }

    /// The bytes, as a vector of their own (moved, not copied, when
    /// nothing was skipped).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.buf.drain(..self.start);
        self.buf
    }
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<Vec<u8>> for Payload {
    fn from(buf: Vec<u8>) -> Self {
        Self { buf, start: 0 }
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Payload {}

impl PartialEq<[u8]> for Payload {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Payload {
    fn eq(&self, other: &[u8; N]) -> bool {
        **self == other[..]
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Payload {
    fn eq(&self, other: &&[u8; N]) -> bool {
        **self == other[..]
    }
}

impl PartialEq<Vec<u8>> for Payload {
    fn eq(&self, other: &Vec<u8>) -> bool {
        **self == other[..]
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self) {
            Ok(text) if self.len() <= 64 => write!(f, "Payload({text:?})"),
            _ => write!(f, "Payload({} bytes)", self.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_compares_and_reads_as_its_bytes_after_the_start() {
        // The same bytes behind different headers.
        let p = Payload::within(b"xxok".to_vec(), 2);
        let q = Payload::within(b"yok".to_vec(), 1);
        let other = Payload::from(b"no".to_vec());
        assert!(p == q && p != other);
        assert!(p == b"ok"[..] && p != b"no"[..]);
        assert!(p == *b"ok" && p != *b"no" && p != *b"oka");
        assert!(p == b"ok" && p != b"no");
        assert!(p == b"ok".to_vec() && p != b"no".to_vec());
        assert_eq!(p.as_ref(), b"ok");
        assert_eq!(format!("{p:?}"), "Payload(\"ok\")");
        // Text is shown up to 64 bytes; longer, or not text, by its size.
        let text = Payload::from(vec![b'a'; 64]);
        assert_eq!(
            format!("{text:?}"),
            format!("Payload({:?})", "a".repeat(64))
        );
        assert_eq!(
            format!("{:?}", Payload::from(vec![b'a'; 65])),
            "Payload(65 bytes)"
        );
        assert_eq!(
            format!("{:?}", Payload::from(vec![0xff; 3])),
            "Payload(3 bytes)"
        );
        let mut out = Outgoing::new();
        out.extend_from_slice(b"four");
        assert_eq!(format!("{out:?}"), "Outgoing(4 bytes)");
    }

    #[test]
    fn a_frame_carries_the_payload_after_its_header() {
        let mut out = Outgoing::new();
        out.extend_from_slice(b"payload");
        let frame = out.into_frame(Kind::Request, 0x0102_0304_0506_0708);
        let body = &frame[HEADER_LEN..];
        assert_eq!(&frame[..4], &(body.len() as u32).to_be_bytes());
        assert_eq!(&frame[4..8], &crc32fast::hash(body).to_be_bytes());
        assert_eq!(
            Kind::parse(body),
            Some((Kind::Request, 0x0102_0304_0506_0708))
        );
        assert_eq!(&body[1..9], &0x0102_0304_0506_0708u64.to_le_bytes());
        let p = Payload::within(body.to_vec(), DATA_HEADER_LEN);
        assert_eq!(p, b"payload");
        assert_eq!(p.into_vec(), b"payload");
    }

    #[test]
    fn a_header_goes_in_front_of_bytes_in_their_own_buffer() {
        let mut bytes = Vec::with_capacity(4 + Outgoing::room_in_front(2));
        bytes.extend_from_slice(b"body");
        let before = bytes.as_ptr();
        let out = Outgoing::in_front_of(b"hd", bytes);
        assert_eq!(out.payload(), b"hdbody");
        assert_eq!(
            out.buf.as_ptr(),
            before,
            "moved up in place, not copied out"
        );
        // Without the room, it grows, and says the same.
        let out = Outgoing::in_front_of(b"hd", b"body".to_vec());
        assert_eq!(out.payload(), b"hdbody");
        let frame = out.into_frame(Kind::Response, 9);
        let p = Payload::within(frame[HEADER_LEN..].to_vec(), DATA_HEADER_LEN);
        assert_eq!(p, b"hdbody");
        assert_eq!(Outgoing::in_front_of(b"", Vec::new()).payload(), b"");
    }

    #[test]
    fn a_failed_encode_leaves_the_message_as_it_was() {
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let mut out = Outgoing::new();
        out.extend_from_slice(b"kept");
        out.encode(&(1u8, 2u8)).unwrap();
        assert!(out.encode(&(3u8, Refuses)).is_err());
        assert_eq!(out.payload(), b"kept\x01\x02");
    }
}
