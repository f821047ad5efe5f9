//! How an event keeps its document and links: compressed into one `body`, decoded back to the
//! exact bytes the hash chain covers.
//!
//! A body is a format byte and a zstd frame of the document's length (4 bytes, little-endian),
//! the document and the links. Documents are small (a few hundred bytes of JSON), too small
//! for zstd to find much to share within one; a fixed dictionary of what MLSpec documents have
//! in common (keys, kinds, statuses, the shape of links: [`DICTIONARY`]) lets it share with
//! that instead. The dictionary belongs to the format: a new dictionary gets a new format
//! byte, and every format stays readable.

use std::cell::RefCell;

use zstd::bulk::{Compressor, Decompressor};

use crate::error::{ErrorKind, Result, StoreError};

/// Format 1: zstd with [`DICTIONARY`].
const ZSTD_DICTIONARY_1: u8 = 1;

/// The raw-content dictionary of format 1 (`dictionary/1.jsonl`): compact JSON fragments of
/// every kind, the most common last, as zstd prefers.
pub(crate) const DICTIONARY: &[u8] = include_bytes!("../dictionary/1.jsonl");

/// zstd's level: higher levels gain little on inputs this small and cost ingest time.
const LEVEL: i32 = 3;

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The body of an event with this document and links.
pub(crate) fn pack(document: &str, links: &str) -> Result<Vec<u8>> {
    let length =
        u32::try_from(document.len()).map_err(|_| StoreError::invalid("a document over 4 GiB cannot be recorded"))?;
    let mut plain = Vec::with_capacity(4 + document.len() + links.len());
    plain.extend_from_slice(&length.to_le_bytes());
    plain.extend_from_slice(document.as_bytes());
    plain.extend_from_slice(links.as_bytes());
    let frame = COMPRESSOR.with_borrow_mut(|slot| {
        let compressor = match slot {
            Some(compressor) => compressor,
            None => slot.insert(Compressor::with_dictionary(LEVEL, DICTIONARY)?),
        };
        compressor.compress(&plain)
    });
    let frame = frame.map_err(|e| StoreError::new(ErrorKind::Internal, format!("cannot compress a document: {e}")))?;
    let mut body = Vec::with_capacity(1 + frame.len());
    body.push(ZSTD_DICTIONARY_1);
    body.extend_from_slice(&frame);
    Ok(body)
}

/// The document and links of a body, exactly as they were packed.
pub(crate) fn unpack(body: &[u8], seq: i64) -> Result<(String, String)> {
    let unreadable = |why: String| {
        StoreError::data_loss(format!("event {seq} holds an unreadable body: {why}"))
            .with_hint("run `mlspec store verify`")
    };
    let Some((&ZSTD_DICTIONARY_1, frame)) = body.split_first() else {
        return Err(unreadable("an unknown format".to_owned()));
    };
    let capacity = Decompressor::upper_bound(frame).ok_or_else(|| unreadable("no content size".to_owned()))?;
    let plain = DECOMPRESSOR
        .with_borrow_mut(|slot| {
            let decompressor = match slot {
                Some(decompressor) => decompressor,
                None => slot.insert(Decompressor::with_dictionary(DICTIONARY)?),
            };
            decompressor.decompress(frame, capacity)
        })
        .map_err(|e| unreadable(e.to_string()))?;
    let (length, rest) = plain
        .split_first_chunk::<4>()
        .ok_or_else(|| unreadable("it is truncated".to_owned()))?;
    let length = u32::from_le_bytes(*length) as usize;
    if length > rest.len() {
        return Err(unreadable("it is truncated".to_owned()));
    }
    let (document, links) = rest.split_at(length);
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|e| unreadable(e.to_string()));
    Ok((text(document)?, text(links)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_give_back_the_exact_bytes() {
        for (document, links) in [
            ("{}", "[]"),
            ("", ""),
            (
                r#"{"apiVersion":"mlspec/v1","kind":"Run","metadata":{"name":"é\n"}}"#,
                r#"[["input","a","b"]]"#,
            ),
        ] {
            let body = pack(document, links).unwrap();
            assert_eq!(unpack(&body, 1).unwrap(), (document.to_owned(), links.to_owned()));
        }
    }

    #[test]
    fn a_damaged_body_is_data_loss() {
        let mut body = pack("{\"a\":1}", "[]").unwrap();
        body[0] = 9;
        assert_eq!(unpack(&body, 7).unwrap_err().kind, ErrorKind::DataLoss);
        assert_eq!(unpack(&[], 7).unwrap_err().kind, ErrorKind::DataLoss);
        let body = pack("{\"a\":1}", "[]").unwrap();
        assert_eq!(
            unpack(&body[..body.len() - 2], 7).unwrap_err().kind,
            ErrorKind::DataLoss
        );
    }
}
