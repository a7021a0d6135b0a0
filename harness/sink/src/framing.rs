//! Cutting the inbound byte stream into command lines and message data.
//!
//! Only CRLF ends a line. A bare LF or CR is never taken as a line end, so the
//! `\n.\r\n` pattern cannot end a message early (SMTP smuggling); such data is marked and the
//! session refuses the whole message.

/// One unit the command reader produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// A complete command line without its CRLF.
    Line(Vec<u8>),
    /// A line longer than the limit; it was discarded.
    TooLong,
    /// A line ended by a bare LF; it was discarded.
    BareLineFeed,
}

/// What is wrong with message data, if anything; the first problem found wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataProblem {
    /// A bare LF followed by `.` and CRLF: the SMTP smuggling pattern.
    Smuggling,
    /// A bare CR followed by `.` and CRLF: the same pattern with a CR, which some servers
    /// also take as a line end.
    SmugglingCarriageReturn,
    /// A bare LF inside a line.
    BareLineFeed,
    /// A bare CR inside a line.
    BareCarriageReturn,
    /// A line longer than the limit.
    LineTooLong,
    /// More data than the size limit.
    TooBig,
}

/// The end of a DATA section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEnd {
    /// The message, dot-unstuffed, every line ending in CRLF.
    Complete(Vec<u8>),
    /// The data was read to its end but must be refused.
    Refused(DataProblem),
}

/// Reads one DATA section line by line, keeping at most the size limit in memory.
#[derive(Debug)]
pub struct DataReader {
    data: Vec<u8>,
    max_size: usize,
    max_line: usize,
    problem: Option<DataProblem>,
    /// Bytes of the current over-long line already discarded.
    discarding_line: bool,
}

impl DataReader {
    /// A reader for a message of at most `max_size` bytes and lines of at most `max_line`
    /// bytes including CRLF.
    pub fn new(max_size: usize, max_line: usize) -> Self {
        Self {
            data: Vec::new(),
            max_size,
            max_line,
            problem: None,
            discarding_line: false,
        }
    }

    fn flag(&mut self, problem: DataProblem) {
        if self.problem.is_none() {
            self.problem = Some(problem);
            self.data = Vec::new();
        }
    }

    fn take_line(&mut self, line: &[u8]) {
        // Length first, as for commands: a long line that arrives in pieces is refused for
        // its length before the rest of it is seen.
        if line.len() + 2 > self.max_line {
            self.flag(DataProblem::LineTooLong);
        }
        // The bare line end just before the final `.` names the pattern.
        if line.ends_with(b"\n.") {
            self.flag(DataProblem::Smuggling);
        } else if line.ends_with(b"\r.") {
            self.flag(DataProblem::SmugglingCarriageReturn);
        } else if line.contains(&b'\n') {
            self.flag(DataProblem::BareLineFeed);
        } else if line.contains(&b'\r') {
            self.flag(DataProblem::BareCarriageReturn);
        }
        if self.problem.is_some() {
            return;
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        if self.data.len() + line.len() + 2 > self.max_size {
            self.flag(DataProblem::TooBig);
            return;
        }
        self.data.extend_from_slice(line);
        self.data.extend_from_slice(b"\r\n");
    }
}

/// The inbound bytes of one connection, not yet consumed.
#[derive(Debug, Default)]
pub struct Inbound {
    buffer: Vec<u8>,
    start: usize,
    discarding_command: bool,
}

impl Inbound {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    fn pending(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    /// Drops every byte not yet consumed (what a client pipelined after STARTTLS).
    pub fn discard(&mut self) {
        self.start = self.buffer.len();
        self.discarding_command = false;
    }

    /// Whether bytes are waiting.
    pub fn is_empty(&self) -> bool {
        self.pending().is_empty()
    }

    /// The next command line, if a whole one has arrived; lines longer than `max` (including
    /// CRLF) are discarded and reported once.
    pub fn next_command(&mut self, max: usize) -> Option<CommandLine> {
        loop {
            let pending = self.pending();
            match pending.iter().position(|&b| b == b'\n') {
                None => {
                    if pending.len() > max {
                        self.start = self.buffer.len();
                        if !self.discarding_command {
                            self.discarding_command = true;
                            return Some(CommandLine::TooLong);
                        }
                    }
                    return None;
                }
                Some(newline) => {
                    let line = pending[..newline].to_vec();
                    self.start += newline + 1;
                    if self.discarding_command {
                        self.discarding_command = false;
                        continue;
                    }
                    // Length first, whatever ends the line: a line that arrives in pieces is
                    // judged too long before its end is seen, and the verdict must not depend
                    // on how the stream was cut.
                    if newline + 1 > max {
                        return Some(CommandLine::TooLong);
                    }
                    let Some(line) = line.strip_suffix(b"\r") else {
                        return Some(CommandLine::BareLineFeed);
                    };
                    return Some(CommandLine::Line(line.to_vec()));
                }
            }
        }
    }

    /// Feeds whole data lines to `reader`; returns the end of data once `.` CRLF arrives.
    pub fn next_data(&mut self, reader: &mut DataReader) -> Option<DataEnd> {
        loop {
            let pending = self.pending();
            let Some(end) = pending.windows(2).position(|pair| pair == b"\r\n") else {
                // Keep a trailing CR: it may be the first half of the next CRLF.
                let keep = usize::from(pending.last() == Some(&b'\r'));
                let partial = pending.len() - keep;
                if partial > reader.max_line {
                    reader.discarding_line = true;
                    reader.flag(DataProblem::LineTooLong);
                    self.start += partial;
                }
                return None;
            };
            let line = pending[..end].to_vec();
            self.start += end + 2;
            if reader.discarding_line {
                reader.discarding_line = false;
                continue;
            }
            if line == b"." {
                let reader = std::mem::replace(reader, DataReader::new(0, 0));
                return Some(match reader.problem {
                    Some(problem) => DataEnd::Refused(problem),
                    None => DataEnd::Complete(reader.data),
                });
            }
            reader.take_line(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(input: &[u8]) -> Option<DataEnd> {
        let mut inbound = Inbound::default();
        inbound.push(input);
        inbound.next_data(&mut DataReader::new(1 << 20, 1000))
    }

    #[test]
    fn commands_end_only_at_crlf() {
        let mut inbound = Inbound::default();
        inbound.push(b"NOOP\r\nHELO x\nQUIT\r");
        assert_eq!(
            inbound.next_command(512),
            Some(CommandLine::Line(b"NOOP".to_vec()))
        );
        assert_eq!(inbound.next_command(512), Some(CommandLine::BareLineFeed));
        assert_eq!(inbound.next_command(512), None);
        inbound.push(b"\n");
        assert_eq!(
            inbound.next_command(512),
            Some(CommandLine::Line(b"QUIT".to_vec()))
        );
    }

    #[test]
    fn overlong_command_is_reported_once_and_skipped() {
        let mut inbound = Inbound::default();
        inbound.push(&[b'A'; 600]);
        assert_eq!(inbound.next_command(512), Some(CommandLine::TooLong));
        inbound.push(&[b'A'; 600]);
        assert_eq!(inbound.next_command(512), None);
        inbound.push(b"\r\nNOOP\r\n");
        assert_eq!(
            inbound.next_command(512),
            Some(CommandLine::Line(b"NOOP".to_vec()))
        );
    }

    #[test]
    fn data_is_unstuffed_and_kept_byte_for_byte() {
        assert_eq!(
            data(b"a\r\n..b\r\n\r\n.\r\n"),
            Some(DataEnd::Complete(b"a\r\n.b\r\n\r\n".to_vec()))
        );
        assert_eq!(data(b".\r\n"), Some(DataEnd::Complete(Vec::new())));
    }

    #[test]
    fn smuggling_pattern_does_not_end_data() {
        assert_eq!(data(b"a\r\nb\n.\r\nMAIL FROM:<x@y>\r\n"), None);
        assert_eq!(
            data(b"a\r\nb\n.\r\nMAIL FROM:<x@y>\r\n.\r\n"),
            Some(DataEnd::Refused(DataProblem::Smuggling))
        );
    }

    /// Regression: `hello\r.\r\n` has no LF, yet was refused as "bare LF before '.'".
    #[test]
    fn a_bare_cr_before_the_dot_is_named_as_such() {
        assert_eq!(
            data(b"hello\r.\r\n.\r\n"),
            Some(DataEnd::Refused(DataProblem::SmugglingCarriageReturn))
        );
        assert_eq!(
            data(b"a\nb\r.\r\n.\r\n"),
            Some(DataEnd::Refused(DataProblem::SmugglingCarriageReturn))
        );
    }

    #[test]
    fn bare_line_ends_are_refused() {
        assert_eq!(
            data(b"a\nb\r\n.\r\n"),
            Some(DataEnd::Refused(DataProblem::BareLineFeed))
        );
        assert_eq!(
            data(b"a\rb\r\n.\r\n"),
            Some(DataEnd::Refused(DataProblem::BareCarriageReturn))
        );
    }

    #[test]
    fn limits_refuse_but_read_to_the_end() {
        let mut long = vec![b'x'; 2000];
        long.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(
            data(&long),
            Some(DataEnd::Refused(DataProblem::LineTooLong))
        );
        let mut inbound = Inbound::default();
        inbound.push(b"0123456789\r\n0123456789\r\n.\r\n");
        assert_eq!(
            inbound.next_data(&mut DataReader::new(15, 1000)),
            Some(DataEnd::Refused(DataProblem::TooBig))
        );
    }

    /// Replies must not depend on how TCP happened to cut the stream.
    #[test]
    fn over_long_lines_are_judged_the_same_whole_or_in_pieces() {
        let mut line = vec![b'H'; 100];
        line.extend_from_slice(b"\nNOOP\r\n");
        let mut whole = Inbound::default();
        whole.push(&line);
        let mut pieces = Inbound::default();
        let mut from_pieces = Vec::new();
        for chunk in line.chunks(3) {
            pieces.push(chunk);
            while let Some(next) = pieces.next_command(64) {
                from_pieces.push(next);
            }
        }
        let from_whole: Vec<_> = std::iter::from_fn(|| whole.next_command(64)).collect();
        assert_eq!(
            from_whole,
            [CommandLine::TooLong, CommandLine::Line(b"NOOP".to_vec())]
        );
        assert_eq!(from_pieces, from_whole);

        let mut data = vec![b'x'; 50];
        data.extend_from_slice(b"\nmore\r\n.\r\n");
        let mut reader = DataReader::new(1 << 20, 40);
        let mut pieces = Inbound::default();
        let mut end = None;
        for chunk in data.chunks(7) {
            pieces.push(chunk);
            end = end.or(pieces.next_data(&mut reader));
        }
        let whole = {
            let mut inbound = Inbound::default();
            inbound.push(&data);
            inbound.next_data(&mut DataReader::new(1 << 20, 40))
        };
        assert_eq!(whole, Some(DataEnd::Refused(DataProblem::LineTooLong)));
        assert_eq!(end, whole);
    }

    #[test]
    fn data_may_arrive_one_byte_at_a_time() {
        let input = b"x\r\n..\r\n.\r\n";
        let mut inbound = Inbound::default();
        let mut reader = DataReader::new(1 << 20, 1000);
        let mut end = None;
        for byte in input {
            inbound.push(&[*byte]);
            if let Some(done) = inbound.next_data(&mut reader) {
                end = Some(done);
            }
        }
        assert_eq!(end, Some(DataEnd::Complete(b"x\r\n.\r\n".to_vec())));
    }
}
