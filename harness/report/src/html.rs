//! The static HTML report: one self-contained page (no external assets, works offline) with,
//! per scenario, a message-flow diagram, the transcript and, for a matrix scenario, its table.
//!
//! The diagram draws every party as a vertical lane (users, KM servers, CAs, hosts, the
//! administrators, the SMTP sink) and every step as an arrow between the lanes its
//! [`Flow`](crate::Flow) names, coloured by outcome; a step whose expectation was not met is
//! drawn thick and marked ✗, and so is its transcript row.

use std::fmt::Write as _;

use model::Outcome;

use crate::escape_markup as escape;
use crate::matrix::{MatrixTable, Row};
use crate::record::{DetailValue, ExpectationCheck, Record, Transcript};
use crate::result::{ScenarioResult, ScenarioStatus};
use crate::seats::SeatComparison;

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 2em 4em; color: #1d1d1f; }
h1 { margin: 1em 0 0.3em; }
h2 { margin: 2em 0 0.2em; padding-top: 0.6em; border-top: 1px solid #ccc; }
h3 { margin: 1.2em 0 0.4em; }
code, .mono { font-family: ui-monospace, Menlo, monospace; font-size: 12px; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #d0d0d5; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f5; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 9px; font-size: 12px; color: #fff; }
.passed .badge, .badge.passed { background: #2f8f46; }
.failed .badge, .badge.failed { background: #c62828; }
.invalid .badge, .badge.invalid { background: #8e24aa; }
.outcome-ok { color: #2f6f3e; }
.outcome-info { color: #1565c0; }
.outcome-warning { color: #b26a00; }
.outcome-refused { color: #6a1b9a; }
.outcome-error { color: #c62828; }
tr.failing td { background: #fde8e8; }
tr.failing td.mark::before { content: "✗ "; color: #c62828; font-weight: bold; }
ul.reasons li { color: #c62828; }
svg.flow { display: block; margin: 0.5em 0; background: #fcfcfd; border: 1px solid #e0e0e5; }
svg.flow .lane { stroke: #c8c8d0; stroke-dasharray: 4 4; }
svg.flow .lane-name { font: bold 12px system-ui, sans-serif; text-anchor: middle; }
svg.flow .step line, svg.flow .step path { stroke-width: 1.6; fill: none; }
svg.flow .step text { font: 11px system-ui, sans-serif; stroke: none; }
svg.flow .step.failing line, svg.flow .step.failing path { stroke-width: 4; }
svg.flow .step.failing text { font-weight: bold; }
svg.flow .clock line { stroke: #999; stroke-dasharray: 2 3; }
svg.flow .clock text { font: italic 11px system-ui, sans-serif; fill: #666; }
.ok { stroke: #2f8f46; fill: #2f6f3e; } .info { stroke: #1e88e5; fill: #1565c0; }
.warning { stroke: #f0a000; fill: #b26a00; } .refused { stroke: #8e24aa; fill: #6a1b9a; }
.error { stroke: #c62828; fill: #c62828; }
details > summary { cursor: pointer; }
"#;

/// After layout, the page records how many diagrams have a drawn size, so a headless
/// browser's DOM dump shows whether they rendered.
const SCRIPT: &str = r#"
window.addEventListener("load", function () {
  var drawn = 0;
  document.querySelectorAll("svg.flow").forEach(function (svg) {
    var box = svg.getBBox();
    if (box.width > 0 && box.height > 0) { drawn += 1; }
  });
  document.body.setAttribute("data-diagrams-drawn", String(drawn));
});
"#;

/// The whole report page for a run.
pub fn render_html(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let passed = results.iter().filter(|r| r.passed()).count();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>kmlab report</title>\n<style>{STYLE}</style>\n</head>\n<body data-diagrams=\"{}\">\n",
        diagram_count(results)
    );
    let _ = writeln!(out, "<h1>kmlab report</h1>");
    let _ = writeln!(
        out,
        "<p class=\"summary\">{passed} passed, {} failed, {} scenarios</p>",
        results.len() - passed,
        results.len()
    );
    out.push_str(
        "<table class=\"index\">\n<tr><th>scenario</th><th>status</th><th>title</th></tr>\n",
    );
    for result in results {
        let (class, word) = status_of(result);
        let title = result
            .transcript
            .as_ref()
            .map(|t| t.title.as_str())
            .or(result.matrix.as_ref().map(|m| m.table.title.as_str()))
            .unwrap_or("");
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td><a href=\"#{}\">{}</a></td><td><span class=\"badge {class}\">{word}</span></td><td>{}</td></tr>",
            anchor(&result.scenario),
            escape(&result.scenario),
            escape(title)
        );
    }
    out.push_str("</table>\n");
    for result in results {
        scenario_section(&mut out, result);
    }
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

/// A matrix table as a page of its own (`kmlab matrix --format html`).
pub fn render_matrix_html(table: &MatrixTable) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>kmlab matrix: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&table.scenario),
        escape(&table.title)
    );
    matrix_section(&mut out, table);
    out.push_str("</body>\n</html>\n");
    out
}

fn diagram_count(results: &[ScenarioResult]) -> usize {
    results
        .iter()
        .map(|result| {
            usize::from(result.transcript.is_some())
                + result.matrix.as_ref().map_or(0, |matrix| {
                    matrix
                        .cells
                        .iter()
                        .filter(|c| c.transcript.is_some())
                        .count()
                })
        })
        .sum()
}

fn status_of(result: &ScenarioResult) -> (&'static str, &'static str) {
    match result.status {
        ScenarioStatus::Passed { .. } => ("passed", "passed"),
        ScenarioStatus::Failed { .. } => ("failed", "failed"),
        ScenarioStatus::Invalid { .. } => ("invalid", "invalid"),
        ScenarioStatus::HarnessError { .. } => ("failed", "harness error"),
    }
}

fn scenario_section(out: &mut String, result: &ScenarioResult) {
    let (class, word) = status_of(result);
    let _ = writeln!(
        out,
        "<section id=\"{}\" class=\"scenario {class}\">\n<h2>{} <span class=\"badge\">{word}</span></h2>",
        anchor(&result.scenario),
        escape(&result.scenario)
    );
    let reasons: &[String] = match &result.status {
        ScenarioStatus::Passed { .. } => &[],
        ScenarioStatus::Failed { reasons } => reasons,
        ScenarioStatus::Invalid { problems } => problems,
        ScenarioStatus::HarnessError { error } => std::slice::from_ref(error),
    };
    if !reasons.is_empty() {
        out.push_str("<ul class=\"reasons\">\n");
        for reason in reasons {
            let _ = writeln!(out, "<li class=\"mono\">{}</li>", escape(reason));
        }
        out.push_str("</ul>\n");
    }
    if let Some(transcript) = &result.transcript {
        transcript_section(out, transcript, &result.scenario);
    }
    if let Some(seats) = &result.seats {
        seats_section(out, seats);
    }
    if let Some(matrix) = &result.matrix {
        matrix_section(out, &matrix.table);
        for (index, cell) in matrix.cells.iter().enumerate() {
            let open = if cell.problems.is_empty() {
                ""
            } else {
                " open"
            };
            let _ = writeln!(
                out,
                "<details{open}><summary>combination {}: {}</summary>",
                index + 1,
                escape(&cell.label)
            );
            if let Some(transcript) = &cell.transcript {
                transcript_section(
                    out,
                    transcript,
                    &format!("{}-{}", result.scenario, index + 1),
                );
            }
            out.push_str("</details>\n");
        }
    }
    out.push_str("</section>\n");
}

fn transcript_section(out: &mut String, transcript: &Transcript, id: &str) {
    let _ = writeln!(
        out,
        "<p>{} — seed {}, engine {}, covers {}</p>",
        escape(&transcript.title),
        transcript.seed,
        escape(&transcript.engine),
        escape(&transcript.covers.join(", "))
    );
    out.push_str("<h3>Message flow</h3>\n");
    flow_diagram(out, transcript, id);
    out.push_str("<h3>Transcript</h3>\n<table class=\"transcript\">\n<tr><th>step</th><th>at</th><th>actor</th><th>action</th><th>outcome</th><th>details</th></tr>\n");
    for record in &transcript.records {
        let failing = is_failing(record);
        let _ = write!(
            out,
            "<tr id=\"{}\"{}><td class=\"mark\">{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"outcome-{}\">{}</td><td>",
            step_anchor(id, record),
            if failing { " class=\"failing\"" } else { "" },
            escape(&record.label()),
            record.at,
            escape(&record.actor),
            escape(&record.action),
            outcome_class(&record.outcome),
            escape(&outcome_text(record))
        );
        if let Some(ExpectationCheck::Unmet(mismatches)) = &record.expectation {
            out.push_str("<ul class=\"reasons\">");
            for mismatch in mismatches {
                let _ = write!(out, "<li>{}</li>", escape(mismatch));
            }
            out.push_str("</ul>");
        }
        if !record.details.is_empty() {
            out.push_str("<details><summary>details</summary><div class=\"mono\">");
            for detail in &record.details {
                match &detail.value {
                    DetailValue::Text(text) => {
                        let _ = write!(out, "{}: {}<br>", escape(&detail.key), escape(text));
                    }
                    DetailValue::List(items) => {
                        let _ = write!(out, "{}:<br>", escape(&detail.key));
                        for item in items {
                            let _ = write!(out, "&nbsp;&nbsp;- {}<br>", escape(item));
                        }
                    }
                }
            }
            out.push_str("</div></details>");
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
}

fn matrix_section(out: &mut String, table: &MatrixTable) {
    out.push_str("<h3>Matrix</h3>\n<p>");
    for (key, values) in &table.axes {
        let _ = write!(
            out,
            "<code>{}</code> = {}<br>",
            escape(key),
            escape(&values.join(", "))
        );
    }
    out.push_str("</p>\n");
    table_rows(out, table, "every combination");
}

/// kmlab's engine and each seated implementation side by side, with each seating's counts.
fn seats_section(out: &mut String, seats: &SeatComparison) {
    out.push_str("<h3>Seated implementations</h3>\n<ul class=\"seats\">\n");
    for seat in &seats.seats {
        let counts = &seat.counts;
        let _ = writeln!(
            out,
            "<li><code>{}</code>: {} steps compared ({} through the adapter), {} identical, {} known deviations, {} unexpected</li>",
            escape(&seat.label),
            counts.steps,
            counts.through_adapter,
            counts.identical,
            counts.known_deviations,
            counts.unexpected
        );
    }
    out.push_str("</ul>\n");
    for table in &seats.tables {
        if seats.tables.len() > 1 {
            let _ = writeln!(out, "<h4>{}</h4>", escape(&table.title));
        }
        table_rows(out, table, "every implementation");
    }
}

fn table_rows(out: &mut String, table: &MatrixTable, alike_in: &str) {
    out.push_str("<table class=\"matrix\">\n<tr><th>step</th>");
    for column in &table.columns {
        let _ = write!(out, "<th>{}</th>", escape(&column.label));
    }
    out.push_str("</tr>\n");
    for row in &table.rows {
        match row {
            Row::Differs { step, cells, .. } => {
                let _ = write!(out, "<tr><td>{}</td>", escape(step));
                for cell in cells {
                    match cell {
                        Some(cell) => {
                            let class = cell
                                .outcome
                                .parse::<Outcome>()
                                .map_or("error", |o| outcome_class(&o));
                            let _ = write!(
                                out,
                                "<td class=\"outcome-{class}\">{}</td>",
                                escape(&cell.text())
                            );
                        }
                        None => out.push_str("<td>—</td>"),
                    }
                }
                out.push_str("</tr>\n");
            }
            Row::Same { first, last, count } => {
                let _ = writeln!(
                    out,
                    "<tr class=\"same\"><td colspan=\"{}\"><em>{count} step{} alike in {alike_in}: {} … {}</em></td></tr>",
                    table.columns.len() + 1,
                    if *count == 1 { "" } else { "s" },
                    escape(first),
                    escape(last)
                );
            }
        }
    }
    out.push_str("</table>\n");
}

const LANE_GAP: usize = 150;
const ROW_GAP: usize = 30;
const TOP: usize = 40;
const LEFT: usize = 80;

/// The parties of a transcript, in order of first appearance, administrators first and the
/// SMTP sink last.
fn lanes(transcript: &Transcript) -> Vec<String> {
    let mut lanes: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !lanes.iter().any(|lane| lane == name) {
            lanes.push(name.to_owned());
        }
    };
    add("admin");
    for record in &transcript.records {
        match &record.flow {
            Some(flow) => {
                add(&flow.from);
                add(&flow.to);
            }
            None if record.action != "clock" => add(&lane_of_actor(&record.actor)),
            None => {}
        }
    }
    if let Some(index) = lanes.iter().position(|lane| lane == "sink") {
        let sink = lanes.remove(index);
        lanes.push(sink);
    }
    lanes
}

fn lane_of_actor(actor: &str) -> String {
    if actor.starts_with("admin@") {
        "admin".to_owned()
    } else {
        actor.to_owned()
    }
}

fn flow_diagram(out: &mut String, transcript: &Transcript, id: &str) {
    let lanes = lanes(transcript);
    let x = |name: &str| LEFT + LANE_GAP * lanes.iter().position(|lane| lane == name).unwrap_or(0);
    let width = LEFT * 2 + LANE_GAP * lanes.len().saturating_sub(1);
    let height = TOP + ROW_GAP * (transcript.records.len() + 1);
    let _ = writeln!(
        out,
        "<svg class=\"flow\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"message flow of {}\">",
        escape(&transcript.scenario)
    );
    out.push_str("<defs>");
    for class in ["ok", "info", "warning", "refused", "error"] {
        let _ = write!(
            out,
            "<marker id=\"head-{class}\" class=\"{class}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker>"
        );
    }
    out.push_str("</defs>\n");
    for lane in &lanes {
        let lane_x = x(lane);
        let _ = writeln!(
            out,
            "<text class=\"lane-name\" x=\"{lane_x}\" y=\"20\">{}</text><line class=\"lane\" x1=\"{lane_x}\" y1=\"28\" x2=\"{lane_x}\" y2=\"{}\"/>",
            escape(lane),
            height - 5
        );
    }
    for (row, record) in transcript.records.iter().enumerate() {
        let y = TOP + ROW_GAP * (row + 1);
        if record.action == "clock" {
            let advanced = record
                .detail("advanced")
                .and_then(|detail| match &detail.value {
                    DetailValue::Text(text) => Some(text.as_str()),
                    DetailValue::List(_) => None,
                })
                .unwrap_or("");
            let _ = writeln!(
                out,
                "<g class=\"clock\"><line x1=\"10\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text x=\"12\" y=\"{}\">[{}] clock +{}</text></g>",
                width - 10,
                y - 4,
                escape(&record.label()),
                escape(advanced)
            );
            continue;
        }
        let class = outcome_class(&record.outcome);
        let failing = is_failing(record);
        let (from, to) = match &record.flow {
            Some(flow) => (x(&flow.from), x(&flow.to)),
            None => {
                let lane = x(&lane_of_actor(&record.actor));
                (lane, lane)
            }
        };
        let label = format!(
            "{}[{}] {}: {}",
            if failing { "✗ " } else { "" },
            record.label(),
            record.action,
            outcome_text(record)
        );
        let _ = write!(
            out,
            "<a href=\"#{}\"><g class=\"step {class}{}\" data-step=\"{}\"><title>{} by {}</title>",
            step_anchor(id, record),
            if failing { " failing" } else { "" },
            escape(&record.label()),
            escape(&label),
            escape(&record.actor)
        );
        if from == to {
            let _ = write!(
                out,
                "<path class=\"{class}\" d=\"M{from},{} h24 v12 h-22\" marker-end=\"url(#head-{class})\"/><text class=\"{class}\" x=\"{}\" y=\"{}\">{}</text>",
                y - 8,
                from + 30,
                y,
                escape(&label)
            );
        } else {
            let text_x = from.min(to) + 6;
            let _ = write!(
                out,
                "<line class=\"{class}\" x1=\"{from}\" y1=\"{y}\" x2=\"{to}\" y2=\"{y}\" marker-end=\"url(#head-{class})\"/><text class=\"{class}\" x=\"{text_x}\" y=\"{}\">{}</text>",
                y - 4,
                escape(&label)
            );
        }
        out.push_str("</g></a>\n");
    }
    out.push_str("</svg>\n");
}

fn is_failing(record: &Record) -> bool {
    matches!(record.expectation, Some(ExpectationCheck::Unmet(_)))
}

fn outcome_class(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Info => "info",
        Outcome::Warning => "warning",
        Outcome::Refused => "refused",
        Outcome::Error(_) => "error",
    }
}

fn outcome_text(record: &Record) -> String {
    match &record.reason {
        Some(reason) => format!("{} ({reason})", record.outcome),
        None => record.outcome.to_string(),
    }
}

fn anchor(scenario: &str) -> String {
    scenario
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn step_anchor(id: &str, record: &Record) -> String {
    format!("{}-step-{}", anchor(id), record.label())
}

#[cfg(test)]
mod tests {
    use model::Timestamp;

    use super::*;
    use crate::record::Flow;

    fn record(step: usize, action: &str, outcome: Outcome, flow: Option<Flow>) -> Record {
        Record {
            step,
            line: step + 10,
            at: Timestamp::from_unix(0),
            actor: "alice".into(),
            action: action.into(),
            outcome,
            reason: None,
            details: Vec::new(),
            expectation: None,
            flow,
        }
    }

    #[test]
    fn the_page_draws_every_step_and_marks_the_failing_one() {
        let mut failing = record(
            2,
            "read",
            Outcome::Error(None),
            Some(Flow::new("sink", "alice")),
        );
        failing.expectation = Some(ExpectationCheck::Unmet(vec!["expected ok".into()]));
        let transcript = Transcript {
            scenario: "basic/<x>".into(),
            title: "A & B".into(),
            seed: 1,
            engine: "rustcrypto".into(),
            covers: vec!["KM-07".into()],
            records: vec![
                record(1, "send", Outcome::Ok, Some(Flow::new("alice", "sink"))),
                failing,
            ],
            disagreements: Vec::new(),
        };
        let results = vec![ScenarioResult {
            scenario: "basic/<x>".into(),
            path: "scenarios/basic/x.toml".into(),
            status: ScenarioStatus::Failed {
                reasons: vec!["step 2: expected ok".into()],
            },
            transcript: Some(transcript),
            matrix: None,
            seats: None,
        }];
        let page = render_html(&results);
        assert!(page.contains("data-diagrams=\"1\""));
        assert_eq!(page.matches("<g class=\"step").count(), 2);
        assert!(page.contains("class=\"step error failing\""));
        assert!(page.contains("<tr id=\"basic--x--step-2\" class=\"failing\">"));
        assert!(page.contains("basic/&lt;x&gt;"));
        assert!(!page.contains("basic/<x>"));
        // Self-contained: nothing is fetched from anywhere.
        assert!(!page.contains(" src="));
        assert!(!page.contains("href=\"http"));
    }
}
