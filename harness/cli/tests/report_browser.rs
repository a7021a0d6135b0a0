//! The HTML report in a real browser: headless Chromium loads the page offline, its
//! message-flow diagrams lay out, and a failing step is marked.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{bobs_deviations, kmlab, text, unsupported_adapter, workspace};

/// Chromium's headless flags for a machine with no network and no desktop session.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let profile = format!("--user-data-dir={}", profile.display());
    Command::new("chromium")
        .args(CHROMIUM_FLAGS)
        .arg(profile)
        .args(args)
        .output()
        .expect("chromium (Debian package `chromium`, installed by ci/install-deps.sh)")
}

/// The value of `attribute` on the page's `<body>` element.
fn body_attribute(dom: &str, attribute: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let body = &body[..body.find('>')?];
    let start = body.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

#[test]
fn chromium_draws_the_diagrams_and_marks_the_failing_step() {
    let project = tempfile::tempdir().unwrap();
    let scenarios = project.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::create_dir_all(project.path().join("snapshots")).unwrap();
    // One scenario as it is and a copy whose expectation does not hold.
    let source =
        std::fs::read_to_string(workspace().join("scenarios/basic/signed-encrypted-message.toml"))
            .unwrap();
    std::fs::write(scenarios.join("good.toml"), &source).unwrap();
    std::fs::write(
        scenarios.join("broken.toml"),
        source.replace(
            "decrypted-with = \"bob enc#1\"",
            "decrypted-with = \"bob enc#9\"",
        ),
    )
    .unwrap();
    let update = kmlab(&["run", "--update", "scenarios/good.toml"], project.path());
    assert_eq!(update.status.code(), Some(0), "{}", text(&update.stdout));

    let report = project.path().join("report");
    let output = kmlab(
        &["report", report.to_str().unwrap(), "scenarios"],
        project.path(),
    );
    // The broken copy fails the run; the report is written all the same.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let page = report.join("index.html");
    assert!(page.is_file());

    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.display());
    let dump = chromium(
        profile.path(),
        &["--virtual-time-budget=5000", "--dump-dom", &url],
    );
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let dom = text(&dump.stdout);
    let expected = body_attribute(&dom, "data-diagrams").unwrap();
    assert_eq!(expected, "2", "one diagram per scenario");
    assert_eq!(
        body_attribute(&dom, "data-diagrams-drawn").as_deref(),
        Some(expected.as_str()),
        "every diagram laid out with a size"
    );
    // The failing step stands out in the diagram and in the transcript; the others do not.
    assert_eq!(
        dom.matches("failing\" data-step=\"10\"").count(),
        1,
        "{dom}"
    );
    assert_eq!(
        dom.matches("<tr id=\"broken-step-10\" class=\"failing\">")
            .count(),
        1
    );
    assert_eq!(dom.matches(" failing\" data-step=").count(), 1);
    assert!(dom.contains("expected decrypted-with = \"bob enc#9\""));

    let screenshot = project.path().join("report.png");
    let shot = chromium(
        profile.path(),
        &[
            "--hide-scrollbars",
            "--window-size=1200,1600",
            &format!("--screenshot={}", screenshot.display()),
            &url,
        ],
    );
    assert!(shot.status.success(), "{}", text(&shot.stderr));
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
}

#[test]
fn chromium_shows_a_seated_implementation_beside_kmlab() {
    // Bob's seat taken by an adapter that answers every request `unsupported`: his read of
    // Alice's message differs from kmlab's, and the deviations file lists it.
    let dir = tempfile::tempdir().unwrap();
    let deviations = dir.path().join("deviations.toml");
    std::fs::write(&deviations, bobs_deviations("[10]")).unwrap();
    let adapter = unsupported_adapter();
    let report = dir.path().join("report");
    let output = kmlab(
        &[
            "report",
            report.to_str().unwrap(),
            "scenarios/basic/signed-encrypted-message.toml",
            "--seat",
            &format!("bob={}", adapter.display()),
            "--adapter-deviations",
            deviations.to_str().unwrap(),
        ],
        &workspace(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));

    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", report.join("index.html").display());
    let dump = chromium(
        profile.path(),
        &["--virtual-time-budget=5000", "--dump-dom", &url],
    );
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let dom = text(&dump.stdout);
    assert_eq!(body_attribute(&dom, "data-diagrams").as_deref(), Some("1"));
    assert_eq!(
        body_attribute(&dom, "data-diagrams-drawn").as_deref(),
        Some("1")
    );
    let seats = &dom[dom
        .find("<h3>Seated implementations</h3>")
        .expect("a seats section")..];
    assert!(
        seats.contains("<code>bob=unsupported</code>: 13 steps compared (1 through the adapter), 12 identical, 1 known deviations, 0 unexpected"),
        "{seats}"
    );
    // The side-by-side table: kmlab's column, then the seat's; the differing step in a row.
    let table = &seats[seats.find("<table class=\"matrix\">").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(
        table.contains("<th>step</th><th>kmlab</th><th>bob=unsupported</th>"),
        "{table}"
    );
    let row = &table[table.find("[10] read by bob").expect("the differing step")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("ok") && row.contains("error (unsupported)"),
        "{row}"
    );
}
