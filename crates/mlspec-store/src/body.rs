//! How an event keeps what its hash covers: every text of the event compressed into one
//! `body`, decoded back to the exact bytes the hash chain covers.
//!
//! A body is a format byte and a zstd frame of the event's texts — actor, action, object id,
//! kind, name, scope, status and the document, each after its length (4 bytes, little-endian)
//! — followed by the links. Keeping the short texts in the body rather than in columns of their
//! own costs almost nothing: the id, kind, name and status are in the document too, and zstd
//! finds them there. Documents are small (a few hundred bytes of JSON), too small for zstd to
//! find much to share within one; a fixed dictionary of what MLSpec documents have in common
//! (keys, kinds, statuses, the shape of links: [`DICTIONARY`]) lets it share with that instead.
//! The dictionary belongs to the format: a new dictionary gets a new format byte, and every
//! format stays readable.

use std::cell::RefCell;

use zstd::bulk::{Compressor, Decompressor};

use crate::chain::EventTexts;
use crate::error::{ErrorKind, Result, StoreError};

/// Format 1: zstd with [`DICTIONARY`].
const ZSTD_DICTIONARY_1: u8 = 1;

/// The raw-content dictionary of format 1 (`dictionary/1.jsonl`): compact JSON fragments of
/// every kind, the most common last, as zstd prefers.
pub(crate) const DICTIONARY: &[u8] = include_bytes!("../dictionary/1.jsonl");

/// zstd's level: higher levels gain little on inputs this small and cost ingest time.
const LEVEL: i32 = 3;

/// The most an event's texts can take: a document within `validate`'s limit, with its links and
/// the short texts, is far below it. A body that declares more is damaged, and is not given the
/// memory it asks for.
const MAX_PLAIN: usize = 8 * (64 << 20);

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The texts that come with a length, in the body's order (the links follow them).
fn prefixed(texts: &EventTexts) -> [&str; 8] {
    [
        &texts.actor,
        &texts.action,
        &texts.object_id,
        &texts.kind,
        &texts.name,
        &texts.scope,
        &texts.status,
        &texts.document,
    ]
}

/// The body of an event with these texts.
pub(crate) fn pack(texts: &EventTexts) -> Result<Vec<u8>> {
    let mut plain = Vec::with_capacity(64 + texts.document.len() + texts.links.len());
    for text in prefixed(texts) {
        let length =
            u32::try_from(text.len()).map_err(|_| StoreError::invalid("a document over 4 GiB cannot be recorded"))?;
        plain.extend_from_slice(&length.to_le_bytes());
        plain.extend_from_slice(text.as_bytes());
    }
    plain.extend_from_slice(texts.links.as_bytes());
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

/// The texts of a body, exactly as they were packed.
pub(crate) fn unpack(body: &[u8], seq: i64) -> Result<EventTexts> {
    let unreadable = |why: &str| {
        StoreError::data_loss(format!("event {seq} holds an unreadable body: {why}"))
            .with_hint("run `mlspec store verify`")
    };
    let Some((&ZSTD_DICTIONARY_1, frame)) = body.split_first() else {
        return Err(unreadable("an unknown format"));
    };
    let capacity = Decompressor::upper_bound(frame).ok_or_else(|| unreadable("no content size"))?;
    if capacity > MAX_PLAIN {
        return Err(unreadable(&format!(
            "it declares {capacity} bytes, more than any event holds"
        )));
    }
    let plain = DECOMPRESSOR
        .with_borrow_mut(|slot| {
            let decompressor = match slot {
                Some(decompressor) => decompressor,
                None => slot.insert(Decompressor::with_dictionary(DICTIONARY)?),
            };
            decompressor.decompress(frame, capacity)
        })
        .map_err(|e| unreadable(&e.to_string()))?;
    let mut rest = plain.as_slice();
    let mut next = || -> Result<String> {
        let (length, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| unreadable("it is truncated"))?;
        let length = u32::from_le_bytes(*length) as usize;
        if length > after.len() {
            return Err(unreadable("it is truncated"));
        }
        let (text, after) = after.split_at(length);
        rest = after;
        String::from_utf8(text.to_vec()).map_err(|e| unreadable(&e.to_string()))
    };
    let mut texts = EventTexts {
        actor: next()?,
        action: next()?,
        object_id: next()?,
        kind: next()?,
        name: next()?,
        scope: next()?,
        status: next()?,
        document: next()?,
        links: String::new(),
    };
    texts.links = String::from_utf8(rest.to_vec()).map_err(|e| unreadable(&e.to_string()))?;
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(document: &str, links: &str) -> EventTexts {
        EventTexts {
            actor: "ann".into(),
            action: "create".into(),
            object_id: "01a2439b-78df-73fa-a2de-79906a312a0b".into(),
            kind: "Run".into(),
            name: "train".into(),
            scope: String::new(),
            status: "Active".into(),
            document: document.into(),
            links: links.into(),
        }
    }

    #[test]
    fn bodies_give_back_the_exact_bytes() {
        for texts in [
            texts("{}", "[]"),
            EventTexts::default(),
            texts(
                r#"{"apiVersion":"mlspec/v1","kind":"Run","metadata":{"name":"é\n"}}"#,
                r#"[["input","a","b"]]"#,
            ),
        ] {
            let body = pack(&texts).unwrap();
            assert_eq!(unpack(&body, 1).unwrap(), texts);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_texts_come_back_exactly(fields in proptest::collection::vec(".*", 9)) {
            let texts = EventTexts {
                actor: fields[0].clone(),
                action: fields[1].clone(),
                object_id: fields[2].clone(),
                kind: fields[3].clone(),
                name: fields[4].clone(),
                scope: fields[5].clone(),
                status: fields[6].clone(),
                document: fields[7].clone(),
                links: fields[8].clone(),
            };
            proptest::prop_assert_eq!(unpack(&pack(&texts).unwrap(), 1).unwrap(), texts);
        }

        /// Bytes from the database are hostile: anything decodes or is data loss, never a panic.
        #[test]
        fn any_bytes_decode_or_are_data_loss(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Err(error) = unpack(&bytes, 1) {
                proptest::prop_assert_eq!(error.kind, ErrorKind::DataLoss);
            }
        }

        /// A valid frame whose content is cut or garbled inside is data loss too.
        #[test]
        fn damaged_contents_are_data_loss(plain in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let frame = zstd::bulk::Compressor::with_dictionary(LEVEL, DICTIONARY).unwrap().compress(&plain).unwrap();
            let mut body = vec![ZSTD_DICTIONARY_1];
            body.extend_from_slice(&frame);
            if let Err(error) = unpack(&body, 1) {
                proptest::prop_assert_eq!(error.kind, ErrorKind::DataLoss);
            }
        }
    }

    #[test]
    fn a_body_that_declares_too_much_is_data_loss_without_the_memory() {
        // A zstd frame header declaring 2^40 bytes of content (single segment, 8-byte size).
        let mut body = vec![ZSTD_DICTIONARY_1, 0x28, 0xB5, 0x2F, 0xFD, 0xE0];
        body.extend_from_slice(&(1u64 << 40).to_le_bytes());
        body.extend_from_slice(&[0x01, 0x00, 0x00]);
        let error = unpack(&body, 3).unwrap_err();
        assert_eq!(error.kind, ErrorKind::DataLoss);
        assert!(error.message.contains("more than any event holds"), "{}", error.message);
    }

    #[test]
    fn a_damaged_body_is_data_loss() {
        let mut body = pack(&texts("{\"a\":1}", "[]")).unwrap();
        body[0] = 9;
        assert_eq!(unpack(&body, 7).unwrap_err().kind, ErrorKind::DataLoss);
        assert_eq!(unpack(&[], 7).unwrap_err().kind, ErrorKind::DataLoss);
        let body = pack(&texts("{\"a\":1}", "[]")).unwrap();
        assert_eq!(
            unpack(&body[..body.len() - 2], 7).unwrap_err().kind,
            ErrorKind::DataLoss
        );
    }
}
