//! The read-only LDAPv3 directory: a sans-IO session that answers binds and searches from the
//! directory's snapshot of the moment.

use bytes::BytesMut;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapExtendedResponse, LdapFilter, LdapMsg, LdapOp,
    LdapPartialAttribute, LdapResult, LdapResultCode, LdapSearchRequest, LdapSearchResultEntry,
    LdapSearchScope, LdapSubstringFilter,
};
use ldap3_proto::{DisconnectionNotice, LdapCodec};
use tokio_util::codec::{Decoder, Encoder};

use crate::Output;
use crate::directory::{Directory, DirectorySnapshot, smime_certificate_bundle};
use crate::store::{Event, Mailboxes, Protocol};

/// The object identifier of the StartTLS extended operation (RFC 4511 §4.14).
const START_TLS_OID: &str = "1.3.6.1.4.1.1466.20037";
/// The object identifier of the "Who am I?" extended operation (RFC 4532).
const WHO_AM_I_OID: &str = "1.3.6.1.4.1.4203.1.11.3";

/// What an LDAP session needs besides its input.
#[derive(Debug, Clone)]
pub struct LdapContext {
    /// The directory searched.
    pub directory: Directory,
    /// Checks bind passwords (a person's `uid` and the mail password are one login) and
    /// hears of binds.
    pub mailboxes: Mailboxes,
    /// Largest request accepted, in bytes.
    pub max_request: usize,
}

/// One LDAP connection, without the socket.
pub struct LdapSession {
    context: LdapContext,
    codec: LdapCodec,
    buffer: BytesMut,
    bound: Option<String>,
    closed: bool,
}

impl std::fmt::Debug for LdapSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSession")
            .field("buffered", &self.buffer.len())
            .field("bound", &self.bound)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl LdapSession {
    /// A new connection; LDAP servers send nothing first.
    pub fn new(context: LdapContext) -> Self {
        let codec = LdapCodec::new(Some(context.max_request), None);
        Self {
            context,
            codec,
            buffer: BytesMut::new(),
            bound: None,
            closed: false,
        }
    }

    /// The user the connection is bound as, if not anonymous.
    pub fn bound(&self) -> Option<&str> {
        self.bound.as_deref()
    }

    /// Feeds bytes the client sent; returns the replies.
    pub fn receive(&mut self, input: &[u8]) -> Output {
        let mut output = Output::default();
        if self.closed {
            output.close = true;
            return output;
        }
        self.buffer.extend_from_slice(input);
        loop {
            match self.codec.decode(&mut self.buffer) {
                Ok(Some(message)) => {
                    let replies = self.answer(message);
                    for reply in replies {
                        let mut encoded = BytesMut::new();
                        if self.codec.encode(reply, &mut encoded).is_err() {
                            self.closed = true;
                            break;
                        }
                        output.bytes.extend_from_slice(&encoded);
                    }
                    if self.closed {
                        output.close = true;
                        return output;
                    }
                }
                Ok(None) => return output,
                Err(_) => {
                    let notice = DisconnectionNotice::gen_response(
                        LdapResultCode::ProtocolError,
                        "malformed request",
                    );
                    let mut encoded = BytesMut::new();
                    if self.codec.encode(notice, &mut encoded).is_ok() {
                        output.bytes.extend_from_slice(&encoded);
                    }
                    self.closed = true;
                    output.close = true;
                    return output;
                }
            }
        }
    }

    fn answer(&mut self, message: LdapMsg) -> Vec<LdapMsg> {
        let id = message.msgid;
        let reply = |op| LdapMsg {
            msgid: id,
            op,
            ctrl: Vec::new(),
        };
        match message.op {
            LdapOp::BindRequest(request) => {
                let result = self.bind(request.version, &request.dn, &request.cred);
                vec![reply(LdapOp::BindResponse(LdapBindResponse {
                    res: result,
                    saslcreds: None,
                }))]
            }
            LdapOp::UnbindRequest => {
                self.closed = true;
                Vec::new()
            }
            LdapOp::SearchRequest(request) => {
                let snapshot = self.context.directory.snapshot();
                let (entries, done) = search(&snapshot, &request);
                let mut replies: Vec<LdapMsg> = entries
                    .into_iter()
                    .map(|entry| reply(LdapOp::SearchResultEntry(entry)))
                    .collect();
                replies.push(reply(LdapOp::SearchResultDone(done)));
                replies
            }
            LdapOp::AbandonRequest(_) => Vec::new(),
            LdapOp::ExtendedRequest(request) => {
                let (res, value) = match request.name.as_str() {
                    WHO_AM_I_OID => (
                        result(LdapResultCode::Success, ""),
                        Some(
                            self.bound
                                .as_ref()
                                .map(|user| format!("u:{user}"))
                                .unwrap_or_default()
                                .into_bytes(),
                        ),
                    ),
                    START_TLS_OID => (
                        result(
                            LdapResultCode::ProtocolError,
                            "StartTLS is not offered on this port",
                        ),
                        None,
                    ),
                    _ => (
                        result(
                            LdapResultCode::ProtocolError,
                            "unsupported extended operation",
                        ),
                        None,
                    ),
                };
                vec![reply(LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res,
                    name: None,
                    value,
                }))]
            }
            LdapOp::CompareRequest(request) => {
                let snapshot = self.context.directory.snapshot();
                let code = match directory_objects(&snapshot)
                    .into_iter()
                    .find(|object| same_dn(&object.dn, &request.dn))
                {
                    None => LdapResultCode::NoSuchObject,
                    Some(object) => {
                        let holds = object.values(&request.atype).is_some_and(|values| {
                            values
                                .iter()
                                .any(|v| value_matches(&request.atype, v, &request.val))
                        });
                        if holds {
                            LdapResultCode::CompareTrue
                        } else {
                            LdapResultCode::CompareFalse
                        }
                    }
                };
                vec![reply(LdapOp::CompareResult(result(code, "")))]
            }
            LdapOp::ModifyRequest(_) => vec![reply(LdapOp::ModifyResponse(read_only()))],
            LdapOp::AddRequest(_) => vec![reply(LdapOp::AddResponse(read_only()))],
            LdapOp::DelRequest(_) => vec![reply(LdapOp::DelResponse(read_only()))],
            LdapOp::ModifyDNRequest(_) => vec![reply(LdapOp::ModifyDNResponse(read_only()))],
            // Responses are not requests: a client sending one is confused beyond answering.
            _ => {
                self.closed = true;
                vec![DisconnectionNotice::gen_response(
                    LdapResultCode::ProtocolError,
                    "not a request",
                )]
            }
        }
    }

    fn bind(&mut self, version: i64, dn: &str, cred: &LdapBindCred) -> LdapResult {
        if version != 3 && version != 2 {
            return result(LdapResultCode::ProtocolError, "only LDAPv3 is spoken");
        }
        let password = match cred {
            LdapBindCred::Simple(password) => password,
            _ => {
                return result(
                    LdapResultCode::AuthMethodNotSupported,
                    "only simple binds are offered",
                );
            }
        };
        if password.is_empty() {
            // RFC 4513 §5.1.2: an empty password is an unauthenticated bind, allowed as
            // anonymous.
            self.bound = None;
            return result(LdapResultCode::Success, "");
        }
        let snapshot = self.context.directory.snapshot();
        let named = snapshot
            .entries
            .iter()
            .find(|entry| same_dn(&entry.dn(&snapshot.base), dn))
            .map(|entry| entry.uid.clone())
            .or_else(|| uid_in_dn(dn));
        let user = match named {
            Some(uid) => self
                .context
                .mailboxes
                .authenticate(&uid, password)
                .then_some(uid),
            // Any other DN binds with any live user's password.
            None => snapshot
                .entries
                .iter()
                .find(|entry| self.context.mailboxes.authenticate(&entry.uid, password))
                .map(|entry| entry.uid.clone()),
        };
        match user {
            Some(user) => {
                self.context.mailboxes.observer.observe(Event::LoggedIn {
                    user: user.clone(),
                    protocol: Protocol::Ldap,
                });
                self.bound = Some(user);
                result(LdapResultCode::Success, "")
            }
            None => {
                self.bound = None;
                result(LdapResultCode::InvalidCredentials, "invalid credentials")
            }
        }
    }
}

/// Drives one LDAP session over `input` (all the bytes a client sent) and returns everything
/// the server answered; for fuzzing and tests.
pub fn ldap_exchange(context: LdapContext, input: &[u8]) -> Vec<u8> {
    let mut session = LdapSession::new(context);
    session.receive(input).bytes
}

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.to_owned(),
        referral: Vec::new(),
    }
}

fn read_only() -> LdapResult {
    result(
        LdapResultCode::UnwillingToPerform,
        "the directory is read-only",
    )
}

/// `x` from a DN that starts `uid=x,`.
fn uid_in_dn(dn: &str) -> Option<String> {
    let first = dn.split(',').next()?;
    let (attribute, value) = first.split_once('=')?;
    attribute
        .trim()
        .eq_ignore_ascii_case("uid")
        .then(|| value.trim().to_owned())
}

/// A DN in a comparable form: lowercase, without spaces around separators.
fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            rdn.split('=')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("=")
                .to_lowercase()
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn same_dn(a: &str, b: &str) -> bool {
    normalize_dn(a) == normalize_dn(b)
}

/// One object in the published tree.
#[derive(Debug)]
struct DirectoryObject {
    dn: String,
    attributes: Vec<(&'static str, Vec<Vec<u8>>)>,
}

impl DirectoryObject {
    fn values(&self, name: &str) -> Option<&Vec<Vec<u8>>> {
        let wanted = base_attribute(name);
        self.attributes
            .iter()
            .find(|(attribute, _)| base_attribute(attribute).eq_ignore_ascii_case(wanted))
            .map(|(_, values)| values)
    }
}

/// An attribute description without its options (`userCertificate;binary` →
/// `userCertificate`).
fn base_attribute(name: &str) -> &str {
    name.split(';').next().unwrap_or(name)
}

fn text(values: &[&str]) -> Vec<Vec<u8>> {
    values.iter().map(|v| v.as_bytes().to_vec()).collect()
}

/// The organisation, one unit per site, and the people, in that order.
fn directory_objects(snapshot: &DirectorySnapshot) -> Vec<DirectoryObject> {
    let mut objects = Vec::new();
    let first_rdn = snapshot.base.split(',').next().unwrap_or_default();
    let (rdn_type, rdn_value) = first_rdn.split_once('=').unwrap_or(("o", first_rdn));
    let organisation_class = if rdn_type.trim().eq_ignore_ascii_case("dc") {
        "dcObject"
    } else {
        "organization"
    };
    let rdn_attribute: &'static str = if rdn_type.trim().eq_ignore_ascii_case("dc") {
        "dc"
    } else {
        "o"
    };
    objects.push(DirectoryObject {
        dn: snapshot.base.clone(),
        attributes: vec![
            ("objectClass", text(&["top", organisation_class])),
            (rdn_attribute, text(&[rdn_value.trim()])),
        ],
    });
    let mut sites: Vec<&str> = snapshot.entries.iter().map(|e| e.site.as_str()).collect();
    sites.sort_unstable();
    sites.dedup();
    for site in sites {
        objects.push(DirectoryObject {
            dn: format!("ou={},{}", site, snapshot.base),
            attributes: vec![
                ("objectClass", text(&["top", "organizationalUnit"])),
                ("ou", text(&[site])),
            ],
        });
    }
    for entry in &snapshot.entries {
        let mut attributes = vec![
            (
                "objectClass",
                text(&["top", "person", "organizationalPerson", "inetOrgPerson"]),
            ),
            ("cn", text(&[&entry.common_name])),
            (
                "sn",
                text(&[entry
                    .common_name
                    .rsplit(' ')
                    .next()
                    .unwrap_or(&entry.common_name)]),
            ),
            ("uid", text(&[&entry.uid])),
            ("mail", text(&[&entry.mail])),
            ("ou", text(&[&entry.site])),
        ];
        if !entry.certificates.is_empty() {
            attributes.push((
                "userCertificate;binary",
                entry
                    .certificates
                    .iter()
                    .map(|c| c.as_bytes().to_vec())
                    .collect(),
            ));
            // A certificate that does not decode still goes out as userCertificate, where a
            // client can see what it is; the bundle needs every one whole.
            if let Ok(bundle) = smime_certificate_bundle(&entry.certificates) {
                attributes.push(("userSMIMECertificate", vec![bundle]));
            }
        }
        objects.push(DirectoryObject {
            dn: entry.dn(&snapshot.base),
            attributes,
        });
    }
    objects
}

/// The root DSE (RFC 4512 §5.1).
fn root_dse(snapshot: &DirectorySnapshot) -> DirectoryObject {
    DirectoryObject {
        dn: String::new(),
        attributes: vec![
            ("objectClass", text(&["top"])),
            ("namingContexts", text(&[&snapshot.base])),
            ("supportedLDAPVersion", text(&["3"])),
            ("supportedExtension", text(&[WHO_AM_I_OID])),
            ("vendorName", text(&["kmlab"])),
        ],
    }
}

/// The RDNs of a normalized DN, leaf first.
fn rdns(dn: &str) -> Vec<String> {
    let normalized = normalize_dn(dn);
    if normalized.is_empty() {
        Vec::new()
    } else {
        normalized.split(',').map(str::to_owned).collect()
    }
}

fn in_scope(object_dn: &str, base_dn: &str, scope: &LdapSearchScope) -> bool {
    let object = rdns(object_dn);
    let base = rdns(base_dn);
    if object.len() < base.len() || object[object.len() - base.len()..] != base[..] {
        return false;
    }
    let depth = object.len() - base.len();
    match scope {
        LdapSearchScope::Base => depth == 0,
        LdapSearchScope::OneLevel => depth == 1,
        LdapSearchScope::Subtree => true,
        LdapSearchScope::Children => depth >= 1,
    }
}

fn search(
    snapshot: &DirectorySnapshot,
    request: &LdapSearchRequest,
) -> (Vec<LdapSearchResultEntry>, LdapResult) {
    let objects = if request.base.trim().is_empty() && request.scope == LdapSearchScope::Base {
        vec![root_dse(snapshot)]
    } else {
        let objects = directory_objects(snapshot);
        if !objects.iter().any(|o| same_dn(&o.dn, &request.base)) {
            return (
                Vec::new(),
                result(LdapResultCode::NoSuchObject, "no such base object"),
            );
        }
        objects
    };
    let limit = usize::try_from(request.sizelimit)
        .ok()
        .filter(|limit| *limit > 0);
    let mut entries = Vec::new();
    for object in objects {
        let root = object.dn.is_empty();
        if !root && !in_scope(&object.dn, &request.base, &request.scope) {
            continue;
        }
        if !filter_matches(&request.filter, &object) {
            continue;
        }
        if limit.is_some_and(|limit| entries.len() >= limit) {
            return (
                entries,
                result(LdapResultCode::SizeLimitExceeded, "size limit exceeded"),
            );
        }
        entries.push(LdapSearchResultEntry {
            dn: object.dn.clone(),
            attributes: selected(&object, &request.attrs, request.typesonly),
        });
    }
    (entries, result(LdapResultCode::Success, ""))
}

/// The attributes a search asked for: all with none named or `*`, none with `1.1`; a name
/// without options selects the attribute with any options.
fn selected(
    object: &DirectoryObject,
    wanted: &[String],
    types_only: bool,
) -> Vec<LdapPartialAttribute> {
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "*");
    object
        .attributes
        .iter()
        .filter(|(name, _)| {
            all || wanted.iter().any(|w| {
                w.eq_ignore_ascii_case(name)
                    || base_attribute(w).eq_ignore_ascii_case(base_attribute(name))
            })
        })
        .map(|(name, values)| LdapPartialAttribute {
            atype: (*name).to_owned(),
            vals: if types_only {
                Vec::new()
            } else {
                values.clone()
            },
        })
        .collect()
}

/// Whether a stored value equals an asserted one: case-insensitively for the text
/// attributes, byte for byte for certificates.
fn value_matches(attribute: &str, stored: &[u8], asserted: &[u8]) -> bool {
    if is_binary(attribute) {
        stored == asserted
    } else {
        stored.eq_ignore_ascii_case(asserted)
    }
}

fn is_binary(attribute: &str) -> bool {
    let name = base_attribute(attribute);
    name.eq_ignore_ascii_case("userCertificate")
        || name.eq_ignore_ascii_case("userSMIMECertificate")
}

fn substring_matches(stored: &[u8], filter: &LdapSubstringFilter) -> bool {
    let value = String::from_utf8_lossy(stored).to_lowercase();
    let mut rest = value.as_str();
    if let Some(initial) = &filter.initial {
        let initial = initial.to_lowercase();
        match rest.strip_prefix(initial.as_str()) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    for any in &filter.any {
        let any = any.to_lowercase();
        match rest.find(any.as_str()) {
            Some(at) => rest = &rest[at + any.len()..],
            None => return false,
        }
    }
    match &filter.final_ {
        Some(last) => rest.ends_with(last.to_lowercase().as_str()),
        None => true,
    }
}

fn filter_matches(filter: &LdapFilter, object: &DirectoryObject) -> bool {
    match filter {
        LdapFilter::And(all) => all.iter().all(|f| filter_matches(f, object)),
        LdapFilter::Or(any) => any.iter().any(|f| filter_matches(f, object)),
        LdapFilter::Not(inner) => !filter_matches(inner, object),
        LdapFilter::Equality(attribute, value) | LdapFilter::Approx(attribute, value) => {
            object.values(attribute).is_some_and(|values| {
                values
                    .iter()
                    .any(|v| value_matches(attribute, v, value.as_bytes()))
            })
        }
        LdapFilter::Substring(attribute, substrings) => object
            .values(attribute)
            .is_some_and(|values| values.iter().any(|v| substring_matches(v, substrings))),
        LdapFilter::Present(attribute) => object.values(attribute).is_some(),
        LdapFilter::GreaterOrEqual(attribute, value) => {
            object.values(attribute).is_some_and(|values| {
                values
                    .iter()
                    .any(|v| v.to_ascii_lowercase() >= value.to_ascii_lowercase().into_bytes())
            })
        }
        LdapFilter::LessOrEqual(attribute, value) => {
            object.values(attribute).is_some_and(|values| {
                values
                    .iter()
                    .any(|v| v.to_ascii_lowercase() <= value.to_ascii_lowercase().into_bytes())
            })
        }
        LdapFilter::Extensible(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_tree() {
        assert!(in_scope(
            "cn=A,ou=HQ,o=Org",
            "o=org",
            &LdapSearchScope::Subtree
        ));
        assert!(!in_scope(
            "cn=A,ou=HQ,o=Org",
            "o=org",
            &LdapSearchScope::OneLevel
        ));
        assert!(in_scope(
            "cn=A,ou=HQ,o=Org",
            "ou=HQ, o=Org",
            &LdapSearchScope::OneLevel
        ));
        assert!(in_scope("o=Org", "o=Org", &LdapSearchScope::Base));
        assert!(!in_scope("o=Other", "o=Org", &LdapSearchScope::Subtree));
    }

    #[test]
    fn garbage_gets_a_notice_of_disconnection_not_a_panic() {
        let context = LdapContext {
            directory: Directory::new(DirectorySnapshot::empty("o=Org")),
            mailboxes: crate::store::test_mailboxes(
                &[],
                std::sync::Arc::new(crate::store::Unobserved),
            )
            .mailboxes,
            max_request: 1024,
        };
        for input in [
            &b"\x30\x03\x02\x01"[..],
            b"GET / HTTP/1.0\r\n\r\n",
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            let out = ldap_exchange(context.clone(), input);
            assert!(out.is_empty() || out.windows(22).any(|w| w == b"1.3.6.1.4.1.1466.20036"));
        }
    }

    #[test]
    fn substrings_match_in_order() {
        let filter = LdapSubstringFilter {
            initial: Some("Al".into()),
            any: vec!["c".into()],
            final_: Some("E".into()),
        };
        assert!(substring_matches(b"alice", &filter));
        assert!(!substring_matches(b"alec", &filter));
    }
}
