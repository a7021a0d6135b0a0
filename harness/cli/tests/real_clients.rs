//! Real SMTP clients against `kmlab sink`: Python's smtplib and swaks deliver to it, pipelined
//! and not, with lines that start with dots and a 5 MiB message, and the sink must store the
//! bytes exactly; a bare LF and the `\n.\r\n` smuggling pattern must be refused.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Sink, text};

fn stored(maildir: &Path, recipient: &str) -> Vec<Vec<u8>> {
    let folder = maildir.join(recipient).join("new");
    let mut names: Vec<_> = std::fs::read_dir(&folder)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// swaks delivers `data` to `to`, pipelined or not, and must succeed.
fn swaks(port: &str, to: &str, data: &Path, pipelining: bool) {
    let mut command = Command::new("swaks");
    command
        .args(["--server", "127.0.0.1", "--port", port])
        .args([
            "--from",
            "a@x.test",
            "--to",
            to,
            "--suppress-data",
            "--data",
        ])
        .arg(data);
    if pipelining {
        command.arg("--pipeline");
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "swaks: {}", text(&output.stdout));
}

const SMTPLIB: &str = r#"
import smtplib, sys
port, dots, big = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port)
s.ehlo()
assert s.has_extn("pipelining") and s.has_extn("size") and s.has_extn("8bitmime")
s.sendmail("a@x.test", ["dots@x.test"], open(dots, "rb").read())
s.sendmail("a@x.test", ["big@x.test"], open(big, "rb").read())
def raw(data):
    s.mail("a@x.test")
    s.rcpt("raw@x.test")
    s.putcmd("data")
    assert s.getreply()[0] == 354
    s.send(data)
    return s.getreply()
code, text = raw(b"Subject: bare\r\n\r\nline one\nline two\r\n.\r\n")
print(code, text.decode())
code, text = raw(b"Subject: smuggle\r\n\r\nhello\n.\r\nMAIL FROM:<m@evil.test>\r\nRCPT TO:<raw@x.test>\r\nDATA\r\nspoofed\r\n.\r\n")
print(code, text.decode())
s.quit()
"#;

#[test]
fn smtplib_and_swaks_deliver_byte_for_byte_and_bare_line_ends_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let sink = Sink::start(&maildir, &[]);
    let port = sink.port.to_string();

    let dots =
        b"Subject: dots\r\n\r\n.one leading dot\r\n..two leading dots\r\n.\r\nend\r\n".to_vec();
    let mut big = b"Subject: five mebibytes\r\n\r\n".to_vec();
    while big.len() < 5 * 1024 * 1024 {
        big.extend_from_slice(
            b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n",
        );
    }
    let dots_file = dir.path().join("dots.eml");
    let big_file = dir.path().join("big.eml");
    std::fs::write(&dots_file, &dots).unwrap();
    std::fs::write(&big_file, &big).unwrap();

    let python = Command::new("python3")
        .args(["-c", SMTPLIB, &port])
        .arg(&dots_file)
        .arg(&big_file)
        .output()
        .unwrap();
    assert!(python.status.success(), "smtplib: {}", text(&python.stderr));
    let replies = text(&python.stdout);
    assert!(
        replies.contains("550 5.6.11 message refused: bare LF in data"),
        "{replies}"
    );
    assert!(
        replies.contains("550 5.6.11 message refused: bare LF before '.'"),
        "{replies}"
    );
    assert_eq!(stored(&maildir, "dots@x.test"), std::slice::from_ref(&dots));
    let big_stored = stored(&maildir, "big@x.test");
    assert_eq!(big_stored.len(), 1);
    assert!(big_stored[0] == big, "the 5 MiB message changed");
    assert!(stored(&maildir, "raw@x.test").is_empty());

    // swaks ends the data with CRLF.CRLF itself, so the file leaves out the last line break;
    // --pipeline sends MAIL, RCPT and DATA in one go.
    let swaks_message = b"Subject: swaks\r\n\r\n.a leading dot\r\n..and two\r\nlast line";
    let swaks_file = dir.path().join("swaks.eml");
    std::fs::write(&swaks_file, swaks_message).unwrap();
    for (recipient, pipelining) in [("piped@x.test", true), ("plain@x.test", false)] {
        swaks(&port, recipient, &swaks_file, pipelining);
        let mut expected = swaks_message.to_vec();
        expected.extend_from_slice(b"\r\n");
        assert_eq!(stored(&maildir, recipient), [expected], "{recipient}");
    }
    let mut big_swaks = big.clone();
    big_swaks.truncate(big.len() - 2);
    let big_swaks_file = dir.path().join("big-swaks.eml");
    std::fs::write(&big_swaks_file, &big_swaks).unwrap();
    swaks(&port, "big-swaks@x.test", &big_swaks_file, true);
    assert!(
        stored(&maildir, "big-swaks@x.test") == [big],
        "the 5 MiB message changed"
    );
}
