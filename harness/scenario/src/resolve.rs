//! Level two: from the file's shape to a typed scenario, with every name resolved.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use clients::compose::Order;
use clients::faults::{SendFault, TransitChange};
use clients::{Persona, SignForm, Strength};
use km::{Product, ServicePack};
use model::{
    CaName, Duration, HostName, KmName, MailAddress, Named, Outcome, SiteName, Timestamp, UserName,
    named,
};
use pki::{CaClass, PolicyModule, SignatureHash, ValidityPeriod, ValiditySetting};
use smime::{Cipher, Digest, IdentifierKind};

use crate::diagnostics::{Diagnostic, locate};
use crate::file::{RawScenario, RawStep, RawTable, Spanned};
use crate::types::{
    Action, CaRole, CaSpec, Expectation, Folder, Host, InstalledPart, KmSpec, Os, Scenario,
    SendStep, Step, TokenChoice, Topology, UserSpec,
};

/// `type` of a CA in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaType {
    Root,
    Subordinate,
}
named!(CaType { Root => "root", Subordinate => "subordinate" });

/// `product` of a KM server in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProductName {
    Ex55,
    Ex2000,
}
named!(ProductName { Ex55 => "ex55", Ex2000 => "ex2000" });

/// The only language version this kmlab reads.
pub const LANGUAGE_VERSION: i64 = 1;

struct Resolver<'a> {
    source: &'a str,
    problems: &'a mut Vec<Diagnostic>,
}

impl Resolver<'_> {
    fn problem(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.problems.push(Diagnostic::new(span, message));
    }

    fn problem_with_help(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.problems
            .push(Diagnostic::new(span, message).with_help(help));
    }

    /// The value named `value`, or a report listing the names.
    fn choose<T: Named>(&mut self, value: &Spanned<&str>, what: &str) -> Option<T> {
        let chosen = T::from_name(value.value);
        if chosen.is_none() {
            self.problem_with_help(
                value.span.clone(),
                format!("unknown {what} `{}`", value.value),
                format!("expected one of: {}", T::names()),
            );
        }
        chosen
    }

    /// `Some(None)` when `key` is absent, `Some(Some(value))` when it names a value, `None`
    /// (reported) when it names nothing.
    fn optional<T: Named>(&mut self, table: &RawTable, key: &str, what: &str) -> Option<Option<T>> {
        match table.text(key) {
            Some(value) => self.choose(&value, what).map(Some),
            None => Some(None),
        }
    }

    fn optional_or<T: Named>(
        &mut self,
        table: &RawTable,
        key: &str,
        what: &str,
        default: T,
    ) -> Option<T> {
        self.optional(table, key, what)
            .map(|value| value.unwrap_or(default))
    }

    fn duration(&mut self, value: &Spanned<&str>) -> Option<Duration> {
        match value.value.parse() {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.problem(
                    value.span.clone(),
                    format!("`{}` is not a duration: {error}", value.value),
                );
                None
            }
        }
    }

    /// Reports every name that appears twice in a section.
    fn unique_names(&mut self, tables: &[RawTable], section: &str) {
        let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
        for table in tables {
            if let Some(name) = table.text("name") {
                if seen.insert(name.value, ()).is_some() {
                    self.problem(
                        name.span.clone(),
                        format!("a {section} named `{}` is already defined", name.value),
                    );
                }
            }
        }
    }

    /// Reports a reference to a name that the section does not define.
    fn reference(&mut self, value: &Spanned<&str>, section: &str, defined: &[String]) -> bool {
        if defined.iter().any(|name| name == value.value) {
            return true;
        }
        let help = if defined.is_empty() {
            format!("the scenario defines no {section}")
        } else {
            format!("defined: {}", defined.join(", "))
        };
        self.problem_with_help(
            value.span.clone(),
            format!("no {section} named `{}`", value.value),
            help,
        );
        false
    }
}

fn names_of(tables: &[RawTable]) -> Vec<String> {
    tables
        .iter()
        .filter_map(|table| table.text("name").map(|name| name.value.to_owned()))
        .collect()
}

/// Resolves level one into a scenario, or leaves every problem in `problems`.
pub(crate) fn resolve(
    raw: &RawScenario,
    id: &str,
    path: &Path,
    source: &str,
    problems: &mut Vec<Diagnostic>,
) -> Option<Scenario> {
    let mut r = Resolver { source, problems };
    let empty = Vec::new();
    let section = |name: &str| raw.sections.get(name).unwrap_or(&empty);

    if let Some(version) = raw.header.integer("version") {
        if version.value != LANGUAGE_VERSION {
            r.problem_with_help(
                version.span,
                format!(
                    "scenario language version {} is not supported",
                    version.value
                ),
                format!("this kmlab reads version {LANGUAGE_VERSION}"),
            );
        }
    }
    let mut covers = Vec::new();
    for rule in raw.header.names("covers") {
        match model::rules::find(&rule.value) {
            Some(found) => covers.push(found),
            None => r.problem_with_help(
                rule.span,
                format!("unknown rule ID `{}`", rule.value),
                "`kmlab rules` lists the catalogue",
            ),
        }
    }
    let seed = match raw.header.integer("seed") {
        None => 1,
        Some(seed) => u64::try_from(seed.value).unwrap_or_else(|_| {
            r.problem(seed.span, "the seed must not be negative");
            0
        }),
    };
    let start = match raw.header.text("start") {
        None => Timestamp::DEFAULT_START,
        Some(text) => text.value.parse().unwrap_or_else(|error| {
            r.problem(text.span, format!("`{}`: {error}", text.value));
            Timestamp::DEFAULT_START
        }),
    };
    let (organisation, mail_domain) = match &raw.organisation {
        Some(table) => (
            table
                .text("name")
                .map(|n| n.value.to_owned())
                .unwrap_or_default(),
            table
                .text("mail_domain")
                .map(|n| n.value.to_owned())
                .unwrap_or_default(),
        ),
        None => {
            r.problem_with_help(
                0..0,
                "missing [organisation]",
                "add [organisation] with `name` and `mail_domain`",
            );
            (String::new(), String::new())
        }
    };

    for name in ["site", "host", "ca", "km_server", "user"] {
        r.unique_names(section(name), name);
    }
    let site_names = names_of(section("site"));
    let host_names = names_of(section("host"));
    let ca_names = names_of(section("ca"));
    let km_names = names_of(section("km_server"));
    let user_names = names_of(section("user"));

    let sites = site_names.iter().map(SiteName::new).collect();
    let hosts = section("host")
        .iter()
        .filter_map(|table| resolve_host(&mut r, table))
        .collect();
    let cas = resolve_cas(&mut r, section("ca"), &host_names, &ca_names);
    let km_servers: Vec<KmSpec> = section("km_server")
        .iter()
        .filter_map(|table| resolve_km(&mut r, table, &host_names, &site_names, &ca_names))
        .collect();
    let users: Vec<UserSpec> = section("user")
        .iter()
        .filter_map(|table| resolve_user(&mut r, table, &site_names, &mail_domain))
        .collect();

    let context = StepContext {
        km_names: &km_names,
        user_names: &user_names,
        km_servers: &km_servers,
        users: &users,
    };
    let mut steps = Vec::new();
    for (index, raw_step) in raw.steps.iter().enumerate() {
        if let Some(step) = resolve_step(&mut r, raw_step, index + 1, &context) {
            steps.push(step);
        }
    }
    if !r.problems.is_empty() {
        return None;
    }
    Some(Scenario {
        id: id.to_owned(),
        path: path.to_path_buf(),
        title: raw
            .header
            .text("title")
            .map(|t| t.value.to_owned())
            .unwrap_or_default(),
        description: raw.header.text("description").map(|t| t.value.to_owned()),
        covers,
        seed,
        start,
        topology: Topology {
            organisation,
            mail_domain,
            sites,
            hosts,
            cas,
            km_servers,
            users,
        },
        steps,
    })
}

fn resolve_host(r: &mut Resolver<'_>, table: &RawTable) -> Option<Host> {
    let name = table.text("name")?;
    let os: Os = r.choose(&table.text("os")?, "operating system")?;
    let mut installed = Vec::new();
    for part in table.names("installed") {
        let value = part.value.as_str();
        let known = match value {
            "certificate-services" => Some(InstalledPart::CertificateServices),
            "web-enrollment-support" => Some(InstalledPart::WebEnrollmentSupport),
            fix if fix.len() > 1
                && fix.starts_with('Q')
                && fix[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(InstalledPart::Fix(fix.to_owned()))
            }
            _ => None,
        };
        match known {
            Some(part) => installed.push(part),
            None => r.problem_with_help(
                part.span,
                format!("unknown installed part `{value}`"),
                "expected certificate-services, web-enrollment-support or a fix such as Q262288",
            ),
        }
    }
    Some(Host {
        name: HostName::new(name.value),
        os,
        domain: table.text("domain")?.value.to_owned(),
        installed,
    })
}

fn resolve_cas(
    r: &mut Resolver<'_>,
    tables: &[RawTable],
    hosts: &[String],
    cas: &[String],
) -> Vec<CaSpec> {
    let mut resolved = Vec::new();
    for table in tables {
        let Some(name) = table.text("name") else {
            continue;
        };
        let host = table.text("host");
        let host_ok = host
            .as_ref()
            .is_some_and(|host| r.reference(host, "host", hosts));
        let class = r.optional_or(table, "class", "CA class", CaClass::Standalone);
        let is_subordinate = r
            .optional_or(table, "type", "CA type", CaType::Root)
            .map(|kind| kind == CaType::Subordinate);
        let parent = table.text("parent");
        let role = match (is_subordinate, &parent) {
            (Some(false), None) => Some(CaRole::Root),
            (Some(false), Some(parent)) => {
                r.problem_with_help(
                    parent.span.clone(),
                    "a root CA has no parent",
                    "remove `parent`, or set type = \"subordinate\"",
                );
                None
            }
            (Some(true), None) => {
                r.problem_with_help(
                    table.span.clone(),
                    format!("subordinate CA `{}` has no parent", name.value),
                    "add parent = \"<the signing CA>\"",
                );
                None
            }
            (Some(true), Some(parent)) => {
                if parent.value == name.value {
                    r.problem(
                        parent.span.clone(),
                        format!("CA `{}` cannot be its own parent", name.value),
                    );
                    None
                } else if r.reference(parent, "CA", cas) {
                    Some(CaRole::Subordinate {
                        parent: CaName::new(parent.value),
                    })
                } else {
                    None
                }
            }
            (None, _) => None,
        };
        let policy = r.optional_or(
            table,
            "policy_module",
            "policy module",
            PolicyModule::Standard,
        );
        let period = r.optional_or(
            table,
            "validity_period",
            "validity period",
            ValidityPeriod::Years,
        );
        let units = match table.integer("validity_units") {
            None => Some(1),
            Some(units) => match u32::try_from(units.value) {
                Ok(units) if units > 0 => Some(units),
                _ => {
                    r.problem(units.span, "validity_units must be a positive whole number");
                    None
                }
            },
        };
        let lifetime = match table.text("lifetime") {
            None => Some(Duration::years(2)),
            Some(text) => r.duration(&text),
        };
        let hash = r.optional_or(table, "hash", "hash", SignatureHash::Sha256);
        if let (
            true,
            Some(host),
            Some(class),
            Some(role),
            Some(policy),
            Some(period),
            Some(units),
            Some(lifetime),
            Some(hash),
        ) = (
            host_ok, host, class, role, policy, period, units, lifetime, hash,
        ) {
            resolved.push(CaSpec {
                name: CaName::new(name.value),
                host: HostName::new(host.value),
                class,
                role,
                policy,
                validity: ValiditySetting { period, units },
                lifetime,
                hash,
            });
        }
    }
    order_parents_first(r, resolved, tables)
}

/// Orders CAs so that every parent comes before its children; reports cycles.
fn order_parents_first(
    r: &mut Resolver<'_>,
    mut pending: Vec<CaSpec>,
    tables: &[RawTable],
) -> Vec<CaSpec> {
    let mut ordered: Vec<CaSpec> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|ca| match &ca.role {
            CaRole::Root => true,
            CaRole::Subordinate { parent } => ordered.iter().any(|done| &done.name == parent),
        });
        match ready {
            Some(index) => ordered.push(pending.remove(index)),
            None => {
                for ca in &pending {
                    let span = tables
                        .iter()
                        .find(|table| {
                            table
                                .text("name")
                                .is_some_and(|name| name.value == ca.name.as_str())
                        })
                        .and_then(|table| table.text("parent").map(|parent| parent.span))
                        .unwrap_or(0..0);
                    r.problem_with_help(
                        span,
                        format!(
                            "CA `{}` is in a cycle of parents or under a CA that was not defined",
                            ca.name
                        ),
                        "every chain of `parent` must end at a root CA",
                    );
                }
                break;
            }
        }
    }
    ordered
}

fn resolve_km(
    r: &mut Resolver<'_>,
    table: &RawTable,
    hosts: &[String],
    sites: &[String],
    cas: &[String],
) -> Option<KmSpec> {
    let name = table.text("name")?;
    let host = table.text("host")?;
    let site = table.text("site")?;
    let ca = table.text("ca")?;
    let references_ok = [
        r.reference(&host, "host", hosts),
        r.reference(&site, "site", sites),
        r.reference(&ca, "CA", cas),
    ];
    let product: ProductName = r.choose(&table.text("product")?, "product")?;
    let service_pack = r.optional_or(table, "service_pack", "service pack", ServicePack::Sp3)?;
    if product == ProductName::Ex2000 {
        if let Some(sp) = table.text("service_pack") {
            r.problem(sp.span, "service_pack applies to ex55 only");
        }
    }
    if references_ok.contains(&false) {
        return None;
    }
    Some(KmSpec {
        name: KmName::new(name.value),
        host: HostName::new(host.value),
        product: match product {
            ProductName::Ex55 => Product::Ex55(service_pack),
            ProductName::Ex2000 => Product::Ex2000,
        },
        site: SiteName::new(site.value),
        ca: CaName::new(ca.value),
        startup_password: table
            .text("startup_password")
            .map_or("startup".to_owned(), |p| p.value.to_owned()),
    })
}

fn resolve_user(
    r: &mut Resolver<'_>,
    table: &RawTable,
    sites: &[String],
    mail_domain: &str,
) -> Option<UserSpec> {
    let name = table.text("name")?;
    let site = table.text("site")?;
    let site_ok = r.reference(&site, "site", sites);
    let client = table.text("client")?;
    let persona: Persona = r.choose(&client, "client")?;
    let strength = r.optional_or(table, "strength", "strength", Strength::High)?;
    let profile = persona.profile();
    if profile.smime_encryption && profile.sending_ciphers(strength).is_empty() {
        if let Some(value) = table.text("strength") {
            r.problem_with_help(
                value.span,
                format!("{} has no {} build", profile.name, value.value),
                "its ciphers are all stronger than 40 bits; remove `strength`",
            );
        }
        return None;
    }
    let email = match table.text("email") {
        Some(email) if email.value.contains('@') && !email.value.contains(char::is_whitespace) => {
            email.value.to_owned()
        }
        Some(email) => {
            r.problem(
                email.span,
                format!("`{}` is not an e-mail address", email.value),
            );
            return None;
        }
        None => format!("{}@{mail_domain}", name.value),
    };
    site_ok.then(|| UserSpec {
        name: UserName::new(name.value),
        site: SiteName::new(site.value),
        persona,
        strength,
        email: MailAddress::new(email),
    })
}

struct StepContext<'a> {
    km_names: &'a [String],
    user_names: &'a [String],
    km_servers: &'a [KmSpec],
    users: &'a [UserSpec],
}

fn resolve_step(
    r: &mut Resolver<'_>,
    raw: &RawStep,
    number: usize,
    context: &StepContext<'_>,
) -> Option<Step> {
    let spec = raw.action.as_ref()?;
    let table = &raw.table;
    let line = locate(r.source, raw.span.start).line;
    let user = |r: &mut Resolver<'_>, key: &str| -> Option<UserName> {
        let value = table.text(key)?;
        r.reference(&value, "user", context.user_names)
            .then(|| UserName::new(value.value))
    };
    // The KM server a step names, or the one serving the user's site.
    let km_for = |r: &mut Resolver<'_>, user: Option<&UserName>| -> Option<KmName> {
        if let Some(value) = table.text("km_server") {
            return r
                .reference(&value, "KM server", context.km_names)
                .then(|| KmName::new(value.value));
        }
        let user = user?;
        let site = &context.users.iter().find(|spec| &spec.name == user)?.site;
        match context.km_servers.iter().find(|km| &km.site == site) {
            Some(km) => Some(km.name.clone()),
            None => {
                r.problem_with_help(
                    raw.span.clone(),
                    format!("no KM server serves site `{site}` of user `{user}`"),
                    "name one with km_server = \"…\"",
                );
                None
            }
        }
    };
    let action = match spec.value.name {
        "clock" => Action::Clock {
            advance: r.duration(&table.text("advance")?)?,
        },
        "enable-v3" => {
            let km = table.text("km_server")?;
            r.reference(&km, "KM server", context.km_names)
                .then_some(())?;
            Action::EnableV3 {
                km: KmName::new(km.value),
            }
        }
        "enable-user" => {
            let user = user(r, "user")?;
            Action::EnableUser {
                km: km_for(r, Some(&user))?,
                user,
            }
        }
        "enroll" => {
            let user = user(r, "user")?;
            let token = r.optional_or(table, "token", "token choice", TokenChoice::Issued)?;
            Action::Enroll {
                km: km_for(r, Some(&user))?,
                user,
                token,
            }
        }
        "send" => {
            let from = user(r, "from");
            let mut to = Vec::new();
            let mut to_ok = true;
            for name in table.names("to") {
                let value = Spanned {
                    value: name.value.as_str(),
                    span: name.span.clone(),
                };
                if r.reference(&value, "user", context.user_names) {
                    to.push(UserName::new(name.value.as_str()));
                } else {
                    to_ok = false;
                }
            }
            if to.is_empty() && to_ok {
                r.problem(
                    table.span.clone(),
                    "a message needs at least one recipient in `to`",
                );
                to_ok = false;
            }
            let sign: Option<Option<SignForm>> = r.optional(table, "sign", "signing form");
            let cipher: Option<Option<Cipher>> = r.optional(table, "cipher", "cipher");
            let digest: Option<Option<Digest>> = r.optional(table, "digest", "digest");
            let order = r.optional_or(table, "order", "layer order", Order::SignThenEncrypt);
            let identifier: Option<Option<IdentifierKind>> =
                r.optional(table, "identifier", "identifier kind");
            let fault: Option<Option<SendFault>> = r.optional(table, "fault", "client fault");
            let encrypt = table.flag("encrypt").unwrap_or(false);
            if let (Some(Some(_)), false) = (&cipher, encrypt) {
                if let Some(value) = table.text("cipher") {
                    r.problem_with_help(
                        value.span,
                        "a cipher is given but the message is not encrypted",
                        "add encrypt = true",
                    );
                }
            }
            let (
                Some(from),
                true,
                Some(sign),
                Some(cipher),
                Some(digest),
                Some(subject),
                Some(order),
                Some(identifier),
                Some(fault),
            ) = (
                from,
                to_ok,
                sign,
                cipher,
                digest,
                table.text("subject"),
                order,
                identifier,
                fault,
            )
            else {
                return None;
            };
            Action::Send(SendStep {
                from,
                to,
                subject: subject.value.to_owned(),
                body: table.text("body").map(|b| b.value.to_owned()),
                sign,
                encrypt,
                cipher,
                digest,
                order,
                identifier,
                fault,
            })
        }
        "read" => {
            let user = user(r, "user")?;
            let folder = r.optional_or(table, "folder", "folder", Folder::Inbox)?;
            Action::Read {
                user,
                subject: table.text("subject")?.value.to_owned(),
                folder,
            }
        }
        "alter-message" => {
            let user = user(r, "user");
            let change = r.choose::<TransitChange>(&table.text("change")?, "transit change");
            Action::AlterMessage {
                user: user?,
                subject: table.text("subject")?.value.to_owned(),
                change: change?,
            }
        }
        "smtp-fault" => Action::SmtpFault(resolve_fault(r, table, context)?),
        "interop-matrix" => {
            let mut users = Vec::new();
            for name in table.names("users") {
                let value = Spanned {
                    value: name.value.as_str(),
                    span: name.span.clone(),
                };
                if r.reference(&value, "user", context.user_names) {
                    users.push(UserName::new(name.value.as_str()));
                }
            }
            if table.names("users").is_empty() {
                users = context.users.iter().map(|user| user.name.clone()).collect();
            }
            Action::InteropMatrix { users }
        }
        "smtp-session" => Action::SmtpSession {
            input: table.text("input")?.value.as_bytes().to_vec(),
        },
        other => {
            r.problem(
                spec.span.clone(),
                format!("action `{other}` is not implemented"),
            );
            return None;
        }
    };
    let expect = raw.expect.as_ref().map(|raw_expect| {
        let outcome = raw_expect.outcome.as_ref().and_then(|outcome| {
            match outcome.value.parse::<Outcome>() {
                Ok(parsed) => Some(parsed),
                Err(error) => {
                    r.problem(
                        outcome.span.clone(),
                        format!("unknown outcome `{}`: {error}", outcome.value),
                    );
                    None
                }
            }
        });
        Expectation {
            outcome,
            reason: raw_expect
                .reason
                .as_ref()
                .map(|reason| reason.value.clone()),
            details: raw_expect
                .details
                .iter()
                .map(|(key, value)| (key.value.clone(), value.value.clone()))
                .collect(),
        }
    });
    Some(Step {
        number,
        line,
        action,
        expect,
    })
}

/// An `smtp-fault` step: exactly one trigger, and a code or a drop.
fn resolve_fault(
    r: &mut Resolver<'_>,
    table: &RawTable,
    context: &StepContext<'_>,
) -> Option<sink::Fault> {
    let message = table.integer("message");
    let recipient = table.text("recipient");
    let command = table.text("command");
    let given = [message.is_some(), recipient.is_some(), command.is_some()]
        .iter()
        .filter(|given| **given)
        .count();
    if given != 1 {
        r.problem_with_help(
            table.span.clone(),
            "an smtp-fault needs exactly one of `message`, `recipient` and `command`",
            "e.g. message = 1 for the next message",
        );
        return None;
    }
    let drop = table.flag("drop").unwrap_or(false);
    let code = table.integer("code");
    let effect = match (drop, &code) {
        (true, None) if message.is_some() => sink::Effect::Drop,
        (true, _) => {
            r.problem_with_help(
                table.span.clone(),
                "`drop` goes with `message` alone, without `code`",
                "a connection is dropped in the middle of a message's data",
            );
            return None;
        }
        (false, Some(code)) => match u16::try_from(code.value) {
            Ok(value) if sink::faults::FAULT_CODES.contains(&value) => sink::Effect::Reply(value),
            _ => {
                r.problem_with_help(
                    code.span.clone(),
                    format!("{} is not a scriptable reply code", code.value),
                    "use 421, 451, 452, 550 or 552",
                );
                return None;
            }
        },
        (false, None) => {
            r.problem_with_help(
                table.span.clone(),
                "an smtp-fault needs a `code` or `drop = true`",
                "e.g. code = 451",
            );
            return None;
        }
    };
    let trigger = if let Some(message) = message {
        match u32::try_from(message.value) {
            Ok(n) if n > 0 => sink::Trigger::Message(n),
            _ => {
                r.problem(message.span, "`message` counts from 1");
                return None;
            }
        }
    } else if let Some(recipient) = recipient {
        if !r.reference(&recipient, "user", context.user_names) {
            return None;
        }
        let email = context
            .users
            .iter()
            .find(|user| user.name.as_str() == recipient.value)?
            .email
            .to_string();
        sink::Trigger::Recipient(email)
    } else {
        let command = command?;
        sink::Trigger::Command(command.value.to_ascii_uppercase())
    };
    let times = match table.integer("times") {
        None => 1,
        Some(times) => match u32::try_from(times.value) {
            Ok(n) if n > 0 => n,
            _ => {
                r.problem(times.span, "`times` must be a positive whole number");
                return None;
            }
        },
    };
    Some(sink::Fault {
        trigger,
        effect,
        times,
    })
}
