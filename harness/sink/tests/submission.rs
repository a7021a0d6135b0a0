//! Real submission clients against an embedded sink with [`Submission`]: Python's smtplib
//! (`starttls`, `login`, `sendmail`) and swaks (`--auth PLAIN --tls`) upgrade to TLS,
//! authenticate and deliver, and the stored message records who submitted it (LIVE-03).
#![expect(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::process::Command;

use sink::{EmbeddedSink, Limits, Store, Submission, TlsConfig};

fn sink(require_auth: bool) -> EmbeddedSink {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = TlsConfig::new(
        &[certified.cert.der().to_vec()],
        &certified.signing_key.serialize_der(),
    )
    .unwrap();
    let submission = Submission {
        credentials: [("bob".to_owned(), "s3cret".to_owned())].into(),
        tls: Some(tls),
        require_auth,
    };
    EmbeddedSink::start_with_submission(Limits::default(), Store::in_memory(), submission).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn smtplib_starttls_login_and_sendmail_deliver_as_the_logged_in_user() {
    let sink = sink(true);
    let script = r#"
import smtplib, ssl, sys
port = int(sys.argv[1])
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
    smtp.ehlo("client.example")
    assert smtp.has_extn("starttls"), smtp.esmtp_features
    try:
        smtp.sendmail("bob@x.test", ["carol@x.test"], b"Subject: early\r\n\r\nno\r\n")
        raise SystemExit("MAIL before AUTH was accepted")
    except smtplib.SMTPSenderRefused as refused:
        assert refused.smtp_code == 530, refused
    smtp.starttls(context=context)
    smtp.ehlo("client.example")
    assert not smtp.has_extn("starttls")
    try:
        smtp.login("bob", "wrong")
        raise SystemExit("a wrong password was accepted")
    except smtplib.SMTPAuthenticationError as refused:
        assert refused.smtp_code == 535, refused
    # smtplib's login() tries the server's mechanisms in its own order; this one is PLAIN.
    code, _ = smtp.login("bob", "s3cret")
    assert code == 235, code
    smtp.sendmail("bob@x.test", ["carol@x.test"], b"Subject: via smtplib\r\n\r\nhello\r\n")
    print("smtplib delivered over", smtp.sock.version())
"#;
    let output = Command::new("python3")
        .args(["-c", script, &sink.address().port().to_string()])
        .output()
        .expect("python3 is installed (ci/install-deps.sh)");
    assert!(
        output.status.success(),
        "smtplib: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    println!("{}", text(&output.stdout).trim());
    let stored = sink.store().mailbox("carol@x.test");
    assert_eq!(stored.len(), 1, "one message, the one sent after AUTH");
    assert_eq!(stored[0].authenticated.as_deref(), Some("bob"));
    assert_eq!(
        &*stored[0].data().unwrap(),
        b"Subject: via smtplib\r\n\r\nhello\r\n"
    );
}

#[test]
fn swaks_auth_plain_over_starttls_delivers_as_the_logged_in_user() {
    let sink = sink(true);
    let port = sink.address().port().to_string();
    let swaks = |password: &str| {
        Command::new("swaks")
            .args([
                "--server",
                "127.0.0.1",
                "--port",
                &port,
                "--from",
                "bob@x.test",
                "--to",
                "dave@x.test",
                "--tls",
                "--auth",
                "PLAIN",
                "--auth-user",
                "bob",
                "--auth-password",
                password,
                "--header",
                "Subject: via swaks",
                "--body",
                "hello",
                "--timeout",
                "20",
            ])
            .output()
            .expect("swaks is installed (ci/install-deps.sh)")
    };
    let refused = swaks("wrong");
    assert!(!refused.status.success());
    assert!(
        text(&refused.stdout).contains("535 5.7.8"),
        "{}",
        text(&refused.stdout)
    );
    let output = swaks("s3cret");
    let transcript = text(&output.stdout);
    assert!(output.status.success(), "swaks: {transcript}");
    assert!(
        transcript.contains("<-  220 2.0.0 ready to start TLS"),
        "{transcript}"
    );
    assert!(transcript.contains("235 2.7.0"), "{transcript}");
    let stored = sink.store().mailbox("dave@x.test");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].authenticated.as_deref(), Some("bob"));
    assert!(
        text(&stored[0].data().unwrap()).contains("Subject: via swaks"),
        "{transcript}"
    );
}
