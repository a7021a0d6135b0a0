//! `kmlab run --seat USER=ADAPTER`: real S/MIME implementations in users' seats, and the
//! file of their known deviations from kmlab's own engine.
//!
//! Each `--seat` is one seating: the scenario runs again with the adapter doing that user's
//! (or, for `*`, every user's) cryptography, and every step is compared with kmlab's run.
//! A step that differs fails the scenario unless `harness/adapters/known-deviations.toml`
//! lists it with its reason; a listed step that no longer differs fails as well.
//!
//! ```toml
//! [[deviation]]
//! adapter = "gpgsm"
//! seat = "*"                              # whose seat (default: every user's)
//! outcome = "refused (unsupported)"       # optional: what the seated run must show
//! reason = "gpgsm cannot encrypt with RC2"
//! [deviation.steps]                       # per scenario, or "*": every step that differs
//! "messaging/cipher-strength" = [23, 27]
//! "basic/signed-encrypted-message" = [9]
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use report::StepDifference;
use smime_external::Adapter;

use crate::deviations::{Kind, read_entries};

/// One `--seat`: whose seat and which implementation.
#[derive(Debug, Clone)]
pub(crate) struct Seating {
    /// `*` or a user name.
    pub(crate) user: String,
    /// The implementation.
    pub(crate) adapter: Adapter,
}

impl Seating {
    /// `USER=ADAPTER`, where ADAPTER is a built-in adapter's name or a path to an adapter
    /// program (or to a folder holding one named `adapter`).
    pub(crate) fn parse(spec: &str, timeout: Duration) -> anyhow::Result<Self> {
        let Some((user, adapter)) = spec.split_once('=') else {
            bail!("--seat takes USER=ADAPTER (USER a user's name or *), not `{spec}`");
        };
        let (user, adapter) = (user.trim(), adapter.trim());
        if user.is_empty() || adapter.is_empty() {
            bail!("--seat takes USER=ADAPTER (USER a user's name or *), not `{spec}`");
        }
        let name_like = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if user != "*" && !user.chars().all(name_like) {
            bail!("--seat {spec}: `{user}` is not a user's name (or * for every user)");
        }
        Ok(Self {
            user: user.to_owned(),
            adapter: adapter_named(adapter, timeout)
                .map_err(|error| anyhow::anyhow!("--seat {spec}: {error}"))?,
        })
    }

    /// `bob=openssl-cli`.
    pub(crate) fn label(&self) -> String {
        format!("{}={}", self.user, self.adapter.name())
    }

    /// The runner's seat.
    pub(crate) fn seat(&self) -> runner::Seat {
        runner::Seat {
            user: (self.user != "*").then(|| model::UserName::new(&self.user)),
            adapter: self.adapter.clone(),
        }
    }
}

/// The adapter `written` names: a built-in adapter's name, or the path of an adapter program
/// (or of a folder holding one named `adapter`); each call limited to `timeout`.
pub(crate) fn adapter_named(written: &str, timeout: Duration) -> anyhow::Result<Adapter> {
    let (name, program) = if written.contains('/') || written.starts_with('.') {
        let Some(found) = smime_external::program_at(Path::new(written)) else {
            bail!("no adapter program at {written}");
        };
        found
    } else {
        let Some(program) = smime_external::built_in_program(written) else {
            bail!(
                "unknown adapter `{written}`; the built-in ones are {} (or give the path of an adapter program)",
                smime_external::built_in_names().join(", ")
            );
        };
        (written.to_owned(), program)
    };
    Ok(Adapter::new(&name, program, timeout))
}

/// A number of seconds given on the command line as an adapter's time limit.
pub(crate) fn adapter_timeout(seconds: f64) -> anyhow::Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("--adapter-timeout must be a positive number of seconds");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// One listed deviation of an adapter from kmlab's engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdapterDeviation {
    pub(crate) adapter: String,
    pub(crate) seat: String,
    pub(crate) scenario: String,
    /// `None`: every step of the scenario that differs.
    pub(crate) steps: Option<Vec<usize>>,
    pub(crate) outcome: Option<String>,
    pub(crate) reason: String,
}

/// The adapters' known deviations and the file they came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct AdapterDeviations {
    pub(crate) path: Option<PathBuf>,
    pub(crate) entries: Vec<AdapterDeviation>,
}

impl AdapterDeviations {
    /// Reads `path`; every problem is reported at its line and column. An entry lists its
    /// steps per scenario; it stands for one deviation per scenario it names.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let mut entries = Vec::new();
        for mut entry in read_entries(
            path,
            &[
                ("adapter", Kind::Text, true),
                ("seat", Kind::Text, false),
                ("outcome", Kind::Text, false),
                ("reason", Kind::Text, true),
                ("steps", Kind::ScenarioSteps, true),
            ],
        )? {
            let adapter = entry.text("adapter");
            let seat = entry
                .optional_text("seat")
                .unwrap_or_else(|| "*".to_owned());
            let outcome = entry.optional_text("outcome");
            let reason = entry.text("reason");
            for (scenario, steps) in entry.scenario_steps("steps") {
                entries.push(AdapterDeviation {
                    adapter: adapter.clone(),
                    seat: seat.clone(),
                    scenario,
                    steps,
                    outcome: outcome.clone(),
                    reason: reason.clone(),
                });
            }
        }
        Ok(Self {
            path: Some(path.to_path_buf()),
            entries,
        })
    }

    /// Judges a seating's differences over one scenario: how many the file lists, and the
    /// failures — every unlisted difference, and every listed step that did not differ.
    pub(crate) fn judge(
        &self,
        seating: &Seating,
        scenario: &str,
        differences: &[StepDifference],
    ) -> (usize, Vec<String>) {
        let file = self
            .path
            .as_ref()
            .map_or("the adapters' known-deviations file".to_owned(), |p| {
                p.display().to_string()
            });
        let in_force: Vec<&AdapterDeviation> = self
            .entries
            .iter()
            .filter(|entry| {
                entry.adapter == seating.adapter.name()
                    && entry.seat == seating.user
                    && entry.scenario == scenario
            })
            .collect();
        let covers = |entry: &AdapterDeviation, difference: &StepDifference| {
            entry
                .steps
                .as_ref()
                .is_none_or(|steps| steps.contains(&difference.step))
                && entry
                    .outcome
                    .as_ref()
                    .is_none_or(|outcome| *outcome == difference.seated_outcome)
        };
        let mut known = 0;
        let mut failures = Vec::new();
        for difference in differences {
            if in_force.iter().any(|entry| covers(entry, difference)) {
                known += 1;
            } else {
                failures.push(format!(
                    "{}: {} differs from kmlab's engine: kmlab {}, {} {}; fix it, or list it in {file} with its reason",
                    seating.label(),
                    difference.label,
                    difference.kmlab,
                    seating.adapter.name(),
                    difference.seated
                ));
            }
        }
        for entry in in_force {
            let steps: Vec<Option<usize>> = match &entry.steps {
                Some(steps) => steps.iter().copied().map(Some).collect(),
                None => vec![None],
            };
            for step in steps {
                let happened = differences.iter().any(|difference| {
                    step.is_none_or(|step| difference.step == step) && covers(entry, difference)
                });
                if !happened {
                    let which = step.map_or("no step".to_owned(), |step| format!("step {step}"));
                    failures.push(format!(
                        "{}: {which} was listed in {file} as a known deviation ({}), but it matches kmlab's engine; remove the entry",
                        seating.label(),
                        entry.reason
                    ));
                }
            }
        }
        (known, failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seating() -> Seating {
        Seating {
            user: "*".into(),
            adapter: Adapter::new("fake", PathBuf::from("/bin/false"), Duration::from_secs(1)),
        }
    }

    fn difference(step: usize, seated: &str) -> StepDifference {
        StepDifference {
            step,
            label: format!("[{step}] read by bob"),
            kmlab: "ok".into(),
            seated: seated.into(),
            seated_outcome: seated.into(),
        }
    }

    #[test]
    fn unlisted_differences_and_listed_steps_that_agree_both_fail() {
        let known = AdapterDeviations {
            path: None,
            entries: vec![AdapterDeviation {
                adapter: "fake".into(),
                seat: "*".into(),
                scenario: "a".into(),
                steps: Some(vec![3]),
                outcome: Some("error (unsupported)".into()),
                reason: "no RC2".into(),
            }],
        };
        let (count, failures) =
            known.judge(&seating(), "a", &[difference(3, "error (unsupported)")]);
        assert_eq!((count, failures.len()), (1, 0), "{failures:?}");
        // The same step with another outcome is not the listed deviation.
        let (count, failures) = known.judge(&seating(), "a", &[difference(3, "error (tampered)")]);
        assert_eq!(count, 0);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].contains("[3] read by bob differs"));
        assert!(failures[1].contains("matches kmlab's engine"));
        // Another scenario: the entry is not in force, the difference is unexpected.
        let (count, failures) =
            known.judge(&seating(), "b", &[difference(3, "error (unsupported)")]);
        assert_eq!((count, failures.len()), (0, 1));
    }

    #[test]
    fn the_built_in_deviations_name_real_adapters_scenarios_and_steps() {
        // An entry naming a scenario that does not exist would never be judged: a typo must
        // not hide a deviation list that has gone stale.
        let file = smime_external::built_in_dir().join("known-deviations.toml");
        let known = AdapterDeviations::load(&file).unwrap();
        assert!(known.entries.len() >= 20, "{}", known.entries.len());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let adapters = smime_external::built_in_names();
        for entry in &known.entries {
            assert!(adapters.contains(&entry.adapter), "{entry:?}");
            assert_eq!(entry.seat, "*", "{entry:?}");
            let path = root
                .join("scenarios")
                .join(format!("{}.toml", entry.scenario));
            let scenario = scenario::load(&entry.scenario, &path)
                .unwrap_or_else(|error| panic!("{}: {error}", entry.scenario));
            for step in entry.steps.iter().flatten() {
                assert!(
                    (1..=scenario.steps.len()).contains(step),
                    "{}: no step {step}",
                    entry.scenario
                );
            }
        }
    }

    #[test]
    fn bad_seat_specifications_are_refused_with_their_reason() {
        let timeout = Duration::from_secs(1);
        for (spec, wanted) in [
            ("bob", "takes USER=ADAPTER"),
            ("=openssl-cli", "takes USER=ADAPTER"),
            ("bob=", "takes USER=ADAPTER"),
            ("bob=no-such-adapter", "unknown adapter `no-such-adapter`"),
            ("bob=./no/such/file", "no adapter program at"),
        ] {
            let error = Seating::parse(spec, timeout).unwrap_err().to_string();
            assert!(error.contains(wanted), "{spec}: {error}");
        }
        let seating = Seating::parse("*=openssl-cli", timeout).unwrap();
        assert_eq!(seating.label(), "*=openssl-cli");
        assert!(seating.adapter.program().is_file());
    }
}
