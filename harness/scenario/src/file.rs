//! Level one: the scenario file as written, with every value's span.
//!
//! This level knows the shape of the file (which tables and keys exist, what type each value
//! has) and nothing of what the values mean. Every problem is collected; none stops the
//! reading of the rest.

use std::collections::BTreeMap;
use std::ops::Range;

use toml_span::value::{Table, Value, ValueInner};

use crate::actions::{self, Field, FieldKind};
use crate::axis::{Axis, Origin, Setting};
use crate::diagnostics::Diagnostic;

/// A value and where it stands in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Its byte range.
    pub span: Range<usize>,
}

/// A scalar or list value as read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    /// A string.
    Text(String),
    /// An integer.
    Integer(i64),
    /// A boolean.
    Flag(bool),
    /// A list of strings (a single string is read as a list of one).
    Names(Vec<Spanned<String>>),
}

/// A table of known keys, each checked against its kind.
#[derive(Debug, Clone, Default)]
pub struct RawTable {
    /// The table's span (its header or inline braces).
    pub span: Range<usize>,
    /// Values by key.
    pub values: BTreeMap<&'static str, Spanned<RawValue>>,
}

impl RawTable {
    /// The text of `key`, with its span.
    pub fn text(&self, key: &str) -> Option<Spanned<&str>> {
        match self.values.get(key) {
            Some(Spanned {
                value: RawValue::Text(text),
                span,
            }) => Some(Spanned {
                value: text.as_str(),
                span: span.clone(),
            }),
            _ => None,
        }
    }

    /// The names of `key` (empty if absent).
    pub fn names(&self, key: &str) -> Vec<Spanned<String>> {
        match self.values.get(key) {
            Some(Spanned {
                value: RawValue::Names(names),
                ..
            }) => names.clone(),
            _ => Vec::new(),
        }
    }

    /// The integer of `key`, with its span.
    pub fn integer(&self, key: &str) -> Option<Spanned<i64>> {
        match self.values.get(key) {
            Some(Spanned {
                value: RawValue::Integer(value),
                span,
            }) => Some(Spanned {
                value: *value,
                span: span.clone(),
            }),
            _ => None,
        }
    }

    /// The flag of `key`.
    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.values.get(key) {
            Some(Spanned {
                value: RawValue::Flag(value),
                ..
            }) => Some(*value),
            _ => None,
        }
    }
}

/// An `expect` value: a bare outcome string or a table.
#[derive(Debug, Clone, Default)]
pub struct RawExpect {
    /// `outcome`
    pub outcome: Option<Spanned<String>>,
    /// `reason`
    pub reason: Option<Spanned<String>>,
    /// Record details to check, in file order.
    pub details: Vec<(Spanned<String>, Spanned<String>)>,
    /// `not = { … }`: what the record must not show, each key as above (`outcome`, `reason`
    /// or a detail), in file order.
    pub not: Vec<(Spanned<String>, Spanned<String>)>,
}

/// One `[[step]]`.
#[derive(Debug, Clone)]
pub struct RawStep {
    /// The step table's span.
    pub span: Range<usize>,
    /// The action, if it was given and known.
    pub action: Option<Spanned<&'static actions::ActionSpec>>,
    /// The action's keys.
    pub table: RawTable,
    /// The expectation.
    pub expect: Option<RawExpect>,
}

/// The whole file at level one.
#[derive(Debug, Clone, Default)]
pub struct RawScenario {
    /// Top-level keys.
    pub header: RawTable,
    /// `[organisation]`
    pub organisation: Option<RawTable>,
    /// Arrays of tables by section name (`site`, `host`, `ca`, `km_server`, `user`).
    pub sections: BTreeMap<&'static str, Vec<RawTable>>,
    /// `[[step]]` in order.
    pub steps: Vec<RawStep>,
    /// `[matrix]`: the settings the scenario runs over, in file order.
    pub matrix: Vec<Axis>,
}

const fn key(key: &'static str, kind: FieldKind, required: bool, meaning: &'static str) -> Field {
    Field {
        key,
        kind,
        required,
        meaning,
    }
}

/// The top-level keys that are not tables.
pub const HEADER: &[Field] = &[
    key(
        "version",
        FieldKind::Integer,
        true,
        "the language version; 1",
    ),
    key(
        "title",
        FieldKind::Text,
        true,
        "one line saying what the scenario shows",
    ),
    key(
        "description",
        FieldKind::Text,
        false,
        "more words, if the title is not enough",
    ),
    key(
        "covers",
        FieldKind::Names,
        false,
        "rule IDs this scenario exercises, e.g. [\"KM-07\"]",
    ),
    key(
        "seed",
        FieldKind::Integer,
        false,
        "the seed every random choice derives from (default 1)",
    ),
    key(
        "start",
        FieldKind::Text,
        false,
        "when the virtual clock starts (default 2001-03-01T09:00:00Z); \"now\" lets `kmlab serve` start it at the real current time",
    ),
];

/// `[organisation]`
pub const ORGANISATION: &[Field] = &[
    key(
        "name",
        FieldKind::Text,
        true,
        "the Exchange organisation, e.g. \"Contoso\"",
    ),
    key(
        "mail_domain",
        FieldKind::Text,
        true,
        "the SMTP domain users' addresses are in",
    ),
];

/// The arrays of tables describing the topology, with their keys.
pub const SECTIONS: &[(&str, &[Field])] = &[
    (
        "site",
        &[key(
            "name",
            FieldKind::Text,
            true,
            "the site (5.5) or administrative group (2000)",
        )],
    ),
    (
        "domain",
        &[
            key(
                "name",
                FieldKind::Text,
                true,
                "the Windows domain, e.g. \"CONTOSO\"",
            ),
            key(
                "kind",
                FieldKind::Text,
                false,
                "\"w2k-native\" (default), \"w2k-mixed\" or \"nt4\"",
            ),
            key(
                "trusts",
                FieldKind::Names,
                false,
                "domains it has a two-way trust with",
            ),
        ],
    ),
    (
        "host",
        &[
            key("name", FieldKind::Text, true, "the server name"),
            key("os", FieldKind::Text, true, "\"nt4\" or \"w2k\""),
            key(
                "domain",
                FieldKind::Text,
                true,
                "the Windows domain it belongs to",
            ),
            key(
                "installed",
                FieldKind::Names,
                false,
                "installed parts and fixes",
            ),
        ],
    ),
    (
        "ca",
        &[
            key("name", FieldKind::Text, true, "the CA's common name"),
            key(
                "host",
                FieldKind::Text,
                false,
                "the host it runs on (required unless class = \"third-party\")",
            ),
            key(
                "class",
                FieldKind::Text,
                false,
                "\"standalone\" (default), \"enterprise\", \"nt4-certificate-server\" or \"third-party\"",
            ),
            key(
                "type",
                FieldKind::Text,
                false,
                "\"root\" (default) or \"subordinate\"",
            ),
            key(
                "parent",
                FieldKind::Text,
                false,
                "for a subordinate: the CA that signs it",
            ),
            key(
                "install",
                FieldKind::Text,
                false,
                "for a subordinate: \"online\" (default) or \"request-file\" (pending until install-ca-certificate)",
            ),
            key(
                "policy_module",
                FieldKind::Text,
                false,
                "\"standard\" (default), \"legacy-exchange\", \"legacy-exchange-sp1\" or \"exchange-w2k\"",
            ),
            key(
                "validity_period",
                FieldKind::Text,
                false,
                "unit of issued lifetimes: \"years\" (default), \"months\", \"weeks\", \"days\"",
            ),
            key(
                "validity_units",
                FieldKind::Integer,
                false,
                "issued lifetime in validity_period units (default 1)",
            ),
            key(
                "lifetime",
                FieldKind::Duration,
                false,
                "how long the CA's own certificate lasts (default \"2y\")",
            ),
            key(
                "hash",
                FieldKind::Text,
                false,
                "signature hash: \"sha1\" (default, what Windows 2000 used) or \"sha256\"",
            ),
            key(
                "csp",
                FieldKind::Text,
                false,
                "key provider: \"microsoft-base-v1\" (default), \"microsoft-enhanced-v1\", \"microsoft-strong\", \"hardware\"",
            ),
            key(
                "key_length",
                FieldKind::Integer,
                false,
                "a key length chosen instead of the provider's default",
            ),
            key(
                "reused_key",
                FieldKind::Flag,
                false,
                "the CA reuses an existing key pair (default false)",
            ),
            key(
                "crl_period",
                FieldKind::Duration,
                false,
                "how long a CRL is current (default \"1w\")",
            ),
            key(
                "publishes_cdp",
                FieldKind::Flag,
                false,
                "whether issued certificates carry a CRL distribution point (default true)",
            ),
            key(
                "subordinate_validity",
                FieldKind::Duration,
                false,
                "how long it signs subordinate CAs for (default \"5y\")",
            ),
            key(
                "shared_folder",
                FieldKind::Text,
                false,
                "the shared configuration folder (default \\\\<host>\\CertConfig)",
            ),
            key(
                "installer_writes_directory",
                FieldKind::Flag,
                false,
                "the installing account could write to the directory (default true)",
            ),
            key(
                "faults",
                FieldKind::Names,
                false,
                "deliberate defects: \"issuer-differs\" (a third-party root), \"not-well-formed\" (a version 1 CA certificate, root or subordinate)",
            ),
            key(
                "missing_template_permissions",
                FieldKind::Names,
                false,
                "template permissions an enterprise CA lacks (KM-17)",
            ),
            key(
                "organisation",
                FieldKind::Text,
                false,
                "the O= of the CA's name (default: the scenario's organisation; \"<name> Trust Services\" for a third-party root)",
            ),
        ],
    ),
    (
        "km_server",
        &[
            key("name", FieldKind::Text, true, "the KM server's name"),
            key("host", FieldKind::Text, true, "the host it runs on"),
            key("product", FieldKind::Text, true, "\"ex55\" or \"ex2000\""),
            key(
                "service_pack",
                FieldKind::Text,
                false,
                "for ex55: \"none\", \"sp1\", \"sp2\", \"sp3\" (default) or \"sp4\"",
            ),
            key("site", FieldKind::Text, true, "the site it serves"),
            key("ca", FieldKind::Text, true, "the CA it is attached to"),
            key(
                "startup_password",
                FieldKind::Text,
                false,
                "the KM startup password (default \"startup\")",
            ),
            key(
                "configuration_directory",
                FieldKind::Text,
                false,
                "the KM host's ConfigurationDirectory (default: the CA's shared folder when the CA is on the same host)",
            ),
            key(
                "max_dn_length",
                FieldKind::Integer,
                false,
                "the longest mailbox DN given a V3 certificate (default 256)",
            ),
            key(
                "ca_manage_permission",
                FieldKind::Flag,
                false,
                "the KM administrators hold manage permission on the CA (default true)",
            ),
            key(
                "mode",
                FieldKind::Text,
                false,
                "the enrollment mode once V3 is enabled: \"v1-and-v3\" (default), \"v3-only\" or \"v1-only\"",
            ),
        ],
    ),
    (
        "user",
        &[
            key("name", FieldKind::Text, true, "the mailbox alias"),
            key("site", FieldKind::Text, true, "the user's home site"),
            key("client", FieldKind::Text, true, "the mail client persona"),
            key(
                "email",
                FieldKind::Text,
                false,
                "the SMTP address (default alias@mail_domain)",
            ),
            key(
                "display_name",
                FieldKind::Text,
                false,
                "the display name in the mailbox DN (default: the alias)",
            ),
            key(
                "strength",
                FieldKind::Text,
                false,
                "the client build: \"128-bit\" (default) or \"40-bit\" (export)",
            ),
            key(
                "seat",
                FieldKind::Text,
                false,
                "a real S/MIME implementation doing this user's cryptography: a built-in adapter (openssl-cli, gpgsm, cmsutil), an adapter program's path relative to the scenario's folder, or \"kmlab\" (kmlab's own engine, the default)",
            ),
            key(
                "key_size",
                FieldKind::Integer,
                false,
                "the RSA key size of the user's keys in bits (default 2048; 1024 for legacy clients)",
            ),
            key(
                "live",
                FieldKind::Flag,
                false,
                "a real mail client plays this user under `kmlab serve` (kmlab stands in for it under `kmlab run`); its steps are live-fetch and live-send",
            ),
        ],
    ),
];

/// Reads the file's TOML into level one, collecting every problem.
pub fn read(source: &str, problems: &mut Vec<Diagnostic>) -> Option<RawScenario> {
    let mut root = match toml_span::parse(source) {
        Ok(root) => root,
        Err(error) => {
            problems.push(Diagnostic::new(
                error.span.start..error.span.end,
                format!("not valid TOML: {}", error.kind),
            ));
            return None;
        }
    };
    let span = span_of(&root);
    let ValueInner::Table(mut top) = root.take() else {
        problems.push(Diagnostic::new(span, "a scenario file is a TOML table"));
        return None;
    };
    let mut raw = RawScenario::default();
    if let Some((_, mut value)) = top.remove_entry("organisation") {
        raw.organisation = table_of(&mut value, "organisation", ORGANISATION, problems);
    }
    for (section, fields) in SECTIONS {
        if let Some((_, mut value)) = top.remove_entry(*section) {
            let tables = array_of_tables(&mut value, section, problems);
            let read = tables
                .into_iter()
                .filter_map(|mut table| table_of(&mut table, section, fields, problems))
                .collect();
            raw.sections.insert(section, read);
        }
    }
    if let Some((_, mut value)) = top.remove_entry("step") {
        for mut step in array_of_tables(&mut value, "step", problems) {
            if let Some(step) = read_step(&mut step, problems) {
                raw.steps.push(step);
            }
        }
    }
    if let Some((_, mut value)) = top.remove_entry("matrix") {
        raw.matrix = read_matrix(&mut value, problems);
    }
    raw.header = check_table(
        top,
        span,
        "the top level",
        HEADER,
        &[
            "matrix",
            "organisation",
            "site",
            "domain",
            "host",
            "ca",
            "km_server",
            "user",
            "step",
        ],
        problems,
    );
    Some(raw)
}

/// `[matrix]`: each key a setting path, each value a list of the values it takes.
fn read_matrix(value: &mut Value<'_>, problems: &mut Vec<Diagnostic>) -> Vec<Axis> {
    let span = span_of(value);
    let ValueInner::Table(table) = value.take() else {
        problems.push(Diagnostic::new(span, "`matrix` must be a table").with_help(
            "write [matrix] with lines such as \"km.KM1.mode\" = [\"v1-and-v3\", \"v3-only\"]",
        ));
        return Vec::new();
    };
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span.start);
    if entries.is_empty() {
        problems.push(Diagnostic::new(span, "[matrix] names no settings"));
    }
    let mut axes = Vec::new();
    for (key, mut value) in entries {
        let key_span = key.span.start..key.span.end;
        let value_span = span_of(&value);
        let items = match value.take() {
            ValueInner::Array(items) => items,
            other => {
                problems.push(
                    Diagnostic::new(
                        value_span,
                        format!(
                            "the values of `{}` must be a list, found {}",
                            key.name,
                            other.type_str()
                        ),
                    )
                    .with_help("list every value the setting takes, e.g. [1, 2]"),
                );
                continue;
            }
        };
        if items.is_empty() {
            problems.push(Diagnostic::new(
                key_span,
                format!("`{}` takes no values", key.name),
            ));
            continue;
        }
        let mut values = Vec::new();
        for mut item in items {
            let item_span = span_of(&item);
            let text = match item.take() {
                ValueInner::String(text) => text.into_owned(),
                ValueInner::Integer(number) => number.to_string(),
                ValueInner::Boolean(flag) => flag.to_string(),
                other => {
                    problems.push(Diagnostic::new(
                        item_span,
                        format!(
                            "a value of `{}` must be a string, number or flag, found {}",
                            key.name,
                            other.type_str()
                        ),
                    ));
                    continue;
                }
            };
            values.push(Setting {
                key: key.name.to_string(),
                value: text,
                origin: Origin::File {
                    key: key_span.clone(),
                    value: item_span,
                },
            });
        }
        axes.push(Axis {
            key: key.name.to_string(),
            values,
        });
    }
    axes
}

fn span_of(value: &Value<'_>) -> Range<usize> {
    value.span.start..value.span.end
}

fn array_of_tables<'de>(
    value: &mut Value<'de>,
    name: &str,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Value<'de>> {
    let span = span_of(value);
    match value.take() {
        ValueInner::Array(items) => items,
        other => {
            problems.push(
                Diagnostic::new(
                    span,
                    format!(
                        "`{name}` must be an array of tables, found {}",
                        other.type_str()
                    ),
                )
                .with_help(format!("write each one under its own [[{name}]] header")),
            );
            Vec::new()
        }
    }
}

fn table_of(
    value: &mut Value<'_>,
    name: &str,
    fields: &[Field],
    problems: &mut Vec<Diagnostic>,
) -> Option<RawTable> {
    let span = span_of(value);
    match value.take() {
        ValueInner::Table(table) => Some(check_table(
            table,
            span,
            &format!("[{name}]"),
            fields,
            &[],
            problems,
        )),
        other => {
            problems.push(Diagnostic::new(
                span,
                format!("`{name}` must be a table, found {}", other.type_str()),
            ));
            None
        }
    }
}

/// Checks every key of `table` against `fields`; `handled` lists keys read elsewhere.
fn check_table(
    table: Table<'_>,
    span: Range<usize>,
    context: &str,
    fields: &[Field],
    handled: &[&str],
    problems: &mut Vec<Diagnostic>,
) -> RawTable {
    let mut raw = RawTable {
        span: span.clone(),
        values: BTreeMap::new(),
    };
    let mut present = Vec::new();
    for (key, mut value) in table {
        let key_span = key.span.start..key.span.end;
        let Some(field) = fields.iter().find(|field| field.key == key.name) else {
            if !handled.contains(&key.name.as_ref()) {
                let known: Vec<&str> = fields
                    .iter()
                    .map(|field| field.key)
                    .chain(handled.iter().copied())
                    .collect();
                problems.push(
                    Diagnostic::new(key_span, format!("unknown key `{}` in {context}", key.name))
                        .with_help(format!("expected one of: {}", known.join(", "))),
                );
            }
            continue;
        };
        present.push(field.key);
        if let Some(read) = read_value(&mut value, field, problems) {
            raw.values.insert(field.key, read);
        }
    }
    for field in fields.iter().filter(|field| field.required) {
        if !present.contains(&field.key) {
            problems.push(
                Diagnostic::new(
                    span.clone(),
                    format!("missing key `{}` in {context}", field.key),
                )
                .with_help(format!("`{}`: {}", field.key, field.meaning)),
            );
        }
    }
    raw
}

fn read_value(
    value: &mut Value<'_>,
    field: &Field,
    problems: &mut Vec<Diagnostic>,
) -> Option<Spanned<RawValue>> {
    let span = span_of(value);
    let inner = value.take();
    let wrong = |found: &ValueInner<'_>| {
        Diagnostic::new(
            span.clone(),
            format!(
                "`{}` must be {}, found {}",
                field.key,
                field.kind.describe(),
                found.type_str()
            ),
        )
        .with_help(format!("`{}`: {}", field.key, field.meaning))
    };
    let read = match (field.kind, inner) {
        (FieldKind::Text | FieldKind::Duration, ValueInner::String(text)) => {
            RawValue::Text(text.into_owned())
        }
        (FieldKind::Integer, ValueInner::Integer(number)) => RawValue::Integer(number),
        (FieldKind::Flag, ValueInner::Boolean(flag)) => RawValue::Flag(flag),
        (FieldKind::Names, ValueInner::String(text)) => RawValue::Names(vec![Spanned {
            value: text.into_owned(),
            span: span.clone(),
        }]),
        (FieldKind::Names, ValueInner::Array(items)) => {
            let mut names = Vec::new();
            for mut item in items {
                let item_span = span_of(&item);
                match item.take() {
                    ValueInner::String(text) => names.push(Spanned {
                        value: text.into_owned(),
                        span: item_span,
                    }),
                    other => problems.push(Diagnostic::new(
                        item_span,
                        format!("`{}` lists strings, found {}", field.key, other.type_str()),
                    )),
                }
            }
            RawValue::Names(names)
        }
        (_, other) => {
            problems.push(wrong(&other));
            return None;
        }
    };
    Some(Spanned { value: read, span })
}

fn read_step(value: &mut Value<'_>, problems: &mut Vec<Diagnostic>) -> Option<RawStep> {
    let span = span_of(value);
    let ValueInner::Table(mut table) = value.take() else {
        problems.push(Diagnostic::new(span, "each [[step]] must be a table"));
        return None;
    };
    let action = match table.remove_entry("action") {
        None => {
            problems.push(
                Diagnostic::new(span.clone(), "missing key `action` in [[step]]")
                    .with_help(format!("one of: {}", actions::names())),
            );
            None
        }
        Some((_, mut value)) => {
            let action_span = span_of(&value);
            match value.take() {
                ValueInner::String(name) => match actions::find(&name) {
                    Some(spec) => Some(Spanned {
                        value: spec,
                        span: action_span,
                    }),
                    None => {
                        problems.push(
                            Diagnostic::new(action_span, format!("unknown action `{name}`"))
                                .with_help(format!("one of: {}", actions::names())),
                        );
                        None
                    }
                },
                other => {
                    problems.push(Diagnostic::new(
                        action_span,
                        format!("`action` must be a string, found {}", other.type_str()),
                    ));
                    None
                }
            }
        }
    };
    let expect = table.remove_entry("expect").and_then(|(_, mut value)| {
        read_expect(&mut value, action.as_ref().map(|a| a.value), problems)
    });
    let raw_table = match &action {
        Some(spec) => check_table(
            table,
            span.clone(),
            &format!("[[step]] with action = \"{}\"", spec.value.name),
            spec.value.fields,
            &["action", "expect"],
            problems,
        ),
        // Without a known action the other keys cannot be judged.
        None => RawTable {
            span: span.clone(),
            values: BTreeMap::new(),
        },
    };
    Some(RawStep {
        span,
        action,
        table: raw_table,
        expect,
    })
}

/// One `key = value` of an `expect` table (or of its `not`): `outcome`, `reason` or a detail
/// the action records, with a string, number or boolean value.
fn expect_entry(
    key: &str,
    key_span: Range<usize>,
    value: &mut Value<'_>,
    action: Option<&'static actions::ActionSpec>,
    problems: &mut Vec<Diagnostic>,
) -> Option<(Spanned<String>, Spanned<String>)> {
    let value_span = span_of(value);
    let text = match value.take() {
        ValueInner::String(text) => text.into_owned(),
        ValueInner::Integer(number) => number.to_string(),
        ValueInner::Boolean(flag) => flag.to_string(),
        other => {
            problems.push(Diagnostic::new(
                value_span,
                format!(
                    "expected values are strings, numbers or booleans, found {}",
                    other.type_str()
                ),
            ));
            return None;
        }
    };
    let known = match key {
        "outcome" | "reason" => true,
        detail => match action {
            Some(spec) => {
                let recorded =
                    spec.details.contains(&detail) || actions::COMMON_DETAILS.contains(&detail);
                if !recorded {
                    problems.push(
                        Diagnostic::new(
                            key_span.clone(),
                            format!("`{detail}` is not something a `{}` step records", spec.name),
                        )
                        .with_help(format!(
                            "expect may check: outcome, reason, not, {}",
                            spec.details.join(", ")
                        )),
                    );
                }
                recorded
            }
            None => false,
        },
    };
    known.then(|| {
        (
            Spanned {
                value: key.to_owned(),
                span: key_span,
            },
            Spanned {
                value: text,
                span: value_span,
            },
        )
    })
}

fn read_expect(
    value: &mut Value<'_>,
    action: Option<&'static actions::ActionSpec>,
    problems: &mut Vec<Diagnostic>,
) -> Option<RawExpect> {
    let span = span_of(value);
    match value.take() {
        ValueInner::String(outcome) => Some(RawExpect {
            outcome: Some(Spanned {
                value: outcome.into_owned(),
                span,
            }),
            ..RawExpect::default()
        }),
        ValueInner::Table(table) => {
            let mut expect = RawExpect::default();
            let mut entries: Vec<_> = table.into_iter().collect();
            entries.sort_by_key(|(key, _)| key.span.start);
            for (key, mut value) in entries {
                let key_span = key.span.start..key.span.end;
                if key.name == "not" {
                    let value_span = span_of(&value);
                    match value.take() {
                        ValueInner::Table(negated) => {
                            let mut negated: Vec<_> = negated.into_iter().collect();
                            negated.sort_by_key(|(key, _)| key.span.start);
                            for (key, mut value) in negated {
                                let key_span = key.span.start..key.span.end;
                                if key.name == "not" {
                                    problems.push(Diagnostic::new(
                                        key_span,
                                        "`not` cannot be nested in `not`",
                                    ));
                                    continue;
                                }
                                if let Some(entry) =
                                    expect_entry(&key.name, key_span, &mut value, action, problems)
                                {
                                    expect.not.push(entry);
                                }
                            }
                        }
                        other => problems.push(
                            Diagnostic::new(
                                value_span,
                                format!("`not` must be a table, found {}", other.type_str()),
                            )
                            .with_help(
                                "e.g. not = { revoked = \"xena\" } or not = { outcome = \"ok\" }",
                            ),
                        ),
                    }
                    continue;
                }
                let Some((key, value)) =
                    expect_entry(&key.name, key_span, &mut value, action, problems)
                else {
                    continue;
                };
                match key.value.as_str() {
                    "outcome" => expect.outcome = Some(value),
                    "reason" => expect.reason = Some(value),
                    _ => expect.details.push((key, value)),
                }
            }
            Some(expect)
        }
        other => {
            problems.push(
                Diagnostic::new(span, format!("`expect` must be an outcome string or a table, found {}", other.type_str()))
                    .with_help("e.g. expect = \"ok\" or expect = { outcome = \"refused\", reason = \"token-used\" }"),
            );
            None
        }
    }
}
