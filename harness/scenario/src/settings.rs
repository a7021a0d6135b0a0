//! Settings addressed by path, for running one scenario under other settings (`kmlab matrix`
//! and a scenario's own `[matrix]`).
//!
//! A path names a topology table by its section and name and one of its keys:
//! `ca.ExchCA.validity_units`, `km.KM1.mode`, `user.carol.client`, `host.EXCH1.installed`.
//! `policy.strength` sets every user's client build at once. A setting replaces the key's value
//! at level one, before the file's values are given meaning, so a wrong value is reported by the
//! same checks as one written in the file, located where the setting was written.

use std::collections::BTreeMap;
use std::ops::Range;

pub use crate::axis::{Axis, Origin, Setting};

use crate::actions::{Field, FieldKind};
use crate::diagnostics::Diagnostic;
use crate::file::{RawScenario, RawValue, SECTIONS, Spanned};

/// Every combination of the axes' values, the first axis varying slowest.
pub fn combinations(axes: &[Axis]) -> Vec<Vec<Setting>> {
    axes.iter().fold(vec![Vec::new()], |partial, axis| {
        partial
            .iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |value| {
                    let mut combination = prefix.clone();
                    combination.push(value.clone());
                    combination
                })
            })
            .collect()
    })
}

/// The sections a path may start with, and the `[[…]]` section each stands for.
const PATH_SECTIONS: &[(&str, &str)] = &[
    ("ca", "ca"),
    ("km", "km_server"),
    ("km_server", "km_server"),
    ("user", "user"),
    ("host", "host"),
    ("domain", "domain"),
];

/// Organisation-wide settings and the user key each one sets on every user.
const POLICIES: &[(&str, &str)] = &[("strength", "strength"), ("client", "client")];

/// The span a problem with a setting's value is reported at: its place in the file, or, for a
/// command-line setting, a range past any source text that [`argument_index`] maps back.
pub fn span_of(origin: &Origin) -> Range<usize> {
    match origin {
        Origin::File { value, .. } => value.clone(),
        Origin::Argument(index) => {
            let start = ARGUMENT_SPANS - 2 * index;
            start..start + 1
        }
    }
}

/// The span a problem with a setting's path is reported at: the key in the file, or as
/// [`span_of`] for the command line.
pub fn key_span_of(origin: &Origin) -> Range<usize> {
    match origin {
        Origin::File { key, .. } => key.clone(),
        Origin::Argument(_) => span_of(origin),
    }
}

/// Command-line settings are located from here downwards, two bytes apart.
const ARGUMENT_SPANS: usize = usize::MAX / 2;

/// For a span made by [`span_of`] for a command-line setting, that setting's index.
pub fn argument_index(span: &Range<usize>) -> Option<usize> {
    let distance = ARGUMENT_SPANS.checked_sub(span.start)?;
    (span.start > ARGUMENT_SPANS / 2 && distance % 2 == 0).then_some(distance / 2)
}

/// Applies `settings` to the file as read at level one, reporting every path that names no
/// table or key, and every value of the wrong kind.
pub fn apply(raw: &mut RawScenario, settings: &[Setting], problems: &mut Vec<Diagnostic>) {
    for setting in settings {
        if let Err(problem) = apply_one(raw, setting) {
            problems.push(problem);
        }
    }
}

fn apply_one(raw: &mut RawScenario, setting: &Setting) -> Result<(), Diagnostic> {
    let span = span_of(&setting.origin);
    let key_span = key_span_of(&setting.origin);
    let problem = |message: String, help: String| {
        Err(Diagnostic::new(key_span.clone(), message).with_help(help))
    };
    let parts: Vec<&str> = setting.key.split('.').collect();
    match parts.as_slice() {
        ["policy", policy] => {
            let Some((_, key)) = POLICIES.iter().find(|(name, _)| name == policy) else {
                return problem(
                    format!("`{}` is not a setting", setting.key),
                    format!("organisation-wide settings: {}", policy_paths().join(", ")),
                );
            };
            let field = field_of("user", key)
                .ok_or_else(|| Diagnostic::new(key_span.clone(), format!("no user key `{key}`")))?;
            let value = value_of(setting, field, &span)?;
            for table in raw.sections.entry("user").or_default() {
                table.values.insert(field.key, value.clone());
            }
            Ok(())
        }
        [section, name, key] => {
            let Some((_, section_name)) = PATH_SECTIONS.iter().find(|(path, _)| path == section)
            else {
                return problem(
                    format!("`{section}` in `{}` is not a section", setting.key),
                    format!(
                        "a setting is SECTION.NAME.KEY with SECTION one of {}, or {}",
                        section_names().join(", "),
                        policy_paths().join(", ")
                    ),
                );
            };
            let tables = raw.sections.entry(section_name).or_default();
            let names: Vec<String> = tables
                .iter()
                .filter_map(|table| table.text("name").map(|name| name.value.to_owned()))
                .collect();
            let Some(table) = tables
                .iter_mut()
                .find(|table| table.text("name").is_some_and(|n| n.value == *name))
            else {
                return problem(
                    format!("the scenario has no {section} named `{name}`"),
                    if names.is_empty() {
                        format!("it has no [[{section_name}]] at all")
                    } else {
                        format!("its {section} names: {}", names.join(", "))
                    },
                );
            };
            let Some(field) = field_of(section_name, key).filter(|field| field.key != "name")
            else {
                return problem(
                    format!("a {section} has no setting `{key}`"),
                    format!(
                        "{section} settings: {}",
                        settable_keys(section_name).join(", ")
                    ),
                );
            };
            let value = value_of(setting, field, &span)?;
            table.values.insert(field.key, value);
            Ok(())
        }
        _ => problem(
            format!("`{}` is not a setting path", setting.key),
            format!(
                "write SECTION.NAME.KEY (SECTION one of {}), or {}",
                section_names().join(", "),
                policy_paths().join(", ")
            ),
        ),
    }
}

fn field_of(section: &str, key: &str) -> Option<&'static Field> {
    SECTIONS
        .iter()
        .find(|(name, _)| *name == section)
        .and_then(|(_, fields)| fields.iter().find(|field| field.key == key))
}

/// The keys a setting path may name in `section` (a `[[…]]` section name).
pub fn settable_keys(section: &str) -> Vec<&'static str> {
    SECTIONS
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(_, fields)| {
            fields
                .iter()
                .map(|field| field.key)
                .filter(|key| *key != "name")
                .collect()
        })
        .unwrap_or_default()
}

fn section_names() -> Vec<&'static str> {
    PATH_SECTIONS
        .iter()
        .map(|(path, _)| *path)
        .filter(|path| *path != "km_server")
        .collect()
}

fn policy_paths() -> Vec<String> {
    POLICIES
        .iter()
        .map(|(name, _)| format!("policy.{name}"))
        .collect()
}

/// The setting's text read as `field`'s kind. A list of names is written `a+b`.
fn value_of(
    setting: &Setting,
    field: &Field,
    span: &Range<usize>,
) -> Result<Spanned<RawValue>, Diagnostic> {
    let text = setting.value.as_str();
    let wrong = || {
        Diagnostic::new(
            span.clone(),
            format!(
                "`{}` must be {}, not `{text}`",
                setting.key,
                field.kind.describe()
            ),
        )
        .with_help(format!("`{}`: {}", field.key, field.meaning))
    };
    let value = match field.kind {
        FieldKind::Text | FieldKind::Duration => RawValue::Text(text.to_owned()),
        FieldKind::Integer => RawValue::Integer(text.parse().map_err(|_| wrong())?),
        FieldKind::Flag => RawValue::Flag(text.parse().map_err(|_| wrong())?),
        FieldKind::Names => RawValue::Names(
            text.split('+')
                .filter(|name| !name.is_empty())
                .map(|name| Spanned {
                    value: name.to_owned(),
                    span: span.clone(),
                })
                .collect(),
        ),
    };
    Ok(Spanned {
        value,
        span: span.clone(),
    })
}

/// Reads `KEY=V1,V2,…` command-line values into axes, numbering every value so a problem
/// with it can name it. Returns the axes, or one message per malformed argument.
pub fn parse_arguments(arguments: &[String]) -> Result<Vec<Axis>, Vec<String>> {
    let mut axes: BTreeMap<usize, Axis> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut index = 0;
    for (position, argument) in arguments.iter().enumerate() {
        let Some((key, values)) = argument.split_once('=') else {
            problems.push(format!(
                "--vary {argument}: expected KEY=VALUE[,VALUE…], e.g. km.KM1.mode=v1-and-v3,v3-only"
            ));
            continue;
        };
        let key = key.trim();
        let values: Vec<&str> = values.split(',').map(str::trim).collect();
        if key.is_empty() || values.iter().any(|value| value.is_empty()) {
            problems.push(format!(
                "--vary {argument}: a key and at least one non-empty value are needed"
            ));
            continue;
        }
        let axis = Axis {
            key: key.to_owned(),
            values: values
                .into_iter()
                .map(|value| {
                    let setting = Setting {
                        key: key.to_owned(),
                        value: value.to_owned(),
                        origin: Origin::Argument(index),
                    };
                    index += 1;
                    setting
                })
                .collect(),
        };
        axes.insert(position, axis);
    }
    if problems.is_empty() {
        Ok(axes.into_values().collect())
    } else {
        Err(problems)
    }
}

/// The `--vary` text of the command-line setting numbered `index` in `axes`.
pub fn argument_text(axes: &[Axis], index: usize) -> Option<String> {
    axes.iter()
        .flat_map(|axis| axis.values.iter())
        .find(|setting| setting.origin == Origin::Argument(index))
        .map(|setting| format!("{}={}", setting.key, setting.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(key: &str, values: &[&str]) -> Axis {
        Axis {
            key: key.to_owned(),
            values: values
                .iter()
                .enumerate()
                .map(|(index, value)| Setting {
                    key: key.to_owned(),
                    value: (*value).to_owned(),
                    origin: Origin::Argument(index),
                })
                .collect(),
        }
    }

    #[test]
    fn combinations_vary_the_first_axis_slowest() {
        let all = combinations(&[axis("a", &["1", "2"]), axis("b", &["x", "y", "z"])]);
        let text: Vec<String> = all
            .iter()
            .map(|combination| {
                combination
                    .iter()
                    .map(|setting| setting.value.as_str())
                    .collect()
            })
            .collect();
        assert_eq!(text, ["1x", "1y", "1z", "2x", "2y", "2z"]);
        assert_eq!(combinations(&[]), vec![Vec::new()]);
    }

    #[test]
    fn argument_spans_map_back_to_their_index() {
        for index in [0, 1, 7, 1000] {
            let span = span_of(&Origin::Argument(index));
            assert_eq!(argument_index(&span), Some(index));
        }
        assert_eq!(argument_index(&(10..12)), None);
    }

    #[test]
    fn arguments_need_a_key_and_values() {
        let axes = parse_arguments(&["km.KM1.mode=v1-and-v3, v3-only".to_owned()]).unwrap();
        assert_eq!(axes[0].key, "km.KM1.mode");
        assert_eq!(axes[0].values[1].value, "v3-only");
        assert_eq!(axes[0].values[1].origin, Origin::Argument(1));
        let problems = parse_arguments(&["mode".to_owned(), "a=".to_owned()]).unwrap_err();
        assert_eq!(problems.len(), 2);
    }
}
