//! `kmlab explain`: the known causes of an error ID or reason word, each shown with the
//! records of the scenario that reproduces it (before the fix, the fix, after it), and the
//! check that keeps `model::explanations::EXPLANATIONS` and the scenarios in step.
//!
//! The explanations are data; the records are never written down: they come from a run of
//! the named scenario, so an explanation shows what kmlab does today.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use model::explanations::{Explanation, Fix};

use crate::record::{DetailValue, Record, Transcript};
use crate::snapshot::render_record;

/// The schema identifier of `kmlab explain --format json`.
pub const EXPLAIN_SCHEMA: &str = "kmlab-explain/1";

/// An error ID and reason word as a record carries them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cause {
    /// The product's error ID (`c1031daf`), if the outcome has one.
    pub id: Option<String>,
    /// The reason word.
    pub reason: String,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{id} {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// The causes one record carries: its outcome's error ID and reason, and each line of its
/// `problems` detail written `ID word: …` (an enable-v3 names every problem it found, the
/// outcome only the first).
pub fn causes_of(record: &Record) -> Vec<Cause> {
    let mut causes = Vec::new();
    let id = match &record.outcome {
        model::Outcome::Error(id) => id.clone(),
        _ => None,
    };
    if let Some(reason) = &record.reason {
        causes.push(Cause {
            id,
            reason: reason.clone(),
        });
    } else if let Some(id) = id {
        causes.push(Cause {
            id: Some(id),
            reason: String::new(),
        });
    }
    if let Some(DetailValue::List(items)) = record.detail("problems").map(|d| &d.value) {
        for item in items {
            if let Some(cause) = problem_cause(item)
                && !causes.contains(&cause)
            {
                causes.push(cause);
            }
        }
    }
    causes
}

/// `c1031daf third-party-root: …` → the cause; anything else → `None`.
fn problem_cause(line: &str) -> Option<Cause> {
    let (head, _) = line.split_once(": ")?;
    let (id, reason) = head.split_once(' ')?;
    let is_id = id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let is_word = !reason.is_empty()
        && reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (is_id && is_word).then(|| Cause {
        id: Some(id.to_owned()),
        reason: reason.to_owned(),
    })
}

fn explains(explanation: &Explanation, cause: &Cause) -> bool {
    explanation.id == cause.id.as_deref() && explanation.reason == cause.reason
}

fn carries(record: &Record, explanation: &Explanation) -> bool {
    causes_of(record)
        .iter()
        .any(|cause| explains(explanation, cause))
}

/// Why a query matched nothing: the nearest known word, and every known one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// What was asked.
    pub query: String,
    /// The known ID or reason closest to it, if one is close.
    pub nearest: Option<String>,
    /// The known error IDs.
    pub ids: Vec<String>,
    /// The known reason words.
    pub reasons: Vec<String>,
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no explanation for `{}`", self.query)?;
        if let Some(nearest) = &self.nearest {
            write!(f, "; did you mean `{nearest}`?")?;
        }
        write!(
            f,
            "\nknown error IDs: {}\nknown reasons: {}",
            self.ids.join(", "),
            self.reasons.join(", ")
        )
    }
}

/// The explanations of `table` a query names: an error ID (`c1031dab`, `0xC1031DAB`), a
/// reason word (`validity`), or both (`c1031daf validity`).
pub fn lookup<'t>(table: &'t [Explanation], query: &str) -> Result<Vec<&'t Explanation>, Unknown> {
    let wanted = normalise(query);
    let found: Vec<&Explanation> = table
        .iter()
        .filter(|e| e.id == Some(wanted.as_str()) || e.reason == wanted || e.key() == wanted)
        .collect();
    if !found.is_empty() {
        return Ok(found);
    }
    let ids: BTreeSet<&str> = table.iter().filter_map(|e| e.id).collect();
    let reasons: BTreeSet<&str> = table.iter().map(|e| e.reason).collect();
    let nearest = ids
        .iter()
        .chain(&reasons)
        .map(|known| (edit_distance(&wanted, known), *known))
        .min()
        .filter(|(distance, _)| *distance <= (wanted.chars().count() / 3).max(2))
        .map(|(_, known)| known.to_owned());
    Err(Unknown {
        query: query.to_owned(),
        nearest,
        ids: ids.into_iter().map(str::to_owned).collect(),
        reasons: reasons.into_iter().map(str::to_owned).collect(),
    })
}

fn normalise(query: &str) -> String {
    let lower = query.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split([' ', '/', ':'])
        .filter(|w| !w.is_empty())
        .collect();
    let words: Vec<&str> = words
        .iter()
        .map(|word| word.strip_prefix("0x").unwrap_or(word))
        .collect();
    words.join(" ")
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The records of a transcript that show one explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown<'a> {
    /// The last record carrying the cause before the fix (without fix steps, the first).
    pub before: &'a Record,
    /// The fix steps' records.
    pub fix: Vec<&'a Record>,
    /// After the fix steps, the first record by the same actor doing the same action; for a
    /// fix scenario, that record in the fix scenario's transcript.
    pub after: Option<&'a Record>,
}

/// The records of `transcript` (and, for a [`Fix::Scenario`], of the fix scenario's
/// transcript `fixed`) that show `explanation`, or why they cannot: the scenario no longer
/// produces the cause, has no such fix step, shows no record after the fix, or still
/// produces it there.
pub fn show<'a>(
    explanation: &Explanation,
    transcript: &'a Transcript,
    fixed: Option<&'a Transcript>,
) -> Result<Shown<'a>, String> {
    let key = explanation.key();
    let steps = explanation.fix.steps();
    let first_fix = steps.iter().copied().min();
    let mut carrying = transcript
        .records
        .iter()
        .filter(|record| carries(record, explanation));
    let before = match first_fix {
        Some(fix) => carrying.rfind(|record| record.step < fix),
        None => carrying.next(),
    };
    let Some(before) = before else {
        return Err(match first_fix {
            Some(fix) => format!(
                "{} no longer produces `{key}` before step {fix}",
                explanation.scenario
            ),
            None => format!("{} no longer produces `{key}`", explanation.scenario),
        });
    };
    let same_move =
        |record: &&Record| record.action == before.action && record.actor == before.actor;
    let mut fix = Vec::new();
    for step in steps {
        match transcript
            .records
            .iter()
            .find(|record| record.step == *step)
        {
            Some(record) if *step > 0 => fix.push(record),
            _ => {
                return Err(format!(
                    "{} has no step {step}, the fix of `{key}`",
                    explanation.scenario
                ));
            }
        }
    }
    let (after, whose) = match explanation.fix {
        Fix::Steps(steps) => {
            let Some(last) = steps.iter().copied().max() else {
                return Err(format!(
                    "the explanation of `{key}` in {} names no fix step",
                    explanation.scenario
                ));
            };
            let after = transcript
                .records
                .iter()
                .filter(|record| record.step >= last && record.step > before.step)
                .find(same_move);
            let Some(after) = after else {
                return Err(format!(
                    "{} has no {} by {} after step {last}, the fix of `{key}`, to show it fixed",
                    explanation.scenario, before.action, before.actor
                ));
            };
            (Some(after), explanation.scenario)
        }
        Fix::Scenario(fix_scenario) => {
            let Some(fixed) = fixed else {
                return Err(format!(
                    "the fix of `{key}`, scenario {fix_scenario}, was not run"
                ));
            };
            // The same move as often as in the scenario: the second CA installed by a host's
            // administrator is the second one there too.
            let occurrence = transcript
                .records
                .iter()
                .take_while(|record| !std::ptr::eq(*record, before))
                .filter(same_move)
                .count();
            let Some(after) = fixed.records.iter().filter(same_move).nth(occurrence) else {
                return Err(format!(
                    "{fix_scenario} has no {} by {}, to show `{key}` fixed",
                    before.action, before.actor
                ));
            };
            (Some(after), fix_scenario)
        }
        Fix::Verdict | Fix::Lost => (None, explanation.scenario),
    };
    if let Some(after) = after
        && carries(after, explanation)
    {
        return Err(format!(
            "{whose} still produces `{key}` at step {}, after its fix",
            after.label()
        ));
    }
    Ok(Shown { before, fix, after })
}

/// A transcript the check looks at: a scenario's, or one combination's of a matrix scenario.
#[derive(Debug, Clone, Copy)]
pub struct Produced<'a> {
    /// The scenario's identifier (`ca/validity-restart`).
    pub scenario: &'a str,
    /// The combination's label, for a matrix scenario.
    pub combination: Option<&'a str>,
    /// What it recorded.
    pub transcript: &'a Transcript,
}

/// Both directions of the explanations' coverage over a whole suite's transcripts: every
/// cause a record carries has an explanation, and every explanation's scenario (and
/// combination) still produces its cause and, after its fix, no longer does.
pub fn check(table: &[Explanation], produced: &[Produced<'_>]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut unexplained = BTreeSet::new();
    for run in produced {
        for record in &run.transcript.records {
            for cause in causes_of(record) {
                if !table.iter().any(|e| explains(e, &cause)) && unexplained.insert(cause.clone()) {
                    problems.push(format!(
                        "`{cause}` ({} [{}] {} by {}{}) has no explanation in harness/model/src/explanations.rs",
                        run.scenario,
                        record.label(),
                        record.action,
                        record.actor,
                        run.combination
                            .map(|label| format!(", combination {label}"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
    }
    for explanation in table {
        let run = produced.iter().find(|run| {
            run.scenario == explanation.scenario && run.combination == explanation.combination
        });
        match run {
            None => problems.push(format!(
                "the explanation of `{}` names scenario {}{}, which the suite does not have",
                explanation.key(),
                explanation.scenario,
                explanation
                    .combination
                    .map(|label| format!(" (combination {label})"))
                    .unwrap_or_default()
            )),
            Some(run) => {
                let fixed = fix_scenario_of(explanation).and_then(|id| {
                    produced
                        .iter()
                        .find(|run| run.scenario == id && run.combination.is_none())
                        .map(|run| run.transcript)
                });
                if let Err(problem) = show(explanation, run.transcript, fixed) {
                    problems.push(problem);
                }
            }
        }
    }
    problems
}

/// The scenario a [`Fix::Scenario`] names.
pub fn fix_scenario_of(explanation: &Explanation) -> Option<&'static str> {
    match explanation.fix {
        Fix::Scenario(id) => Some(id),
        Fix::Steps(_) | Fix::Verdict | Fix::Lost => None,
    }
}

/// Every distinct cause the transcripts' records carry.
pub fn produced_causes(produced: &[Produced<'_>]) -> BTreeSet<Cause> {
    produced
        .iter()
        .flat_map(|run| run.transcript.records.iter())
        .flat_map(causes_of)
        .collect()
}

/// One explanation as `kmlab explain` shows it: its records, or why they are missing.
#[derive(Debug, Clone)]
pub struct Explained<'a> {
    /// The explanation.
    pub explanation: &'a Explanation,
    /// The records from a run of its scenario, or why there are none.
    pub records: Result<Shown<'a>, String>,
}

fn rule_summary(id: &str) -> &'static str {
    model::rules::CATALOGUE
        .iter()
        .find(|rule| rule.id == id)
        .map_or("", |rule| rule.summary)
}

fn record_lines(record: &Record) -> Vec<String> {
    render_record(record, &record.label())
        .lines()
        .map(str::to_owned)
        .collect()
}

fn scenario_path(explanation: &Explanation) -> String {
    format!("scenarios/{}.toml", explanation.scenario)
}

/// The human form: per cause its rule, the scenario and fix, and the records.
pub fn render_explained(explained: &[Explained<'_>]) -> String {
    let mut out = String::new();
    for (index, item) in explained.iter().enumerate() {
        let e = item.explanation;
        if index > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} — rule {}: {}",
            e.key(),
            e.rule,
            rule_summary(e.rule)
        );
        let _ = writeln!(out, "  cause: {}", e.cause);
        let combination = e
            .combination
            .map(|label| format!(", combination {label}"))
            .unwrap_or_default();
        match &item.records {
            Ok(shown) => {
                let _ = writeln!(
                    out,
                    "  reproduced by: {}{combination}, step {} (line {})",
                    scenario_path(e),
                    shown.before.label(),
                    shown.before.line
                );
            }
            Err(_) => {
                let _ = writeln!(out, "  reproduced by: {}{combination}", scenario_path(e));
            }
        }
        match e.fix {
            Fix::Steps(steps) => {
                let steps: Vec<String> = steps.iter().map(ToString::to_string).collect();
                let noun = if steps.len() == 1 { "step" } else { "steps" };
                let _ = writeln!(out, "  fix: {noun} {}: {}", steps.join(", "), e.remedy);
            }
            Fix::Scenario(id) => {
                let _ = writeln!(
                    out,
                    "  fix: as scenarios/{id}.toml sets it up: {}",
                    e.remedy
                );
            }
            Fix::Verdict => {
                let _ = writeln!(
                    out,
                    "  fix: none needed, this is the right outcome: {}",
                    e.remedy
                );
            }
            Fix::Lost => {
                let _ = writeln!(
                    out,
                    "  fix: none, what is lost stays lost; to avoid it: {}",
                    e.remedy
                );
            }
        }
        match &item.records {
            Err(problem) => {
                let _ = writeln!(out, "  transcript: unavailable: {problem}");
            }
            Ok(shown) => {
                let section = |out: &mut String, title: &str, records: &[&Record]| {
                    let _ = writeln!(out, "  {title}:");
                    for record in records {
                        for line in record_lines(record) {
                            let _ = writeln!(out, "    {line}");
                        }
                    }
                };
                let title = match e.fix {
                    Fix::Steps(_) | Fix::Scenario(_) => "before the fix",
                    Fix::Verdict | Fix::Lost => "transcript",
                };
                section(&mut out, title, &[shown.before]);
                // A fix step that is itself the retry shows once, as "after".
                let fix: Vec<&Record> = shown
                    .fix
                    .iter()
                    .copied()
                    .filter(|record| shown.after.is_none_or(|after| after.step != record.step))
                    .collect();
                if !fix.is_empty() {
                    section(&mut out, "the fix", &fix);
                }
                if let Some(after) = shown.after {
                    let title = match e.fix {
                        Fix::Scenario(id) => format!("after the fix (in {id})"),
                        _ => "after the fix".to_owned(),
                    };
                    section(&mut out, &title, &[after]);
                }
            }
        }
    }
    out
}

/// The JSON form (`kmlab-explain/1`).
pub fn explained_json(query: &str, explained: &[Explained<'_>]) -> String {
    let step = |record: &Record| {
        serde_json::json!({
            "step": record.step,
            "line": record.line,
            "lines": record_lines(record),
        })
    };
    let causes: Vec<serde_json::Value> = explained
        .iter()
        .map(|item| {
            let e = item.explanation;
            let (before, fix, after, problem) = match &item.records {
                Ok(shown) => (
                    step(shown.before),
                    shown.fix.iter().map(|record| step(record)).collect(),
                    shown.after.map(step),
                    None,
                ),
                Err(problem) => (
                    serde_json::Value::Null,
                    Vec::new(),
                    None,
                    Some(problem.clone()),
                ),
            };
            serde_json::json!({
                "id": e.id,
                "reason": e.reason,
                "rule": e.rule,
                "rule_summary": rule_summary(e.rule),
                "cause": e.cause,
                "remedy": e.remedy,
                "scenario": e.scenario,
                "path": scenario_path(e),
                "combination": e.combination,
                "fix_kind": e.fix.kind(),
                "fix_steps": e.fix.steps(),
                "fix_scenario": fix_scenario_of(e),
                "before": before,
                "fix": fix,
                "after": after,
                "problem": problem,
            })
        })
        .collect();
    let value = serde_json::json!({
        "schema": EXPLAIN_SCHEMA,
        "query": query,
        "causes": causes,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use model::{Outcome, Timestamp};

    use super::*;

    fn record(
        step: usize,
        actor: &str,
        action: &str,
        outcome: &str,
        reason: Option<&str>,
    ) -> Record {
        let mut record = Record::new(Timestamp::from_unix(0), actor, action);
        record.step = step;
        record.outcome = outcome.parse().unwrap_or(Outcome::Ok);
        record.reason = reason.map(str::to_owned);
        record
    }

    /// enable-v3 failing with `c1031daf validity` at `step`.
    fn validity_error(step: usize) -> Record {
        record(
            step,
            "admin@KM1",
            "enable-v3",
            "error c1031daf",
            Some("validity"),
        )
    }

    fn transcript(scenario: &str, records: Vec<Record>) -> Transcript {
        Transcript {
            scenario: scenario.to_owned(),
            title: String::new(),
            seed: 1,
            engine: "rustcrypto".to_owned(),
            covers: Vec::new(),
            records,
            disagreements: Vec::new(),
        }
    }

    const VALIDITY: Explanation = Explanation {
        id: Some("c1031daf"),
        reason: "validity",
        rule: "KM-05",
        scenario: "ca/v",
        combination: None,
        fix: Fix::Steps(&[2]),
        cause: "short",
        remedy: "longer",
    };

    fn fixed() -> Transcript {
        transcript(
            "ca/v",
            vec![
                validity_error(1),
                record(2, "admin@CA", "restart-ca", "ok", None),
                record(
                    3,
                    "admin@KM1",
                    "enable-v3",
                    "info",
                    Some("km-certificate-revoked"),
                ),
            ],
        )
    }

    #[test]
    fn the_records_before_and_after_the_fix_come_from_the_transcript() {
        let transcript = fixed();
        let shown = show(&VALIDITY, &transcript, None).unwrap();
        assert_eq!(shown.before.step, 1);
        assert_eq!(shown.fix.iter().map(|r| r.step).collect::<Vec<_>>(), [2]);
        assert_eq!(shown.after.map(|r| r.step), Some(3));
        let text = render_explained(&[Explained {
            explanation: &VALIDITY,
            records: Ok(shown),
        }]);
        assert!(
            text.contains("before the fix:\n    [1] enable-v3 by admin@KM1"),
            "{text}"
        );
        assert!(text.contains("after the fix:\n    [3] enable-v3"), "{text}");
    }

    #[test]
    fn a_cause_no_explanation_covers_fails_the_check() {
        let transcript = fixed();
        let mut records = transcript.records.clone();
        records.push(record(4, "bob", "read", "warning", Some("brand-new-word")));
        let grown = self::transcript("ca/v", records);
        let produced = [Produced {
            scenario: "ca/v",
            combination: None,
            transcript: &grown,
        }];
        let revoked = Explanation {
            id: None,
            reason: "km-certificate-revoked",
            fix: Fix::Verdict,
            ..VALIDITY
        };
        assert!(check(&[VALIDITY, revoked], &produced[..0]).len() == 2);
        let problems = check(&[VALIDITY, revoked], &produced);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("`brand-new-word` (ca/v [4] read by bob)"));
        let produced = [Produced {
            scenario: "ca/v",
            combination: None,
            transcript: &transcript,
        }];
        let mut unexplained = check(&[], &produced);
        unexplained.sort();
        assert_eq!(unexplained.len(), 2, "{unexplained:?}");
    }

    #[test]
    fn an_explanation_whose_scenario_no_longer_produces_it_fails_the_check() {
        let quiet = transcript(
            "ca/v",
            vec![
                record(
                    1,
                    "admin@KM1",
                    "enable-v3",
                    "info",
                    Some("km-certificate-revoked"),
                ),
                record(2, "admin@CA", "restart-ca", "ok", None),
            ],
        );
        let explained = [
            VALIDITY,
            Explanation {
                id: None,
                reason: "km-certificate-revoked",
                fix: Fix::Verdict,
                ..VALIDITY
            },
        ];
        let produced = [Produced {
            scenario: "ca/v",
            combination: None,
            transcript: &quiet,
        }];
        assert_eq!(
            check(&explained, &produced),
            ["ca/v no longer produces `c1031daf validity` before step 2"]
        );
        // A scenario the suite does not have.
        let elsewhere = [Explanation {
            scenario: "ca/gone",
            ..explained[1]
        }];
        assert_eq!(
            check(&elsewhere, &produced),
            [
                "the explanation of `km-certificate-revoked` names scenario ca/gone, which the suite does not have"
            ]
        );
    }

    #[test]
    fn a_fix_that_no_longer_fixes_fails_the_check() {
        let unfixed = transcript(
            "ca/v",
            vec![
                validity_error(1),
                record(2, "admin@CA", "configure-ca", "ok", None),
                validity_error(3),
            ],
        );
        assert_eq!(
            show(&VALIDITY, &unfixed, None).unwrap_err(),
            "ca/v still produces `c1031daf validity` at step 3, after its fix"
        );
        let missing_step = Explanation {
            fix: Fix::Steps(&[9]),
            ..VALIDITY
        };
        assert_eq!(
            show(&missing_step, &unfixed, None).unwrap_err(),
            "ca/v has no step 9, the fix of `c1031daf validity`"
        );
    }

    #[test]
    fn a_fix_with_nothing_after_it_or_no_steps_fails_the_check() {
        let retry_missing = transcript(
            "ca/v",
            vec![
                validity_error(1),
                record(2, "admin@CA", "configure-ca", "ok", None),
            ],
        );
        assert_eq!(
            show(&VALIDITY, &retry_missing, None).unwrap_err(),
            "ca/v has no enable-v3 by admin@KM1 after step 2, the fix of `c1031daf validity`, to show it fixed"
        );
        let no_steps = Explanation {
            fix: Fix::Steps(&[]),
            ..VALIDITY
        };
        assert_eq!(
            show(&no_steps, &retry_missing, None).unwrap_err(),
            "the explanation of `c1031daf validity` in ca/v names no fix step"
        );
    }

    #[test]
    fn a_fix_scenario_shows_the_same_move_there_and_fails_while_it_still_produces_it() {
        let refused = transcript("ca/v", vec![validity_error(1)]);
        let by_plan = Explanation {
            fix: Fix::Scenario("ca/v-fix"),
            ..VALIDITY
        };
        let planned = transcript(
            "ca/v-fix",
            vec![
                record(1, "admin@CA", "configure-ca", "ok", None),
                record(
                    2,
                    "admin@KM1",
                    "enable-v3",
                    "info",
                    Some("km-certificate-revoked"),
                ),
            ],
        );
        let shown = show(&by_plan, &refused, Some(&planned)).unwrap();
        assert_eq!(shown.before.step, 1);
        assert_eq!(shown.after.map(|record| record.step), Some(2));
        let text = render_explained(&[Explained {
            explanation: &by_plan,
            records: Ok(shown),
        }]);
        assert!(
            text.contains("after the fix (in ca/v-fix):\n    [2] enable-v3"),
            "{text}"
        );
        assert_eq!(
            show(&by_plan, &refused, Some(&refused)).unwrap_err(),
            "ca/v-fix still produces `c1031daf validity` at step 1, after its fix"
        );
        assert_eq!(
            show(&by_plan, &refused, None).unwrap_err(),
            "the fix of `c1031daf validity`, scenario ca/v-fix, was not run"
        );
        let produced = [
            Produced {
                scenario: "ca/v",
                combination: None,
                transcript: &refused,
            },
            Produced {
                scenario: "ca/v-fix",
                combination: None,
                transcript: &planned,
            },
        ];
        let mut problems = check(&[by_plan], &produced);
        problems.retain(|problem| !problem.contains("has no explanation"));
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn problems_lines_carry_causes_too() {
        let mut enable = record(
            1,
            "admin@KM1",
            "enable-v3",
            "error c1031daf",
            Some("name-link"),
        );
        enable.details.push(crate::Detail::list(
            "problems",
            vec![
                "c1031daf name-link: root names another issuer".to_owned(),
                "c1031daf third-party-root: fails: no-cdp".to_owned(),
                "not a problem line".to_owned(),
            ],
        ));
        let causes: Vec<String> = causes_of(&enable).iter().map(ToString::to_string).collect();
        assert_eq!(causes, ["c1031daf name-link", "c1031daf third-party-root"]);
    }

    #[test]
    fn queries_match_ids_reasons_and_both_and_unknown_ones_name_the_nearest() {
        let table = [
            VALIDITY,
            Explanation {
                id: None,
                reason: "untrusted-root",
                ..VALIDITY
            },
        ];
        assert_eq!(lookup(&table, "C1031DAF").unwrap().len(), 1);
        assert_eq!(lookup(&table, "0xc1031daf").unwrap().len(), 1);
        assert_eq!(lookup(&table, "c1031daf validity").unwrap().len(), 1);
        assert_eq!(
            lookup(&table, "untrusted-root").unwrap()[0].reason,
            "untrusted-root"
        );
        let unknown = lookup(&table, "untrusted-rot").unwrap_err();
        assert_eq!(unknown.nearest.as_deref(), Some("untrusted-root"));
        assert_eq!(
            unknown.to_string(),
            "no explanation for `untrusted-rot`; did you mean `untrusted-root`?\nknown error IDs: c1031daf\nknown reasons: untrusted-root, validity"
        );
        assert_eq!(lookup(&table, "zzzzzzzzzzzz").unwrap_err().nearest, None);
    }
}
