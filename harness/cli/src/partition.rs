//! `kmlab run --partition`: one part of a suite, so that CI machines share it the way
//! `cargo nextest --partition` shares tests. Every scenario falls in exactly one part, and in
//! the same one on every machine and every run.

use std::fmt;
use std::str::FromStr;

use crate::discover::ScenarioFile;

/// How scenarios are dealt into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// By position in the sorted list: the first scenario to part 1, the second to part 2 …
    /// Parts differ in size by at most one, but adding a scenario moves the ones after it.
    Count,
    /// By a hash of the scenario's identifier (its path under `scenarios/`): a scenario stays
    /// in its part whatever else is added or removed.
    Hash,
}

/// Part `part` of `of`, dealt by `strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Partition {
    strategy: Strategy,
    part: u64,
    of: u64,
}

/// Why a `--partition` value was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionError(String);

impl fmt::Display for PartitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PartitionError {}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let problem = |why: &str| {
            PartitionError(format!(
                "`{text}`: {why}; expected count:K/N or hash:K/N (part K of N, 1 ≤ K ≤ N), e.g. hash:1/3"
            ))
        };
        let (strategy, fraction) = match text.split_once(':') {
            Some(("count", fraction)) => (Strategy::Count, fraction),
            Some(("hash", fraction)) => (Strategy::Hash, fraction),
            Some((other, _)) => {
                return Err(problem(&format!("unknown way to partition `{other}`")));
            }
            None => (Strategy::Count, text),
        };
        let Some((part, of)) = fraction.split_once('/') else {
            return Err(problem("no K/N"));
        };
        let number = |digits: &str, what: &str| {
            digits
                .trim()
                .parse::<u64>()
                .map_err(|_| problem(&format!("{what} `{digits}` is not a whole number")))
        };
        let (part, of) = (number(part, "K")?, number(of, "N")?);
        if of == 0 {
            return Err(problem("N must be at least 1"));
        }
        if part == 0 || part > of {
            return Err(problem(&format!("parts are numbered 1 to {of}")));
        }
        Ok(Self { strategy, part, of })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let strategy = match self.strategy {
            Strategy::Count => "count",
            Strategy::Hash => "hash",
        };
        write!(f, "{strategy}:{}/{}", self.part, self.of)
    }
}

impl Partition {
    /// The scenarios of this part, in their order. `files` is the whole suite, sorted.
    pub(crate) fn select(&self, files: Vec<ScenarioFile>) -> Vec<ScenarioFile> {
        files
            .into_iter()
            .enumerate()
            .filter(|(index, file)| {
                let slot = match self.strategy {
                    Strategy::Count => *index as u64,
                    Strategy::Hash => fnv1a(file.id.as_bytes()),
                };
                slot % self.of == self.part - 1
            })
            .map(|(_, file)| file)
            .collect()
    }
}

/// FNV-1a, 64 bits: the same on every machine and in every version of kmlab (std's hashers
/// promise neither).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::*;

    fn suite() -> Vec<ScenarioFile> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        crate::discover::scenario_files(&[root]).unwrap()
    }

    #[test]
    fn every_scenario_falls_in_exactly_one_part_for_every_way_and_size() {
        let all = suite();
        assert!(all.len() >= 40, "{}", all.len());
        let everything: Vec<PathBuf> = all.iter().map(|file| file.path.clone()).collect();
        for strategy in ["count", "hash"] {
            for of in 1..=7 {
                let mut seen: Vec<PathBuf> = Vec::new();
                for part in 1..=of {
                    let partition: Partition = format!("{strategy}:{part}/{of}").parse().unwrap();
                    let chosen = partition.select(all.clone());
                    if strategy == "count" {
                        let size = chosen.len();
                        assert!(
                            size == all.len() / of || size == all.len().div_ceil(of),
                            "{partition}: {size}"
                        );
                    }
                    seen.extend(chosen.into_iter().map(|file| file.path));
                }
                let distinct: BTreeSet<&PathBuf> = seen.iter().collect();
                assert_eq!(
                    distinct.len(),
                    seen.len(),
                    "{strategy} of {of}: a scenario twice"
                );
                seen.sort();
                assert_eq!(seen, everything, "{strategy} of {of}: not the whole suite");
            }
        }
    }

    #[test]
    fn a_scenario_keeps_its_hash_part_whatever_else_the_suite_holds() {
        let all = suite();
        let partition: Partition = "hash:2/3".parse().unwrap();
        let chosen = partition.select(all.clone());
        assert!(!chosen.is_empty() && chosen.len() < all.len());
        let fewer: Vec<ScenarioFile> = all.iter().skip(5).cloned().collect();
        let chosen_from_fewer = partition.select(fewer.clone());
        for file in &fewer {
            assert_eq!(
                chosen.contains(file),
                chosen_from_fewer.contains(file),
                "{}",
                file.id
            );
        }
        // Fixed values: a change of hash function would move scenarios between machines.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(
            fnv1a(b"basic/signed-encrypted-message"),
            0x46b2_3e42_0d63_0aa9
        );
    }

    #[test]
    fn bad_values_are_named_with_what_is_expected() {
        for (value, why) in [
            ("0/3", "parts are numbered 1 to 3"),
            ("4/3", "parts are numbered 1 to 3"),
            ("x", "no K/N"),
            ("hash:1/0", "N must be at least 1"),
            ("count:a/3", "K `a` is not a whole number"),
            ("hash:1/-2", "N `-2` is not a whole number"),
            ("slice:1/2", "unknown way to partition `slice`"),
        ] {
            let error = value.parse::<Partition>().unwrap_err().to_string();
            assert_eq!(
                error,
                format!(
                    "`{value}`: {why}; expected count:K/N or hash:K/N (part K of N, 1 ≤ K ≤ N), e.g. hash:1/3"
                )
            );
        }
        assert_eq!(
            "2/3".parse::<Partition>().unwrap(),
            "count:2/3".parse().unwrap()
        );
        assert_eq!(
            "hash:3/3".parse::<Partition>().unwrap().to_string(),
            "hash:3/3"
        );
    }
}
