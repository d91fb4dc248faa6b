//! How [`DiskStorage`](super::DiskStorage) lays out a record in its file,
//! and how it names the file.
//!
//! ```text
//! "MPR2" | etag: u64 BE | crc32: u32 BE | type len: u16 BE | type | key len: u32 BE | key | data
//!          └─ the CRC covers the etag and everything after the CRC ──────────────────────┘
//! ```
//!
//! The record names its actor, so a file read back is checked to be the
//! actor's own: file names of long ids are hashes. Files written before
//! this layout (`etag | crc32 | data`, with the id only in the file name)
//! are still read.

use sha2::{Digest, Sha256};

use super::storage::{ETag, Record, StorageError};
use crate::id::ActorId;

const MAGIC: &[u8; 4] = b"MPR2";
/// Magic, etag, CRC.
const FIXED: usize = 4 + 8 + 4;

/// The longest file name built from the id itself; longer ids are named by
/// their hash. (Most filesystems allow 255 bytes; the temporary file of an
/// atomic write adds a suffix.)
const MAX_READABLE_NAME: usize = 200;

/// The file name of `id`'s record: the hex of its type and key when short
/// enough, so a directory listing tells what is stored; otherwise `h.` and
/// the SHA-256 of the id.
pub(super) fn file_name(id: &ActorId) -> String {
    let readable = 2 * (id.type_name.len() + id.key.len()) + 1;
    if readable <= MAX_READABLE_NAME {
        let mut name = String::with_capacity(readable);
        push_hex(&mut name, id.type_name.as_bytes());
        name.push('.');
        push_hex(&mut name, id.key.as_bytes());
        name
    } else {
        let mut hash = Sha256::new();
        hash.update((id.type_name.len() as u64).to_be_bytes());
        hash.update(id.type_name.as_bytes());
        hash.update(id.key.as_bytes());
        let mut name = String::from("h.");
        push_hex(&mut name, &hash.finalize());
        name
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// The bytes of `id`'s record.
///
/// # Errors
///
/// [`StorageError::Io`] for a type name longer than 65 535 bytes or a key
/// longer than 4 GiB.
pub(super) fn encode(id: &ActorId, etag: ETag, data: &[u8]) -> Result<Vec<u8>, StorageError> {
    let type_len = u16::try_from(id.type_name.len()).map_err(|_| StorageError::Io {
        actor: id.to_string(),
        reason: "the actor type name is longer than 65 535 bytes".into(),
    })?;
    let key_len = u32::try_from(id.key.len()).map_err(|_| StorageError::Io {
        actor: id.to_string(),
        reason: "the actor key is longer than 4 GiB".into(),
    })?;
    let mut out =
        Vec::with_capacity(FIXED + 2 + id.type_name.len() + 4 + id.key.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&etag.0.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // the CRC, once the rest is written
    out.extend_from_slice(&type_len.to_be_bytes());
    out.extend_from_slice(id.type_name.as_bytes());
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(id.key.as_bytes());
    out.extend_from_slice(data);
    let crc = checksum(&out[4..12], &out[FIXED..]);
    out[12..16].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

fn checksum(etag: &[u8], rest: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(etag);
    crc.update(rest);
    crc.finalize()
}

/// The record of `id` in `bytes`.
///
/// # Errors
///
/// [`StorageError::Corrupt`] when the bytes are not a whole record, fail
/// their checksum, or belong to another actor.
pub(super) fn decode(id: &ActorId, bytes: &[u8]) -> Result<Record, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        actor: id.to_string(),
        reason,
    };
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return decode_legacy(id, bytes);
    };
    let mut r = Reader { bytes: rest };
    let short = || corrupt("the record is cut short".into());
    let etag_bytes: [u8; 8] = r.take().ok_or_else(short)?;
    let crc = u32::from_be_bytes(r.take().ok_or_else(short)?);
    if checksum(&etag_bytes, r.bytes) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    let type_len = u16::from_be_bytes(r.take().ok_or_else(short)?);
    let type_name = r.slice(usize::from(type_len)).ok_or_else(short)?;
    let key_len = u32::from_be_bytes(r.take().ok_or_else(short)?);
    let key = usize::try_from(key_len)
        .ok()
        .and_then(|n| r.slice(n))
        .ok_or_else(short)?;
    if type_name != id.type_name.as_bytes() || key != id.key.as_bytes() {
        return Err(corrupt(format!(
            "the file holds the record of `{}/{}`",
            String::from_utf8_lossy(type_name),
            String::from_utf8_lossy(key)
        )));
    }
    Ok((r.bytes.to_vec(), ETag(u64::from_be_bytes(etag_bytes))))
}

fn decode_legacy(id: &ActorId, bytes: &[u8]) -> Result<Record, StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        actor: id.to_string(),
        reason: reason.to_string(),
    };
    let mut r = Reader { bytes };
    let short = || corrupt("record shorter than its header");
    let etag = u64::from_be_bytes(r.take().ok_or_else(short)?);
    let sum = u32::from_be_bytes(r.take().ok_or_else(short)?);
    if crc32fast::hash(r.bytes) != sum {
        return Err(corrupt("checksum mismatch"));
    }
    Ok((r.bytes.to_vec(), ETag(etag)))
}

/// Takes fields off the front of a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    fn slice(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str) -> ActorId {
        ActorId {
            type_name: "Account".into(),
            key: key.into(),
        }
    }

    #[test]
    fn records_round_trip_and_name_their_actor() {
        let a = id("alice");
        let bytes = encode(&a, ETag(7), b"balance").unwrap();
        assert_eq!(decode(&a, &bytes).unwrap(), (b"balance".to_vec(), ETag(7)));
        let err = decode(&id("bob"), &bytes).unwrap_err();
        assert!(err.to_string().contains("Account/alice"), "{err}");
    }

    #[test]
    fn every_damage_is_corruption_not_a_panic() {
        let a = id("alice");
        let bytes = encode(&a, ETag(1), b"some data").unwrap();
        for cut in 0..bytes.len() {
            assert!(
                matches!(decode(&a, &bytes[..cut]), Err(StorageError::Corrupt { .. })),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(decode(&a, &flipped).is_err(), "flip at {at}");
        }
    }

    #[test]
    fn files_of_the_layout_before_are_still_read() {
        let data = b"old".to_vec();
        let mut bytes = 3u64.to_be_bytes().to_vec();
        bytes.extend_from_slice(&crc32fast::hash(&data).to_be_bytes());
        bytes.extend_from_slice(&data);
        assert_eq!(decode(&id("x"), &bytes).unwrap(), (data, ETag(3)));
        // An empty value is a whole record; less than a header is not.
        let mut empty = 4u64.to_be_bytes().to_vec();
        empty.extend_from_slice(&crc32fast::hash(&[]).to_be_bytes());
        assert_eq!(decode(&id("x"), &empty).unwrap(), (Vec::new(), ETag(4)));
        for cut in 0..empty.len() {
            let err = decode(&id("x"), &empty[..cut]).unwrap_err();
            assert!(err.to_string().contains("shorter than its header"), "{err}");
        }
    }

    /// A file name stays within `MAX_READABLE_NAME` bytes: the hex of the
    /// id up to that length, its hash beyond.
    #[test]
    fn names_are_readable_up_to_the_limit() {
        let of_length = |total: usize| ActorId {
            type_name: "Account".into(),
            key: "k".repeat(total - "Account".len()).into(),
        };
        let longest = file_name(&of_length(99));
        assert_eq!(longest.len(), 199, "{longest}");
        assert!(!longest.starts_with("h."), "{longest}");
        let hashed = file_name(&of_length(100));
        assert!(hashed.starts_with("h.") && hashed.len() <= MAX_READABLE_NAME);
    }

    #[test]
    fn long_ids_get_short_distinct_names() {
        let short = file_name(&id("alice"));
        assert_eq!(short, "4163636f756e74.616c696365");
        let long_a = file_name(&id(&"a".repeat(5_000)));
        let long_b = file_name(&id(&format!("{}b", "a".repeat(4_999))));
        assert!(long_a.starts_with("h.") && long_a.len() == 66, "{long_a}");
        assert_ne!(long_a, long_b);
        // The type/key boundary is part of the hash.
        let split_1 = ActorId {
            type_name: "AB".into(),
            key: "c".repeat(200).into(),
        };
        let split_2 = ActorId {
            type_name: "A".into(),
            key: format!("B{}", "c".repeat(200)).into(),
        };
        assert_ne!(file_name(&split_1), file_name(&split_2));
    }
}
