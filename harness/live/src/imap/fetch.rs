//! FETCH: the data items of one message — flags, dates, sizes, ENVELOPE, BODYSTRUCTURE and
//! body sections — read from the store and the message's MIME structure.

use std::num::NonZeroU32;
use std::sync::Arc;

use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_codec::imap_types::core::{IString, Literal, NString, NonEmptyVec};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::envelope::{Address, Envelope};
use imap_codec::imap_types::fetch::{MessageDataItem, MessageDataItemName, Section};
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use imap_codec::imap_types::response::Data;
use mail_parser::MessageParser;

use crate::mime::{self, MimePart, PartContent};
use crate::store::{
    Event, Flag as StoreFlag, FlagChange, Flags, InternalDate, MailboxName, Mailboxes, MessageMeta,
    Observer, Protocol, Uid,
};

/// One FETCH command, as it applies to every message it names.
#[derive(Debug)]
pub(super) struct Request<'r> {
    pub(super) user: &'r str,
    pub(super) mailbox: MailboxName,
    pub(super) read_only: bool,
    /// UID FETCH always reports UIDs.
    pub(super) uid_command: bool,
    pub(super) items: &'r [MessageDataItemName<'r>],
}

/// The FETCH response for one message, or `None` if it vanished meanwhile.
pub(super) fn fetch<'r>(
    request: &Request<'r>,
    store: &Mailboxes,
    observer: &dyn Observer,
    seq: u32,
    info: &MessageMeta,
) -> Option<Data<'r>> {
    let seq = NonZeroU32::new(seq)?;
    let needs_bytes = request.items.iter().any(|item| {
        !matches!(
            item,
            MessageDataItemName::Flags
                | MessageDataItemName::Uid
                | MessageDataItemName::InternalDate
                | MessageDataItemName::Rfc822Size
        )
    });
    let bytes: Arc<[u8]> = if needs_bytes {
        store.read(request.user, request.mailbox, info.uid).ok()?
    } else {
        Arc::from(&[][..])
    };
    let structure = needs_bytes.then(|| mime::structure(&bytes));
    let marks_seen = request.items.iter().any(|item| {
        matches!(
            item,
            MessageDataItemName::BodyExt { peek: false, .. }
                | MessageDataItemName::Rfc822
                | MessageDataItemName::Rfc822Text
        )
    });
    let mut flags = info.flags;
    let mut flags_changed = false;
    if marks_seen && !request.read_only && !flags.contains(StoreFlag::Seen) {
        if let Ok(now) = store.store_flags(
            request.user,
            request.mailbox,
            info.uid,
            FlagChange::Add(Flags::NONE.with(StoreFlag::Seen)),
        ) {
            flags = now;
            flags_changed = true;
        }
    }
    let mut items: Vec<MessageDataItem<'r>> = Vec::new();
    let mut whole = false;
    let asked_uid = request
        .items
        .iter()
        .any(|item| matches!(item, MessageDataItemName::Uid));
    if request.uid_command && !asked_uid {
        items.push(uid_item(info.uid));
    }
    let asked_flags = request
        .items
        .iter()
        .any(|item| matches!(item, MessageDataItemName::Flags));
    for item in request.items {
        let root = structure.as_ref();
        match item {
            MessageDataItemName::Flags => items.push(flags_item(flags)),
            MessageDataItemName::Uid => items.push(uid_item(info.uid)),
            MessageDataItemName::Rfc822Size => items.push(MessageDataItem::Rfc822Size(
                u32::try_from(info.size).unwrap_or(u32::MAX),
            )),
            MessageDataItemName::InternalDate => {
                if let Some(date) = internal_date(info.internal_date) {
                    items.push(MessageDataItem::InternalDate(date));
                }
            }
            MessageDataItemName::Envelope => {
                items.push(MessageDataItem::Envelope(envelope(&bytes)))
            }
            MessageDataItemName::BodyStructure => {
                if let Some(root) = root {
                    items.push(MessageDataItem::BodyStructure(body_structure(
                        root, &bytes, true, 0,
                    )));
                }
            }
            MessageDataItemName::Body => {
                if let Some(root) = root {
                    items.push(MessageDataItem::Body(body_structure(
                        root, &bytes, false, 0,
                    )));
                }
            }
            MessageDataItemName::Rfc822 => {
                whole = true;
                items.push(MessageDataItem::Rfc822(literal(&bytes)));
            }
            MessageDataItemName::Rfc822Header => {
                let header = root.map_or(&bytes[..], |r| slice(&bytes, &r.header));
                items.push(MessageDataItem::Rfc822Header(literal(header)));
            }
            MessageDataItemName::Rfc822Text => {
                let text = root.map_or(&bytes[..], |r| slice(&bytes, &r.body));
                items.push(MessageDataItem::Rfc822Text(literal(text)));
            }
            MessageDataItemName::BodyExt {
                section,
                partial,
                peek: _,
            } => {
                let Some(root) = root else { continue };
                let content = section_bytes(&bytes, root, section.as_ref());
                let (origin, data) = match partial {
                    None => {
                        whole |= section.is_none();
                        (None, content)
                    }
                    Some((start, length)) => {
                        let start = usize::try_from(*start).unwrap_or(usize::MAX);
                        let length = usize::try_from(length.get()).unwrap_or(usize::MAX);
                        let end = start.saturating_add(length);
                        whole |= section.is_none() && end >= content.len();
                        let piece = content
                            .get(start.min(content.len())..end.min(content.len()))
                            .unwrap_or_default()
                            .to_vec();
                        (u32::try_from(start).ok(), piece)
                    }
                };
                items.push(MessageDataItem::BodyExt {
                    section: section.clone(),
                    origin,
                    data: literal(&data),
                });
            }
        }
    }
    if flags_changed && !asked_flags {
        items.push(flags_item(flags));
    }
    if whole {
        observer.observe(Event::Fetched {
            user: request.user.to_owned(),
            mailbox: request.mailbox,
            uid: info.uid,
            protocol: Protocol::Imap,
        });
    }
    Some(Data::Fetch {
        seq,
        items: NonEmptyVec::try_from(items).ok()?,
    })
}

/// `FLAGS (...)` for a FETCH response.
pub(super) fn flags_item(flags: Flags) -> MessageDataItem<'static> {
    let mut list = Vec::new();
    for (set, flag) in [
        (StoreFlag::Seen, Flag::Seen),
        (StoreFlag::Answered, Flag::Answered),
        (StoreFlag::Flagged, Flag::Flagged),
        (StoreFlag::Deleted, Flag::Deleted),
        (StoreFlag::Draft, Flag::Draft),
    ] {
        if flags.contains(set) {
            list.push(FlagFetch::Flag(flag));
        }
    }
    MessageDataItem::Flags(list)
}

/// `UID n` for a FETCH response.
pub(super) fn uid_item(uid: Uid) -> MessageDataItem<'static> {
    // A Uid is never zero.
    MessageDataItem::Uid(NonZeroU32::new(uid.0).unwrap_or(NonZeroU32::MIN))
}

fn internal_date(date: InternalDate) -> Option<DateTime> {
    let utc = chrono::DateTime::from_timestamp(date.0, 0)?;
    DateTime::try_from(utc.fixed_offset()).ok()
}

fn slice<'b>(bytes: &'b [u8], range: &std::ops::Range<usize>) -> &'b [u8] {
    bytes.get(range.clone()).unwrap_or_default()
}

/// Message data as a literal, byte for byte (a quoted string could not carry line breaks).
fn literal<'a>(data: &[u8]) -> NString<'a> {
    NString(Some(IString::Literal(Literal::unvalidated(data.to_vec()))))
}

/// The bytes a section names (RFC 3501 §6.4.5); an unknown part is empty.
fn section_bytes(bytes: &[u8], root: &MimePart, section: Option<&Section<'_>>) -> Vec<u8> {
    let part_path = |part: &imap_codec::imap_types::fetch::Part| -> Vec<u32> {
        part.0.as_ref().iter().map(|n| n.get()).collect()
    };
    // HEADER and TEXT of a part mean those of the message a message/rfc822 part holds.
    let message_of = |path: Option<&imap_codec::imap_types::fetch::Part>| -> Option<MimePart> {
        match path {
            None => Some(root.clone()),
            Some(part) => match &root.part(&part_path(part))?.content {
                PartContent::Message(inner) => Some((**inner).clone()),
                _ => None,
            },
        }
    };
    match section {
        None => bytes.to_vec(),
        Some(Section::Part(part)) => root
            .part(&part_path(part))
            .map(|p| slice(bytes, &p.body).to_vec())
            .unwrap_or_default(),
        Some(Section::Mime(part)) => root
            .part(&part_path(part))
            .map(|p| slice(bytes, &p.header).to_vec())
            .unwrap_or_default(),
        Some(Section::Header(part)) => message_of(part.as_ref())
            .map(|m| slice(bytes, &m.header).to_vec())
            .unwrap_or_default(),
        Some(Section::Text(part)) => message_of(part.as_ref())
            .map(|m| slice(bytes, &m.body).to_vec())
            .unwrap_or_default(),
        Some(Section::HeaderFields(part, fields))
        | Some(Section::HeaderFieldsNot(part, fields)) => {
            let keep = matches!(section, Some(Section::HeaderFields(..)));
            let names: Vec<&[u8]> = fields.as_ref().iter().map(AsRef::as_ref).collect();
            message_of(part.as_ref())
                .map(|m| header_fields(slice(bytes, &m.header), &names, keep))
                .unwrap_or_default()
        }
    }
}

/// The header fields named (or, with `keep` false, those not named), each with its folded
/// lines, followed by the blank line (RFC 3501 §6.4.5).
fn header_fields(header: &[u8], names: &[&[u8]], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keeping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let named = names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.trim_ascii()));
            keeping = named == keep;
        }
        if keeping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn istring(value: &str) -> IString<'static> {
    IString::try_from(value.to_owned()).unwrap_or_else(|_| {
        IString::Literal(Literal::unvalidated(value.replace('\0', "").into_bytes()))
    })
}

fn nstring(value: Option<&str>) -> NString<'static> {
    NString(value.map(istring))
}

fn parameters(list: &[(String, String)]) -> Vec<(IString<'static>, IString<'static>)> {
    list.iter().map(|(k, v)| (istring(k), istring(v))).collect()
}

fn disposition(part: &MimePart) -> Disposition<'static> {
    Disposition {
        disposition: part
            .disposition
            .as_ref()
            .map(|(kind, list)| (istring(kind), parameters(list))),
        tail: Some(Language {
            language: part.language.iter().map(|l| istring(l)).collect(),
            tail: Some(Location {
                location: nstring(part.location.as_deref()),
                extensions: Vec::new(),
            }),
        }),
    }
}

/// Nesting past this is described as an opaque part, keeping responses finite.
const MAX_DEPTH: usize = 16;

/// BODYSTRUCTURE (with `extended`) or BODY of a part (RFC 3501 §7.4.2).
fn body_structure(
    part: &MimePart,
    bytes: &[u8],
    extended: bool,
    depth: usize,
) -> BodyStructure<'static> {
    if let PartContent::Multipart(children) = &part.content {
        let bodies: Vec<BodyStructure<'static>> = children
            .iter()
            .filter(|_| depth < MAX_DEPTH)
            .map(|child| body_structure(child, bytes, extended, depth + 1))
            .collect();
        if let Ok(bodies) = NonEmptyVec::try_from(bodies) {
            return BodyStructure::Multi {
                bodies,
                subtype: istring(&part.subtype),
                extension_data: extended.then(|| MultiPartExtensionData {
                    parameter_list: parameters(&part.parameters),
                    tail: Some(disposition(part)),
                }),
            };
        }
    }
    let size = u32::try_from(part.body.len()).unwrap_or(u32::MAX);
    let specific = match (&part.content, part.media_type.as_str()) {
        (PartContent::Message(inner), "message") if depth < MAX_DEPTH => SpecificFields::Message {
            envelope: Box::new(envelope(slice(
                bytes,
                &(inner.header.start..inner.body.end),
            ))),
            body_structure: Box::new(body_structure(inner, bytes, extended, depth + 1)),
            number_of_lines: part.body_lines(bytes),
        },
        (_, "text") => SpecificFields::Text {
            subtype: istring(&part.subtype),
            number_of_lines: part.body_lines(bytes),
        },
        (_, media_type) => SpecificFields::Basic {
            r#type: istring(media_type),
            subtype: istring(&part.subtype),
        },
    };
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: parameters(&part.parameters),
                id: nstring(part.id.as_deref()),
                description: nstring(part.description.as_deref()),
                content_transfer_encoding: istring(part.encoding.as_deref().unwrap_or("7BIT")),
                size,
            },
            specific,
        },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: NString(None),
            tail: Some(disposition(part)),
        }),
    }
}

fn addresses(address: Option<&mail_parser::Address<'_>>) -> Vec<Address<'static>> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .map(|addr| {
            let (mailbox, host) = match addr.address.as_deref() {
                Some(full) => match full.rsplit_once('@') {
                    Some((local, domain)) => (Some(local), Some(domain)),
                    None => (Some(full), None),
                },
                None => (None, None),
            };
            Address {
                name: nstring(addr.name.as_deref()),
                adl: NString(None),
                mailbox: nstring(mailbox),
                host: nstring(host),
            }
        })
        .collect()
}

/// ENVELOPE of a message (RFC 3501 §7.4.2): date, subject and message ids as written, the
/// address lists parsed.
fn envelope(bytes: &[u8]) -> Envelope<'static> {
    let Some(message) = MessageParser::default().parse(bytes) else {
        return Envelope {
            date: NString(None),
            subject: NString(None),
            from: Vec::new(),
            sender: Vec::new(),
            reply_to: Vec::new(),
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            in_reply_to: NString(None),
            message_id: NString(None),
        };
    };
    let raw = |name: &'static str| message.header_raw(name).map(str::trim);
    let from = addresses(message.from());
    let or_from = |list: Vec<Address<'static>>| if list.is_empty() { from.clone() } else { list };
    Envelope {
        date: nstring(raw("Date")),
        subject: nstring(raw("Subject")),
        sender: or_from(addresses(message.sender())),
        reply_to: or_from(addresses(message.reply_to())),
        from: from.clone(),
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        bcc: addresses(message.bcc()),
        in_reply_to: nstring(raw("In-Reply-To")),
        message_id: nstring(raw("Message-ID")),
    }
}
