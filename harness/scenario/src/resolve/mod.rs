//! Level two: from the file's shape to a typed scenario, with every name resolved.

mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use clients::{Persona, Strength};
use km::{EnrollmentMode, Product, ServicePack};
use model::{
    CaName, Domain, DomainKind, Duration, Host, HostName, InstalledPart, KeyGeneration, KmName,
    MailAddress, Named, Os, SiteName, Timestamp, UserName, named,
};
use pki::{
    CaFault, CaKind, Csp, KeyOrigin, PolicyModule, SignatureHash, TemplatePermission,
    ValidityPeriod, ValiditySetting,
};

use crate::diagnostics::{Diagnostic, LineIndex};
use crate::file::{RawScenario, RawTable, Spanned};
use crate::types::{
    Action, CaInstall, CaRole, CaSpec, CertificateRef, KmSpec, Scenario, SeatSpec, Step, Topology,
    UserSpec,
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
    lines: LineIndex,
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

    /// Reports every name that appears twice in a section, and every name that could not be
    /// a file name: user, CA and KM server names become file and folder names in the
    /// artifacts and the run's working folder, so a name must not be able to reach outside
    /// them.
    fn check_names(&mut self, tables: &[RawTable], section: &str) {
        let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
        for table in tables {
            if let Some(name) = table.text("name") {
                if let Some(why) = model::file_name_problem(name.value) {
                    self.problem_with_help(
                        name.span.clone(),
                        format!("`{}` cannot be a {section} name: {why}", name.value),
                        "names become file names in the artifacts; use letters, digits, spaces, dashes",
                    );
                }
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
    fn reference(&mut self, value: &Spanned<&str>, section: &str, defined: &Names) -> bool {
        if defined.index.contains(value.value) {
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

/// The names a section defines, in order, with an index for looking them up (a generated
/// scenario names thousands of users in hundreds of thousands of steps).
#[derive(Debug, Default)]
struct Names {
    ordered: Vec<String>,
    index: BTreeSet<String>,
}

impl std::ops::Deref for Names {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.ordered
    }
}

impl From<Vec<String>> for Names {
    fn from(ordered: Vec<String>) -> Self {
        Self {
            index: ordered.iter().cloned().collect(),
            ordered,
        }
    }
}

fn names_of(tables: &[RawTable]) -> Names {
    Names::from(
        tables
            .iter()
            .filter_map(|table| table.text("name").map(|name| name.value.to_owned()))
            .collect::<Vec<_>>(),
    )
}

/// Resolves level one into a scenario, or leaves every problem in `problems`.
pub(crate) fn resolve(
    raw: &RawScenario,
    id: &str,
    path: &Path,
    source: &str,
    problems: &mut Vec<Diagnostic>,
) -> Option<Scenario> {
    let mut r = Resolver {
        lines: LineIndex::new(source),
        problems,
    };
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
    let starts_now = raw
        .header
        .text("start")
        .is_some_and(|text| text.value == "now");
    let start = match raw.header.text("start") {
        None => Timestamp::DEFAULT_START,
        Some(text) if text.value == "now" => Timestamp::DEFAULT_START,
        Some(text) => match text.value.parse::<Timestamp>() {
            Ok(start) if start < first_certificate_time() => {
                r.problem_with_help(
                    text.span,
                    format!("`{}` is before 1970-01-01T00:00:00Z", text.value),
                    CERTIFICATE_TIMES,
                );
                Timestamp::DEFAULT_START
            }
            Ok(start) => start,
            Err(error) => {
                r.problem(text.span, format!("`{}`: {error}", text.value));
                Timestamp::DEFAULT_START
            }
        },
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

    if let Some(domain) = raw
        .organisation
        .as_ref()
        .and_then(|t| t.text("mail_domain"))
    {
        if !domain.value.is_ascii() {
            r.problem_with_help(
                domain.span,
                format!("mail domain `{}` is not ASCII", domain.value),
                format!("{IA5}; write an internationalised domain in its ASCII form (xn--…)"),
            );
        }
    }
    for name in ["site", "domain", "host", "ca", "km_server", "user"] {
        r.check_names(section(name), name);
    }
    let site_names = names_of(section("site"));
    let host_names = names_of(section("host"));
    let ca_names = names_of(section("ca"));
    let km_names = names_of(section("km_server"));
    let user_names = names_of(section("user"));

    let sites = site_names.iter().map(SiteName::new).collect();
    let domains: Vec<Domain> = section("domain")
        .iter()
        .filter_map(|table| resolve_domain(&mut r, table))
        .collect();
    let hosts: Vec<Host> = section("host")
        .iter()
        .filter_map(|table| resolve_host(&mut r, table))
        .collect();
    let cas = resolve_cas(&mut r, section("ca"), &hosts, &ca_names);
    let km_servers: Vec<KmSpec> = section("km_server")
        .iter()
        .filter_map(|table| resolve_km(&mut r, table, &host_names, &site_names, &ca_names, &cas))
        .collect();
    let users: Vec<UserSpec> = section("user")
        .iter()
        .filter_map(|table| resolve_user(&mut r, table, path, &site_names, &mail_domain))
        .collect();

    let moving_users: Vec<String> = raw
        .steps
        .iter()
        .filter(|step| {
            step.action
                .as_ref()
                .is_some_and(|action| action.value.name == "move-user")
        })
        .filter_map(|step| step.table.text("user").map(|user| user.value.to_owned()))
        .collect();
    let mut domain_names: Vec<String> = domains.iter().map(|d| d.name.clone()).collect();
    for host in &hosts {
        if !domain_names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(&host.domain))
        {
            domain_names.push(host.domain.clone());
        }
    }
    let domain_names = Names::from(domain_names);
    let context = steps::StepContext {
        km_names: &km_names,
        domain_names: &domain_names,
        site_names: &site_names,
        moving_users: &moving_users,
        user_names: &user_names,
        ca_names: &ca_names,
        host_names: &host_names,
        km_servers: &km_servers,
        users: &users,
        cas: &cas,
    };
    let mut steps = Vec::new();
    for (index, raw_step) in raw.steps.iter().enumerate() {
        if let Some(step) = steps::resolve_step(&mut r, raw_step, index + 1, &context) {
            steps.push(step);
        }
    }
    check_certificate_times(&mut r, raw, start, &cas, &steps);
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
        starts_now,
        topology: Topology {
            organisation,
            mail_domain,
            sites,
            domains,
            hosts,
            cas,
            km_servers,
            users,
        },
        steps,
        matrix: raw.matrix.clone(),
        settings: Vec::new(),
        source: source.to_owned(),
    })
}

/// Why an address or host name must be ASCII.
const IA5: &str = "certificates hold e-mail addresses and DNS names as IA5String, which is ASCII";

/// The times a certificate, CRL or signature can hold.
const CERTIFICATE_TIMES: &str =
    "certificates hold times from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z";

/// The first moment kmlab's certificates can hold.
fn first_certificate_time() -> Timestamp {
    Timestamp::from_unix(0)
}

/// The last moment a certificate can hold (GeneralizedTime has four-digit years).
fn last_certificate_time() -> Timestamp {
    Timestamp::from_civil(9999, 12, 31, 23, 59, 59).unwrap_or(Timestamp::DEFAULT_START)
}

/// Every time the run writes into a certificate or CRL must fit one: the clock's last moment
/// (the start plus every `advance`) plus the longest span a CA signs for (its own lifetime, a
/// subordinate's validity if it has subordinates, its CRL period). Issued certificates are cut
/// at their CA's expiry (CA-08), so their own validity cannot reach further. A problem is shown
/// at the CA's longest written span, else at `start`, else at the last `advance`.
fn check_certificate_times(
    r: &mut Resolver<'_>,
    raw: &RawScenario,
    start: Timestamp,
    cas: &[CaSpec],
    steps: &[Step],
) {
    let last = last_certificate_time();
    let advances: Vec<(Duration, Range<usize>)> = steps
        .iter()
        .filter_map(|step| match step.action {
            Action::Clock { advance } => {
                let raw_step = raw.steps.get(step.number.checked_sub(1)?)?;
                let span = raw_step
                    .table
                    .text("advance")
                    .map_or_else(|| raw_step.span.clone(), |text| text.span);
                Some((advance, span))
            }
            _ => None,
        })
        .collect();
    let mut end = start;
    for (advance, span) in &advances {
        end = end.plus(*advance);
        if end > last {
            r.problem_with_help(
                span.clone(),
                "this step moves the clock past 9999-12-31T23:59:59Z",
                CERTIFICATE_TIMES,
            );
            return;
        }
    }
    let start_span = raw.header.text("start").map(|text| text.span);
    let empty = Vec::new();
    let tables = raw.sections.get("ca").unwrap_or(&empty);
    for ca in cas {
        let has_subordinates = cas.iter().any(
            |other| matches!(&other.role, CaRole::Subordinate { parent } if parent == &ca.name),
        );
        let mut spans = vec![("lifetime", ca.lifetime), ("crl_period", ca.crl_period)];
        if has_subordinates {
            spans.push(("subordinate_validity", ca.subordinate_validity));
        }
        let Some((key, longest)) = spans
            .into_iter()
            .filter(|(_, span)| end.plus(*span) > last)
            .max_by_key(|(_, span)| end.plus(*span))
        else {
            continue;
        };
        let written = tables
            .iter()
            .find(|table| {
                table
                    .text("name")
                    .is_some_and(|n| n.value == ca.name.as_str())
            })
            .and_then(|table| table.text(key))
            .map(|text| text.span);
        let span = written
            .or_else(|| start_span.clone())
            .or_else(|| advances.last().map(|(_, span)| span.clone()))
            .unwrap_or(0..0);
        r.problem_with_help(
            span,
            format!(
                "{}'s {key} would end at {}, after 9999-12-31T23:59:59Z",
                ca.name,
                end.plus(longest)
            ),
            format!("{CERTIFICATE_TIMES}; start earlier or give shorter spans"),
        );
    }
}

fn resolve_domain(r: &mut Resolver<'_>, table: &RawTable) -> Option<Domain> {
    let name = table.text("name")?;
    let kind = r.optional_or(table, "kind", "domain kind", DomainKind::W2kNative)?;
    let trusts = table
        .names("trusts")
        .into_iter()
        .map(|trust| trust.value)
        .collect();
    Some(Domain {
        name: name.value.to_owned(),
        kind,
        trusts,
    })
}

fn resolve_host(r: &mut Resolver<'_>, table: &RawTable) -> Option<Host> {
    let name = table.text("name")?;
    if !name.value.is_ascii() {
        r.problem_with_help(
            name.span.clone(),
            format!("host name `{}` is not ASCII", name.value),
            format!("a host's certificates name it as a DNS name: {IA5}"),
        );
    }
    let os: Os = r.choose(&table.text("os")?, "operating system")?;
    let installed = table
        .names("installed")
        .iter()
        .filter_map(|part| {
            let value = Spanned {
                value: part.value.as_str(),
                span: part.span.clone(),
            };
            installed_part(r, &value)
        })
        .collect();
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
    hosts: &[Host],
    cas: &Names,
) -> Vec<CaSpec> {
    let host_names = Names::from(
        hosts
            .iter()
            .map(|host| host.name.to_string())
            .collect::<Vec<_>>(),
    );
    let mut resolved = Vec::new();
    for table in tables {
        let Some(name) = table.text("name") else {
            continue;
        };
        let Some(kind) = r.optional_or(table, "class", "CA class", CaKind::Standalone) else {
            continue;
        };
        let host = match (table.text("host"), kind) {
            (Some(host), _) => {
                if !r.reference(&host, "host", &host_names) {
                    continue;
                }
                let os = hosts
                    .iter()
                    .find(|h| h.name.as_str() == host.value)
                    .map(|h| h.os);
                let needs = if kind == CaKind::Nt4CertificateServer {
                    Os::Nt4
                } else {
                    Os::W2k
                };
                if kind != CaKind::ThirdParty && os.is_some_and(|os| os != needs) {
                    r.problem_with_help(
                        host.span.clone(),
                        format!(
                            "a {} CA cannot run on {} host `{}`",
                            kind.name(),
                            os.map_or("?", Os::name),
                            host.value
                        ),
                        format!("this class of CA needs a {} host", needs.name()),
                    );
                    continue;
                }
                Some(HostName::new(host.value))
            }
            (None, CaKind::ThirdParty) => None,
            (None, _) => {
                r.problem_with_help(
                    table.span.clone(),
                    format!("missing key `host` in [ca] `{}`", name.value),
                    "only a third-party root has no host",
                );
                continue;
            }
        };
        if kind == CaKind::ThirdParty
            && !table.names("faults").is_empty()
            && table.text("type").is_some_and(|t| t.value == "subordinate")
        {
            r.problem(table.span.clone(), "faults describe third-party roots only");
        }
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
        let install = r.optional_or(table, "install", "install method", CaInstall::Online);
        if let (Some(CaRole::Root), Some(text)) = (&role, table.text("install")) {
            r.problem_with_help(
                text.span,
                "a root CA installs itself",
                "`install` applies to subordinates",
            );
        }
        let default_policy = if kind == CaKind::Nt4CertificateServer {
            PolicyModule::LegacyExchange
        } else {
            PolicyModule::Standard
        };
        let policy = r.optional_or(table, "policy_module", "policy module", default_policy);
        let period = r.optional_or(
            table,
            "validity_period",
            "validity period",
            ValidityPeriod::Years,
        );
        let units = positive(r, table, "validity_units", 1);
        let lifetime = duration_or(r, table, "lifetime", Duration::years(2));
        let hash = r.optional_or(table, "hash", "hash", SignatureHash::Sha1);
        let csp = r.optional_or(table, "csp", "key provider", Csp::MicrosoftBase);
        let key_length =
            table
                .integer("key_length")
                .and_then(|bits| match u32::try_from(bits.value) {
                    Ok(bits) if (384..=16384).contains(&bits) => Some(bits),
                    _ => {
                        r.problem(bits.span, "key_length must be between 384 and 16384 bits");
                        None
                    }
                });
        let crl_period = duration_or(r, table, "crl_period", Duration::days(7));
        let subordinate_validity =
            duration_or(r, table, "subordinate_validity", Duration::years(5));
        let mut faults = Vec::new();
        for fault in table.names("faults") {
            let value = Spanned {
                value: fault.value.as_str(),
                span: fault.span.clone(),
            };
            if let Some(fault) = r.choose::<CaFault>(&value, "fault") {
                faults.push(fault);
            }
        }
        // A third-party root may have any fault (CA-09); a subordinate only a version 1
        // certificate from its parent (MSG-08's path validation).
        let allowed = (kind == CaKind::ThirdParty && role == Some(CaRole::Root))
            || (matches!(role, Some(CaRole::Subordinate { .. }))
                && faults == [CaFault::NotWellFormed]);
        if !faults.is_empty() && !allowed {
            r.problem_with_help(
                table.span.clone(),
                format!(
                    "CA `{}` has faults but is not a third-party root",
                    name.value
                ),
                "faults reproduce broken third-party roots (CA-09); a subordinate may have only \"not-well-formed\", a version 1 certificate",
            );
        }
        let mut templates = Vec::new();
        for permission in table.names("missing_template_permissions") {
            let value = Spanned {
                value: permission.value.as_str(),
                span: permission.span.clone(),
            };
            if let Some(permission) = r.choose::<TemplatePermission>(&value, "template permission")
            {
                templates.push(permission);
            }
        }
        let shared_folder = table.text("shared_folder").map_or_else(
            || {
                format!(
                    "\\\\{}\\CertConfig",
                    host.as_ref().map_or("ca", HostName::as_str)
                )
            },
            |folder| folder.value.to_owned(),
        );
        if let (
            Some(role),
            Some(install),
            Some(policy),
            Some(period),
            Some(units),
            Some(lifetime),
            Some(hash),
            Some(csp),
            Some(crl_period),
            Some(subordinate_validity),
        ) = (
            role,
            install,
            policy,
            period,
            units,
            lifetime,
            hash,
            csp,
            crl_period,
            subordinate_validity,
        ) {
            resolved.push(CaSpec {
                name: CaName::new(name.value),
                host,
                kind,
                role,
                install,
                policy,
                validity: ValiditySetting { period, units },
                lifetime,
                hash,
                key_origin: KeyOrigin {
                    csp,
                    key_length,
                    reused: table.flag("reused_key").unwrap_or(false),
                },
                crl_period,
                publishes_cdp: table.flag("publishes_cdp").unwrap_or(true),
                subordinate_validity,
                shared_folder,
                installer_writes_directory: table
                    .flag("installer_writes_directory")
                    .unwrap_or(true),
                faults,
                missing_template_permissions: templates,
                organisation: table.text("organisation").map(|o| o.value.to_owned()),
            });
        }
    }
    order_parents_first(r, resolved, tables)
}

fn positive(r: &mut Resolver<'_>, table: &RawTable, key: &str, default: u32) -> Option<u32> {
    match table.integer(key) {
        None => Some(default),
        Some(value) => match u32::try_from(value.value) {
            Ok(value) if value > 0 => Some(value),
            _ => {
                r.problem(value.span, format!("{key} must be a positive whole number"));
                None
            }
        },
    }
}

fn duration_or(
    r: &mut Resolver<'_>,
    table: &RawTable,
    key: &str,
    default: Duration,
) -> Option<Duration> {
    match table.text(key) {
        None => Some(default),
        Some(text) => r.duration(&text),
    }
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
    hosts: &Names,
    sites: &Names,
    ca_names: &Names,
    cas: &[CaSpec],
) -> Option<KmSpec> {
    let name = table.text("name")?;
    let host = table.text("host")?;
    let site = table.text("site")?;
    let ca = table.text("ca")?;
    let references_ok = [
        r.reference(&host, "host", hosts),
        r.reference(&site, "site", sites),
        r.reference(&ca, "CA", ca_names),
    ];
    let product: ProductName = r.choose(&table.text("product")?, "product")?;
    let service_pack = r.optional_or(table, "service_pack", "service pack", ServicePack::Sp3)?;
    let mode = r.optional_or(table, "mode", "enrollment mode", EnrollmentMode::V1AndV3)?;
    if product == ProductName::Ex2000 {
        if let Some(sp) = table.text("service_pack") {
            r.problem(sp.span, "service_pack applies to ex55 only");
        }
    }
    if references_ok.contains(&false) {
        return None;
    }
    let ca_spec = cas.iter().find(|spec| spec.name.as_str() == ca.value);
    if ca_spec.is_some_and(|spec| spec.kind == CaKind::ThirdParty) {
        r.problem_with_help(
            ca.span.clone(),
            "a KM server cannot be attached to a third-party root",
            "attach it to the subordinate CA the organisation runs",
        );
        return None;
    }
    // On the CA's own host the setting points at the local share; elsewhere it must be set.
    let configuration_directory = table
        .text("configuration_directory")
        .map(|dir| dir.value.to_owned())
        .or_else(|| {
            ca_spec
                .filter(|spec| {
                    spec.host
                        .as_ref()
                        .is_some_and(|ca_host| ca_host.as_str() == host.value)
                })
                .map(|spec| spec.shared_folder.clone())
        });
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
        configuration_directory,
        max_dn_length: match table.integer("max_dn_length") {
            None => 256,
            Some(length) => usize::try_from(length.value)
                .ok()
                .filter(|l| *l > 0)
                .unwrap_or_else(|| {
                    r.problem(length.span, "max_dn_length must be a positive whole number");
                    256
                }),
        },
        ca_manage_permission: table.flag("ca_manage_permission").unwrap_or(true),
        mode,
    })
}

fn resolve_user(
    r: &mut Resolver<'_>,
    table: &RawTable,
    path: &Path,
    sites: &Names,
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
    let key_size = match table.integer("key_size") {
        None => clients::DEFAULT_KEY_BITS,
        Some(bits) => match u32::try_from(bits.value) {
            Ok(size) if profile.key_sizes.contains(&size) => size,
            _ => {
                let sizes: Vec<String> = profile.key_sizes.iter().map(u32::to_string).collect();
                r.problem_with_help(
                    bits.span,
                    format!("{} does not make {}-bit keys", profile.name, bits.value),
                    format!(
                        "key_size for {} is one of {}",
                        profile.name,
                        sizes.join(", ")
                    ),
                );
                return None;
            }
        },
    };
    let email = match table.text("email") {
        Some(email) if !email.value.is_ascii() => {
            r.problem_with_help(
                email.span,
                format!("e-mail address `{}` is not ASCII", email.value),
                IA5,
            );
            return None;
        }
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
        None if !name.value.is_ascii() => {
            r.problem_with_help(
                name.span,
                format!(
                    "user name `{}` is not ASCII, and without `email` it is the local part of \
                     the user's address",
                    name.value
                ),
                format!("{IA5}; give the user an ASCII `email`"),
            );
            return None;
        }
        None => format!("{}@{mail_domain}", name.value),
    };
    let seat = match table.text("seat") {
        Some(value) => Some(seat(r, &value, path)?),
        None => None,
    };
    site_ok.then(|| UserSpec {
        name: UserName::new(name.value),
        site: SiteName::new(site.value),
        persona,
        strength,
        email: MailAddress::new(email),
        display_name: table
            .text("display_name")
            .map_or_else(|| name.value.to_owned(), |display| display.value.to_owned()),
        seat: seat.flatten(),
        key_size,
        live: table.flag("live").unwrap_or(false),
    })
}

/// A user's `seat`: `kmlab` (no adapter), a built-in adapter's name, or the path of an
/// adapter program inside the scenario's folder. `Some(None)` is kmlab's own engine.
fn seat(r: &mut Resolver<'_>, value: &Spanned<&str>, path: &Path) -> Option<Option<SeatSpec>> {
    const KMLAB: &str = "kmlab";
    let written = value.value;
    if written == KMLAB {
        return Some(None);
    }
    let is_path = written.contains(['/', '\\']) || written.starts_with('.');
    if !is_path {
        let Some(program) = smime_external::built_in_program(written) else {
            let mut known = smime_external::built_in_names();
            known.push(KMLAB.to_owned());
            r.problem_with_help(
                value.span.clone(),
                format!("unknown adapter `{written}`"),
                format!(
                    "expected a built-in adapter ({}) or an adapter program's path relative to the scenario's folder, e.g. \"adapters/mine\"",
                    known.join(", ")
                ),
            );
            return None;
        };
        return Some(Some(SeatSpec {
            name: written.to_owned(),
            program,
            built_in: true,
        }));
    }
    let relative = scenario_relative(r, value, "adapters/mine")?;
    let folder = path.parent().unwrap_or(Path::new(""));
    let Some((name, program)) = smime_external::program_at(&folder.join(relative)) else {
        r.problem_with_help(
            value.span.clone(),
            format!("no adapter program at `{written}`"),
            "give a program file, or a folder holding one named `adapter`, relative to the scenario's folder",
        );
        return None;
    };
    Some(Some(SeatSpec {
        name,
        program,
        built_in: false,
    }))
}

fn installed_part(r: &mut Resolver<'_>, value: &Spanned<&str>) -> Option<InstalledPart> {
    r.choose(value, "installed part")
}

/// A relative path inside the scenario file's folder: absolute paths and `..` could reach
/// files the scenario has no business with.
fn scenario_relative(
    r: &mut Resolver<'_>,
    value: &Spanned<&str>,
    example: &str,
) -> Option<PathBuf> {
    let path = Path::new(value.value);
    let escapes = path.is_absolute()
        || path.components().any(|part| {
            !matches!(
                part,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    if escapes || value.value.is_empty() {
        r.problem_with_help(
            value.span.clone(),
            format!(
                "`{}` is not a path inside the scenario's folder",
                value.value
            ),
            format!("give a relative path without `..`, e.g. \"{example}\""),
        );
        return None;
    }
    Some(path.to_path_buf())
}

/// `enc#1`, `sign#2`: which of a user's certificates.
fn certificate_ref(r: &mut Resolver<'_>, value: &Spanned<&str>) -> Option<CertificateRef> {
    let parsed = value.value.split_once('#').and_then(|(kind, generation)| {
        let encryption = match kind {
            "enc" => true,
            "sign" => false,
            _ => return None,
        };
        let generation: u32 = generation.parse().ok().filter(|g| *g > 0)?;
        Some(CertificateRef {
            encryption,
            generation: KeyGeneration::new(generation),
        })
    });
    if parsed.is_none() {
        r.problem_with_help(
            value.span.clone(),
            format!("`{}` does not name a certificate", value.value),
            "write enc#N or sign#N, e.g. \"enc#1\"",
        );
    }
    parsed
}
