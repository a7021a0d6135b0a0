//! Located problems in a scenario file, rendered the way compilers show them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem at one place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Byte range in the source.
    pub span: Range<usize>,
    /// What is wrong, as a lowercase fragment.
    pub message: String,
    /// What would be right, if there is something to say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `span`.
    pub fn new(span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every problem found in one file, with the source to show them against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// The problems, in file order.
    pub items: Vec<Diagnostic>,
}

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number, from 1.
    pub column: usize,
}

/// The line and column of byte `offset` in `source`.
pub fn locate(source: &str, offset: usize) -> Location {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    Location { line, column }
}

/// Where each line of a source starts, for finding many lines without reading the source
/// from the start each time (a generated scenario has hundreds of thousands of steps).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// The offset just after every `\n`, in order.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(source: &str) -> Self {
        Self {
            starts: source
                .bytes()
                .enumerate()
                .filter(|(_, byte)| *byte == b'\n')
                .map(|(index, _)| index + 1)
                .collect(),
        }
    }

    /// The line number, from 1, of byte `offset`: the same as `locate(source, offset).line`.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset) + 1
    }
}

impl Diagnostics {
    /// Collects problems for `path`, sorted by position.
    pub fn new(path: &Path, source: &str, mut items: Vec<Diagnostic>) -> Self {
        items.sort_by_key(|item| (item.span.start, item.span.end));
        items.dedup();
        Self {
            path: path.to_path_buf(),
            text: source.to_owned(),
            items,
        }
    }

    /// Each problem as `file:line:col: message`.
    pub fn located_messages(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|item| {
                if item.span.start > self.text.len() {
                    return format!("a --vary setting: {}", item.message);
                }
                let at = locate(&self.text, item.span.start);
                format!(
                    "{}:{}:{}: {}",
                    self.path.display(),
                    at.line,
                    at.column,
                    item.message
                )
            })
            .collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, item) in self.items.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            writeln!(f, "error: {}", item.message)?;
            if item.span.start > self.text.len() {
                // A setting made on the command line, not in the file.
                writeln!(f, "  --> a --vary setting")?;
                if let Some(help) = &item.help {
                    writeln!(f, "  = help: {help}")?;
                }
                continue;
            }
            let at = locate(&self.text, item.span.start);
            writeln!(f, "  --> {}:{}:{}", self.path.display(), at.line, at.column)?;
            if let Some(text) = self.text.lines().nth(at.line - 1) {
                let gutter = at.line.to_string().len();
                let line_end = self.text[item.span.start.min(self.text.len())..]
                    .find('\n')
                    .map_or(self.text.len(), |offset| item.span.start + offset);
                let width = item.span.end.min(line_end).saturating_sub(item.span.start);
                let width = self
                    .text
                    .get(item.span.start..item.span.start + width)
                    .map_or(1, |underlined| underlined.chars().count().max(1));
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {}", at.line, text)?;
                writeln!(
                    f,
                    "{:gutter$} | {}{}",
                    "",
                    " ".repeat(at.column - 1),
                    "^".repeat(width)
                )?;
            }
            if let Some(help) = &item.help {
                writeln!(f, "  = help: {help}")?;
            }
        }
        let count = self.items.len();
        write!(
            f,
            "{} problem{} in {}",
            count,
            if count == 1 { "" } else { "s" },
            self.path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_columns() {
        let source = "a = 1\nbb = 2\n";
        assert_eq!(locate(source, 0), Location { line: 1, column: 1 });
        assert_eq!(locate(source, 6), Location { line: 2, column: 1 });
        assert_eq!(locate(source, 9), Location { line: 2, column: 4 });
        let lines = LineIndex::new(source);
        for offset in 0..=source.len() + 2 {
            assert_eq!(lines.line(offset), locate(source, offset).line, "{offset}");
        }
    }

    #[test]
    fn renders_with_a_caret_under_the_span() {
        let diagnostics = Diagnostics::new(
            Path::new("s.toml"),
            "title = 1\n",
            vec![Diagnostic::new(8..9, "expected a string").with_help("quote it")],
        );
        let text = diagnostics.to_string();
        assert!(text.contains("  --> s.toml:1:9"), "{text}");
        assert!(text.contains("1 | title = 1\n  |         ^\n"), "{text}");
        assert!(text.contains("= help: quote it"), "{text}");
        assert_eq!(
            diagnostics.located_messages(),
            ["s.toml:1:9: expected a string"]
        );
    }
}
