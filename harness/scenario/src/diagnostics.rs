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
    read(before.len());
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

// Bytes of source text the index has read, for the tests that check reporting many problems
// reads the text a bounded number of times, not once per problem.
#[cfg(test)]
thread_local! {
    static BYTES_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn read(bytes: usize) {
    #[cfg(test)]
    BYTES_READ.with(|read| read.set(read.get() + bytes));
    #[cfg(not(test))]
    let _ = bytes;
}

impl LineIndex {
    pub(crate) fn new(source: &str) -> Self {
        read(source.len());
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

    /// Where line `line` (from 1) starts.
    fn line_start(&self, line: usize) -> usize {
        line.checked_sub(2)
            .and_then(|index| self.starts.get(index))
            .copied()
            .unwrap_or(0)
    }

    /// The line and column of byte `offset`, reading only its own line: the same as
    /// [`locate`] for an offset on a character boundary.
    pub(crate) fn locate(&self, source: &str, offset: usize) -> Location {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line(offset);
        let start = self.line_start(line).min(offset);
        read(offset - start);
        Location {
            line,
            column: source[start..offset].chars().count() + 1,
        }
    }

    /// The text of line `line` (from 1) without its line end, as `str::lines` gives it.
    pub(crate) fn text<'a>(&self, source: &'a str, line: usize) -> &'a str {
        let start = self.line_start(line).min(source.len());
        let rest = &source[start..];
        let text = rest.find('\n').map_or(rest, |end| &rest[..end]);
        read(text.len());
        text.strip_suffix('\r').unwrap_or(text)
    }
}

/// How many problems are shown in full; the rest are counted. (`located_messages`, and so a
/// run's JSON, has every one.)
pub(crate) const SHOWN_IN_FULL: usize = 50;

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
        let lines = LineIndex::new(&self.text);
        self.items
            .iter()
            .map(|item| {
                if item.span.start > self.text.len() {
                    return format!("a --vary setting: {}", item.message);
                }
                let at = lines.locate(&self.text, item.span.start);
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
        let lines = LineIndex::new(&self.text);
        for (index, item) in self.items.iter().take(SHOWN_IN_FULL).enumerate() {
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
            let at = lines.locate(&self.text, item.span.start);
            writeln!(f, "  --> {}:{}:{}", self.path.display(), at.line, at.column)?;
            let text = lines.text(&self.text, at.line);
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
            if let Some(help) = &item.help {
                writeln!(f, "  = help: {help}")?;
            }
        }
        let count = self.items.len();
        if count > SHOWN_IN_FULL {
            writeln!(
                f,
                "\n... and {} more problem{} not shown",
                count - SHOWN_IN_FULL,
                if count - SHOWN_IN_FULL == 1 { "" } else { "s" }
            )?;
        }
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
        let source = "été = 1\r\nbb = \"ø\"\n\nlast";
        let lines = LineIndex::new(source);
        for offset in (0..=source.len()).filter(|offset| source.is_char_boundary(*offset)) {
            assert_eq!(
                lines.locate(source, offset),
                locate(source, offset),
                "{offset}"
            );
        }
        let texts: Vec<&str> = (1..=4).map(|line| lines.text(source, line)).collect();
        assert_eq!(texts, source.lines().collect::<Vec<_>>());
    }

    #[test]
    fn twenty_thousand_problems_are_reported_in_one_pass_over_the_text() {
        const PROBLEMS: usize = 20_000;
        let source: String = (0..PROBLEMS)
            .map(|n| format!("unknown_key_{n} = \"a value\"\n"))
            .collect();
        let mut items = Vec::new();
        let mut offset = 0;
        for line in source.split_inclusive('\n') {
            items.push(Diagnostic::new(offset..offset + 11, "unknown key"));
            offset += line.len();
        }
        let diagnostics = Diagnostics::new(Path::new("s.toml"), &source, items);
        BYTES_READ.with(|read| read.set(0));
        let located = diagnostics.located_messages();
        let rendered = diagnostics.to_string();
        let read = BYTES_READ.with(std::cell::Cell::get);
        assert_eq!(located.len(), PROBLEMS);
        assert_eq!(
            located[PROBLEMS - 1],
            format!("s.toml:{PROBLEMS}:1: unknown key")
        );
        assert!(rendered.len() < 10_000, "{} bytes printed", rendered.len());
        // Indexing the text twice (once to locate, once to render) and each problem's own
        // line: rescanning from the start for each problem would read about
        // PROBLEMS × len / 2 bytes, ten thousand times more.
        assert!(
            read <= 3 * source.len(),
            "{read} bytes read for a text of {} bytes",
            source.len()
        );
    }

    #[test]
    fn shows_the_first_problems_in_full_and_counts_the_rest() {
        let source: String = (0..SHOWN_IN_FULL + 7)
            .map(|n| format!("k{n} = 1\n"))
            .collect();
        let items = (0..SHOWN_IN_FULL + 7)
            .map(|n| {
                let start = source.find(&format!("k{n} ")).unwrap();
                Diagnostic::new(start..start + 1, format!("unknown key {n}"))
            })
            .collect();
        let diagnostics = Diagnostics::new(Path::new("s.toml"), &source, items);
        let text = diagnostics.to_string();
        assert_eq!(text.matches("error: ").count(), SHOWN_IN_FULL, "{text}");
        let last = SHOWN_IN_FULL - 1;
        assert!(
            text.contains(&format!("  --> s.toml:{}:1\n", last + 1)),
            "{text}"
        );
        assert!(
            text.contains(&format!("{} | k{last} = 1\n", last + 1)),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(
                "... and 7 more problems not shown\n{} problems in s.toml",
                SHOWN_IN_FULL + 7
            )),
            "{text}"
        );
        let located = diagnostics.located_messages();
        assert_eq!(located.len(), SHOWN_IN_FULL + 7);
        assert_eq!(
            located[SHOWN_IN_FULL + 6],
            format!(
                "s.toml:{}:1: unknown key {}",
                SHOWN_IN_FULL + 7,
                SHOWN_IN_FULL + 6
            )
        );
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
