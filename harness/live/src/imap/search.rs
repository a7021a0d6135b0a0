//! SEARCH: whether one message meets a search key (RFC 3501 §6.4.4).

use std::sync::Arc;

use chrono::NaiveDate;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use mail_parser::MessageParser;

use crate::store::{Flag, InternalDate, MessageMeta};

/// One message being searched; its bytes are read only if a key needs them.
pub(super) struct Candidate<'c, F: Fn() -> Option<Arc<[u8]>>> {
    pub(super) seq: u32,
    pub(super) info: &'c MessageMeta,
    pub(super) largest_seq: u32,
    pub(super) largest_uid: u32,
    pub(super) bytes: F,
}

/// Nesting of NOT/OR/AND past this matches nothing, keeping the recursion bounded whatever
/// the decoder accepted.
const MAX_DEPTH: usize = 64;

pub(super) fn matches<F: Fn() -> Option<Arc<[u8]>>>(
    key: &SearchKey<'_>,
    candidate: &Candidate<'_, F>,
) -> bool {
    matches_at(key, candidate, 0)
}

fn matches_at<F: Fn() -> Option<Arc<[u8]>>>(
    key: &SearchKey<'_>,
    c: &Candidate<'_, F>,
    depth: usize,
) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let flags = c.info.flags;
    let date = internal_day(c.info.internal_date);
    let text = |needle: &[u8], whole: bool| -> bool {
        (c.bytes)().is_some_and(|bytes| {
            let haystack = if whole {
                &bytes[..]
            } else {
                &bytes[crate::mime::body_offset(&bytes)..]
            };
            contains(haystack, needle)
        })
    };
    let header = |name: &[u8], needle: &[u8]| -> bool {
        (c.bytes)().is_some_and(|bytes| {
            header_values(&bytes, name)
                .iter()
                .any(|value| contains(value, needle))
        })
    };
    let sent = || -> Option<NaiveDate> {
        let bytes = (c.bytes)()?;
        let message = MessageParser::default().parse(&bytes[..])?;
        let date = message.date()?;
        NaiveDate::from_ymd_opt(
            i32::from(date.year),
            u32::from(date.month),
            u32::from(date.day),
        )
    };
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches_at(k, c, depth + 1)),
        SearchKey::Or(a, b) => matches_at(a, c, depth + 1) || matches_at(b, c, depth + 1),
        SearchKey::Not(inner) => !matches_at(inner, c, depth + 1),
        SearchKey::SequenceSet(set) => in_set(set, c.seq, c.largest_seq),
        SearchKey::Uid(set) => in_set(set, c.info.uid.0, c.largest_uid),
        SearchKey::All => true,
        SearchKey::Answered => flags.contains(Flag::Answered),
        SearchKey::Unanswered => !flags.contains(Flag::Answered),
        SearchKey::Deleted => flags.contains(Flag::Deleted),
        SearchKey::Undeleted => !flags.contains(Flag::Deleted),
        SearchKey::Draft => flags.contains(Flag::Draft),
        SearchKey::Undraft => !flags.contains(Flag::Draft),
        SearchKey::Flagged => flags.contains(Flag::Flagged),
        SearchKey::Unflagged => !flags.contains(Flag::Flagged),
        SearchKey::Seen => flags.contains(Flag::Seen),
        SearchKey::Unseen => !flags.contains(Flag::Seen),
        // No message is ever recent: every session sees the mailbox as already known.
        SearchKey::New | SearchKey::Recent => false,
        SearchKey::Old => true,
        SearchKey::Keyword(_) => false,
        SearchKey::Unkeyword(_) => true,
        SearchKey::Larger(n) => c.info.size > u64::from(*n),
        SearchKey::Smaller(n) => c.info.size < u64::from(*n),
        SearchKey::Before(day) => date.is_some_and(|d| d < *day.as_ref()),
        SearchKey::On(day) => date.is_some_and(|d| d == *day.as_ref()),
        SearchKey::Since(day) => date.is_some_and(|d| d >= *day.as_ref()),
        SearchKey::SentBefore(day) => sent().is_some_and(|d| d < *day.as_ref()),
        SearchKey::SentOn(day) => sent().is_some_and(|d| d == *day.as_ref()),
        SearchKey::SentSince(day) => sent().is_some_and(|d| d >= *day.as_ref()),
        SearchKey::Body(needle) => text(needle.as_ref(), false),
        SearchKey::Text(needle) => text(needle.as_ref(), true),
        SearchKey::Subject(needle) => header(b"Subject", needle.as_ref()),
        SearchKey::From(needle) => header(b"From", needle.as_ref()),
        SearchKey::To(needle) => header(b"To", needle.as_ref()),
        SearchKey::Cc(needle) => header(b"Cc", needle.as_ref()),
        SearchKey::Bcc(needle) => header(b"Bcc", needle.as_ref()),
        SearchKey::Header(name, needle) => header(name.as_ref(), needle.as_ref()),
        #[expect(
            unreachable_patterns,
            reason = "imap-types may grow keys with features"
        )]
        _ => false,
    }
}

fn internal_day(date: InternalDate) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(date.0, 0).map(|d| d.date_naive())
}

fn in_set(set: &SequenceSet, value: u32, largest: u32) -> bool {
    let resolve = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => largest,
    };
    set.0.as_ref().iter().any(|sequence| match sequence {
        Sequence::Single(v) => resolve(v) == value,
        Sequence::Range(a, b) => {
            let (a, b) = (resolve(a), resolve(b));
            (a.min(b)..=a.max(b)).contains(&value)
        }
    })
}

/// Case-insensitive (ASCII) substring search; the empty needle is everywhere.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

/// The unfolded values of every header field called `name`.
fn header_values(message: &[u8], name: &[u8]) -> Vec<Vec<u8>> {
    let header = &message[..crate::mime::body_offset(message)];
    let mut values: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let content = line.trim_ascii_end();
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some(value) = current.as_mut() {
                value.push(b' ');
                value.extend_from_slice(content.trim_ascii_start());
            }
            continue;
        }
        values.extend(current.take());
        if let Some(colon) = content.iter().position(|&b| b == b':') {
            if content[..colon].trim_ascii().eq_ignore_ascii_case(name) {
                current = Some(content[colon + 1..].trim_ascii().to_vec());
            }
        }
    }
    values.extend(current);
    values
}
