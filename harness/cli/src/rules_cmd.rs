//! `kmlab rules`: the catalogue, and which scenarios and named tests cover each rule.

use std::collections::BTreeMap;
use std::path::PathBuf;

use model::rules::{CATALOGUE, TESTED_BY};

use crate::discover::scenario_files;
use crate::{Exit, Format};

#[derive(Debug, clap::Args)]
pub(crate) struct RulesArgs {
    /// List the scenarios and named tests that cover each rule.
    #[arg(long)]
    coverage: bool,
    /// Where the scenarios are.
    #[arg(long, default_value = "scenarios")]
    scenarios: PathBuf,
    /// How to print.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub(crate) fn rules(args: &RulesArgs) -> anyhow::Result<Exit> {
    let mut coverage: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut exit = Exit::Passed;
    if args.coverage {
        for file in scenario_files(std::slice::from_ref(&args.scenarios))? {
            match scenario::load(&file.id, &file.path) {
                Ok(scenario) => {
                    for rule in scenario.covers {
                        coverage
                            .entry(rule.id)
                            .or_default()
                            .push(scenario.id.clone());
                    }
                }
                Err(error) => {
                    eprintln!("{error}\n");
                    exit = Exit::BadInput;
                }
            }
        }
    }
    let mut tests: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    if args.coverage {
        for covering in TESTED_BY {
            tests
                .entry(covering.rule)
                .or_default()
                .push(format!("{}::{}", covering.file, covering.test));
        }
    }
    let covered = CATALOGUE
        .iter()
        .filter(|rule| coverage.contains_key(rule.id) || tests.contains_key(rule.id))
        .count();
    match args.format {
        Format::Json | Format::Junit => {
            let rules: Vec<serde_json::Value> = CATALOGUE
                .iter()
                .map(|rule| {
                    let mut entry = serde_json::json!({ "id": rule.id, "summary": rule.summary });
                    if args.coverage {
                        entry["scenarios"] =
                            serde_json::json!(coverage.get(rule.id).cloned().unwrap_or_default());
                        entry["tests"] =
                            serde_json::json!(tests.get(rule.id).cloned().unwrap_or_default());
                    }
                    entry
                })
                .collect();
            let mut document = serde_json::json!({ "schema": "kmlab-rules/1", "rules": rules });
            if args.coverage {
                document["covered"] = serde_json::json!(covered);
                document["total"] = serde_json::json!(CATALOGUE.len());
            }
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        Format::Human => {
            for rule in CATALOGUE {
                println!("{:<8} {}", rule.id, rule.summary);
                if args.coverage {
                    if let Some(scenarios) = coverage.get(rule.id) {
                        println!("         covered by: {}", scenarios.join(", "));
                    }
                    if let Some(names) = tests.get(rule.id) {
                        println!("         tested by: {}", names.join(", "));
                    }
                    if !coverage.contains_key(rule.id) && !tests.contains_key(rule.id) {
                        println!("         NOT COVERED");
                    }
                }
            }
            if args.coverage {
                println!("{covered} of {} rules covered", CATALOGUE.len());
            }
        }
    }
    Ok(exit)
}
