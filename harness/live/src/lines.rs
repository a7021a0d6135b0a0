//! Line framing shared by the text protocols: complete lines out of a byte stream, with a
//! bound on their length.

/// What the next piece of buffered input is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A complete line, without its line ending.
    Complete(Vec<u8>),
    /// A line longer than allowed; its bytes up to the next line end have been discarded (or
    /// will be, as they arrive).
    TooLong,
}

/// Buffers input and cuts it into lines ending in LF (CRLF, or a bare LF from a lax client).
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    buffer: Vec<u8>,
    /// Discarding the rest of an overlong line.
    skipping: bool,
}

impl LineBuffer {
    pub(crate) fn push(&mut self, input: &[u8]) {
        self.buffer.extend_from_slice(input);
    }

    /// Drops everything buffered (after STARTTLS, plaintext input must not carry over).
    pub(crate) fn clear(&mut self) {
        self.buffer.clear();
        self.skipping = false;
    }

    /// The next line, if one is complete or already too long.
    pub(crate) fn next_line(&mut self, max: usize) -> Option<Line> {
        match self.buffer.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if std::mem::take(&mut self.skipping) {
                    // The tail of a line already refused.
                    return self.next_line(max);
                }
                if line.len() + 2 > max {
                    return Some(Line::TooLong);
                }
                Some(Line::Complete(line))
            }
            None if self.buffer.len() + 2 > max => {
                self.buffer.clear();
                if self.skipping {
                    None
                } else {
                    self.skipping = true;
                    Some(Line::TooLong)
                }
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlong_line_is_refused_once_and_its_tail_skipped() {
        let mut lines = LineBuffer::default();
        lines.push(b"0123456789");
        assert_eq!(lines.next_line(8), Some(Line::TooLong));
        lines.push(b"abc\r\nok\r\n");
        assert_eq!(lines.next_line(8), Some(Line::Complete(b"ok".to_vec())));
        assert_eq!(lines.next_line(8), None);
    }
}
