//! Real mail clients against the live servers over loopback: curl (IMAP, POP3, STARTTLS),
//! Python's imaplib and poplib (with STARTTLS and STLS), ldapsearch, s-nail and mutt. A
//! missing tool fails its test: `ci/install-deps.sh` installs them all.
#![expect(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use live::{
    Accounts, Directory, DirectoryEntry, DirectorySnapshot, Event, EventLog, Flag, LiveConfig,
    LiveServers, MailboxName, Mailboxes, Protocol, TlsConfig,
};
use model::{CertificateDer, PrivateKeyDer, Timestamp};

const PLAIN: &[u8] = b"From: Bob Example <bob@example.test>\r\n\
To: Alice Example <alice@example.test>\r\n\
Subject: plain hello\r\n\
Date: Thu, 1 Mar 2001 09:00:00 +0000\r\n\
Message-ID: <plain@example.test>\r\n\
\r\n\
Hello Alice.\r\n\
.A line that starts with a dot.\r\n";

const SIGNED: &[u8] = b"From: Bob Example <bob@example.test>\r\n\
To: Alice Example <alice@example.test>\r\n\
Subject: signed hello\r\n\
Date: Thu, 1 Mar 2001 09:05:00 +0000\r\n\
Message-ID: <signed@example.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"----B1\"\r\n\
\r\n\
This is an S/MIME signed message\r\n\
\r\n\
------B1\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Signed text.\r\n\
------B1\r\n\
Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\
\r\n\
MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAA==\r\n\
------B1--\r\n";

struct World {
    servers: LiveServers,
    mailboxes: Mailboxes,
    log: Arc<EventLog>,
    certificate: CertificateDer,
}

fn self_signed() -> (CertificateDer, PrivateKeyDer) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    (
        CertificateDer::new(generated.cert.der().to_vec()),
        PrivateKeyDer::new(generated.signing_key.serialize_der()),
    )
}

fn start() -> World {
    // The sink's own store, as the runner's embedded sink keeps it: mail reaches the live
    // users' folders by delivery, and logins open the folders of their address.
    let store = sink::Store::in_memory();
    let start = u64::try_from(Timestamp::DEFAULT_START.unix()).unwrap();
    store.set_clock(Arc::new(sink::FixedClock(std::time::Duration::from_secs(
        start,
    ))));
    for message in [PLAIN, SIGNED] {
        store
            .deliver(sink::Envelope {
                from: "bob@example.test".into(),
                recipients: vec!["alice@example.test".into()],
                data: Arc::from(message),
                authenticated: None,
            })
            .unwrap();
    }
    let accounts = Accounts::new();
    accounts.add("alice", "secret", "alice@example.test");
    accounts.add("bob", "bobpw", "bob@example.test");
    let log = Arc::new(EventLog::new());
    let (certificate, key) = self_signed();
    let (bob_certificate, _) = self_signed();
    let directory = Directory::new(DirectorySnapshot {
        base: "o=Example".into(),
        entries: vec![
            DirectoryEntry {
                uid: "alice".into(),
                common_name: "Alice Example".into(),
                mail: "alice@example.test".into(),
                site: "HQ".into(),
                certificates: vec![certificate.clone()],
            },
            DirectoryEntry {
                uid: "bob".into(),
                common_name: "Bob Example".into(),
                mail: "bob@example.test".into(),
                site: "Branch".into(),
                certificates: vec![bob_certificate],
            },
        ],
    });
    let config = LiveConfig {
        tls: Some(TlsConfig::new(std::slice::from_ref(&certificate), &key).unwrap()),
        ..LiveConfig::default()
    };
    let mailboxes = Mailboxes {
        store: store.mail().clone(),
        accounts,
        observer: log.clone(),
    };
    let servers = LiveServers::start(config, mailboxes.clone(), directory).unwrap();
    World {
        servers,
        mailboxes,
        log,
        certificate,
    }
}

/// Runs a client program under a time limit; a missing program fails the test.
fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new("timeout");
    command.arg("60").arg(program).args(args);
    command.stdin(std::process::Stdio::piped());
    command.stdout(std::process::Stdio::piped());
    command.stderr(std::process::Stdio::piped());
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{program} is not installed; ci/install-deps.sh installs it"
    );
    let mut child = command.spawn().unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn curl_fetches_a_message_over_imap_byte_for_byte_and_the_fetch_is_observed() {
    let world = start();
    let url = format!("imap://{}/INBOX/;UID=2", world.servers.imap_address());
    let output = run("curl", &["-sS", "-u", "alice:secret", &url], None);
    assert_eq!(output.stdout, SIGNED);
    let fetched = world.log.events().into_iter().find(|e| {
        matches!(e, Event::Fetched { user, mailbox: MailboxName::Inbox, uid, protocol: Protocol::Imap }
            if user == "alice" && uid.0 == 2)
    });
    assert!(fetched.is_some(), "{:?}", world.log.events());
}

#[test]
fn curl_over_imap_with_starttls_lists_and_searches() {
    let world = start();
    let base = format!("imap://{}", world.servers.imap_address());
    let list = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "-k",
            "-u",
            "alice:secret",
            &format!("{base}/"),
        ],
        None,
    );
    let listing = text(&list);
    assert!(
        listing.contains("INBOX") && listing.contains("Sent"),
        "{listing}"
    );
    let search = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "-k",
            "-u",
            "alice:secret",
            &format!("{base}/INBOX?SUBJECT%20signed"),
        ],
        None,
    );
    assert_eq!(text(&search).trim_end(), "* SEARCH 2");
}

#[test]
fn wrong_password_is_refused_over_imap() {
    let world = start();
    let url = format!("imap://{}/INBOX/;UID=1", world.servers.imap_address());
    let output = Command::new("curl")
        .args(["-sS", "-u", "alice:wrong", &url])
        .output()
        .expect("curl is not installed; ci/install-deps.sh installs it");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
}

#[test]
fn curl_retrieves_over_pop3_undoing_dot_stuffing() {
    let world = start();
    let base = format!("pop3://{}", world.servers.pop3_address());
    let list = run(
        "curl",
        &["-sS", "-u", "alice:secret", &format!("{base}/")],
        None,
    );
    assert_eq!(
        text(&list),
        format!("1 {}\r\n2 {}\r\n", PLAIN.len(), SIGNED.len())
    );
    let message = run(
        "curl",
        &["-sS", "-u", "alice:secret", &format!("{base}/1")],
        None,
    );
    assert_eq!(message.stdout, PLAIN);
    assert!(world.log.events().iter().any(|e| matches!(
        e,
        Event::Fetched { protocol: Protocol::Pop3, uid, .. } if uid.0 == 1
    )));
}

const IMAPLIB: &str = r#"
import imaplib, ssl, sys
port = int(sys.argv[1])
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4("127.0.0.1", port)
print("caps", " ".join(sorted(m.capabilities)))
m.starttls(ssl_context=context)
print("login", m.login("alice", "secret")[0])
typ, data = m.select("INBOX")
print("select", typ, data[0].decode())
typ, data = m.uid("SEARCH", None, "UNSEEN")
print("unseen", data[0].decode())
typ, data = m.fetch("2", "(BODYSTRUCTURE)")
print("structure", data[0].decode())
typ, data = m.fetch("2", "(BODY.PEEK[1])")
print("part1", repr(data[0][1]))
typ, data = m.fetch("1", "(ENVELOPE RFC822.SIZE)")
print("envelope", data[0].decode())
typ, data = m.append("Sent", "(\\Seen)", None, b"Subject: saved\r\n\r\nsent copy\r\n")
print("append", typ, data[0].decode())
typ, data = m.status("Sent", "(MESSAGES UIDNEXT)")
print("status", data[0].decode())
m.store("1", "+FLAGS", "(\\Deleted)")
typ, data = m.expunge()
print("expunge", typ, data)
m.logout()
"#;

#[test]
fn python_imaplib_with_starttls() {
    let world = start();
    let port = world.servers.imap_address().port().to_string();
    let output = run("python3", &["-c", IMAPLIB, &port], None);
    let out = text(&output);
    assert!(
        out.contains("caps AUTH=PLAIN IDLE IMAP4REV1 STARTTLS"),
        "{out}"
    );
    assert!(out.contains("login OK"), "{out}");
    assert!(out.contains("select OK 2"), "{out}");
    assert!(out.contains("unseen 1 2"), "{out}");
    assert!(
        out.contains(
            "((\"TEXT\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL)(\"application\" \"pkcs7-signature\" (\"name\" \"smime.p7s\") NIL NIL \"base64\""
        ),
        "{out}"
    );
    assert!(out.contains("\"signed\" (\"protocol\" \"application/pkcs7-signature\" \"micalg\" \"sha-256\" \"boundary\" \"----B1\")"), "{out}");
    // The line break before a boundary belongs to the boundary (RFC 2046 §5.1.1).
    assert!(out.contains("part1 b'Signed text.'"), "{out}");
    assert!(
        out.contains("\"plain hello\" ((\"Bob Example\" NIL \"bob\" \"example.test\"))"),
        "{out}"
    );
    assert!(out.contains("append OK"), "{out}");
    assert!(
        out.contains("status \"Sent\" (MESSAGES 1 UIDNEXT 2)")
            || out.contains("status Sent (MESSAGES 1 UIDNEXT 2)"),
        "{out}"
    );
    assert!(out.contains("expunge OK [b'1']"), "{out}");
    let sent = world
        .mailboxes
        .snapshot("alice", MailboxName::Sent)
        .unwrap();
    assert_eq!(sent.messages.len(), 1);
    assert!(sent.messages[0].flags.contains(Flag::Seen));
}

const POPLIB: &str = r#"
import poplib, ssl, sys
port = int(sys.argv[1])
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
p = poplib.POP3("127.0.0.1", port)
print("capa", sorted(p.capa().keys()))
p.stls(context=context)
p.user("alice")
print("pass", p.pass_("secret").decode())
print("stat", p.stat())
print("uidl", p.uidl()[1])
resp, lines, octets = p.retr(1)
print("retr", lines)
resp, lines, octets = p.top(2, 0)
print("top", len(lines), lines[2])
print("dele", p.dele(1).decode())
print("quit", p.quit().decode())
"#;

#[test]
fn python_poplib_with_stls_retrieves_and_deletes() {
    let world = start();
    let port = world.servers.pop3_address().port().to_string();
    let output = run("python3", &["-c", POPLIB, &port], None);
    let out = text(&output);
    assert!(
        out.contains("'STLS'") && out.contains("'UIDL'") && out.contains("'TOP'"),
        "{out}"
    );
    assert!(out.contains("pass +OK 2 messages"), "{out}");
    assert!(
        out.contains(&format!("stat (2, {})", PLAIN.len() + SIGNED.len())),
        "{out}"
    );
    assert!(out.contains("uidl [b'1 1.1', b'2 1.2']"), "{out}");
    assert!(out.contains("b'.A line that starts with a dot.'"), "{out}");
    assert!(out.contains("top 8 b'Subject: signed hello'"), "{out}");
    assert!(out.contains("quit +OK bye"), "{out}");
    let inbox = world
        .mailboxes
        .snapshot("alice", MailboxName::Inbox)
        .unwrap();
    assert_eq!(inbox.messages.len(), 1);
    assert_eq!(inbox.messages[0].uid.0, 2);
}

#[test]
fn ldapsearch_finds_people_and_their_certificates() {
    let world = start();
    let url = format!("ldap://{}", world.servers.ldap_address());
    let root = run(
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            &url,
            "-s",
            "base",
            "-b",
            "",
            "namingContexts",
        ],
        None,
    );
    assert!(
        text(&root).contains("namingContexts: o=Example"),
        "{}",
        text(&root)
    );

    let bob = run(
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            &url,
            "-b",
            "o=Example",
            "(&(objectClass=inetOrgPerson)(mail=bob@example.test))",
            "cn",
            "mail",
            "uid",
            "userCertificate;binary",
            "userSMIMECertificate",
        ],
        None,
    );
    let out = text(&bob);
    assert!(
        out.contains("dn: cn=Bob Example,ou=Branch,o=Example"),
        "{out}"
    );
    assert!(
        out.contains("cn: Bob Example") && out.contains("uid: bob"),
        "{out}"
    );
    assert!(out.contains("userCertificate;binary:: MII"), "{out}");
    assert!(out.contains("userSMIMECertificate:: MII"), "{out}");
    assert!(!out.contains("Alice"), "{out}");

    let bound = run(
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            &url,
            "-D",
            "cn=Alice Example,ou=HQ,o=Example",
            "-w",
            "secret",
            "-b",
            "ou=HQ,o=Example",
            "-s",
            "one",
            "(|(cn=Ali*)(mail=nobody@*))",
            "mail",
        ],
        None,
    );
    assert_eq!(
        text(&bound),
        "dn: cn=Alice Example,ou=HQ,o=Example\nmail: alice@example.test\n\n"
    );
    assert!(world.log.events().iter().any(|e| matches!(
        e,
        Event::LoggedIn { protocol: Protocol::Ldap, user } if user == "alice"
    )));

    let refused = Command::new("ldapsearch")
        .args([
            "-x",
            "-H",
            &url,
            "-D",
            "uid=alice,o=Example",
            "-w",
            "wrong",
            "-b",
            "o=Example",
        ])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(49),
        "invalid credentials is LDAP result 49"
    );

    let certificate = run(
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &url,
            "-b",
            "o=Example",
            "(uid=alice)",
            "userCertificate;binary",
        ],
        None,
    );
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(world.certificate.as_bytes());
    assert!(
        text(&certificate).contains(&expected),
        "{}",
        text(&certificate)
    );
}

#[test]
fn s_nail_lists_the_inbox_over_imap() {
    let world = start();
    let home = tempfile::tempdir().unwrap();
    let url = format!("imap://alice:secret@{}", world.servers.imap_address());
    let output = run_in(
        home.path(),
        "s-nail",
        &[
            "-n",
            "-N",
            "-S",
            "v15-compat",
            "-S",
            "imap-use-starttls",
            "-S",
            "ssl-verify=ignore",
            "-S",
            "tls-verify=ignore",
            "-Y",
            "headers",
            "-Y",
            "quit",
            "-f",
            &url,
        ],
    );
    let out = text(&output);
    assert!(
        out.contains("plain hello") && out.contains("signed hello"),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn mutt_reads_the_inbox_over_imap() {
    let world = start();
    let home = tempfile::tempdir().unwrap();
    let muttrc = home.path().join("muttrc");
    // mutt trusts the certificates in its certificate file without asking.
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(world.certificate.as_bytes());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    std::fs::write(home.path().join("certs"), pem).unwrap();
    std::fs::write(
        &muttrc,
        format!(
            "set imap_user=alice\nset imap_pass=secret\nset ssl_starttls=yes\nset ssl_force_tls=no\nset ssl_verify_host=no\nset ssl_verify_dates=no\nset certificate_file={}/certs\nset folder=imap://{}/\nset spoolfile=+INBOX\nset header_cache=\nset message_cachedir=\n",
            home.path().display(),
            world.servers.imap_address()
        ),
    )
    .unwrap();
    // mutt needs a terminal: it runs in a detached tmux session, opens the first message,
    // pipes it to a file and quits.
    let session = format!("kmlab-mutt-{}", world.servers.imap_address().port());
    let command = format!(
        "HOME={home} TERM=xterm mutt -n -F {rc} -e 'push <pipe-message>cat\\ >\\ {home}/body.txt<enter><exit><quit>' ; sleep 1",
        home = home.path().display(),
        rc = muttrc.display(),
    );
    run_in(
        home.path(),
        "tmux",
        &[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "40",
            &command,
        ],
    );
    let body_file = home.path().join("body.txt");
    let mut body = String::new();
    for _ in 0..100 {
        body = std::fs::read_to_string(&body_file).unwrap_or_default();
        if body.contains("Hello Alice.") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let screen = Command::new("tmux")
        .args(["capture-pane", "-p", "-t", &session])
        .output()
        .ok();
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .output();
    assert!(
        body.contains("Hello Alice."),
        "{body}\n{}",
        screen
            .map(|s| String::from_utf8_lossy(&s.stdout).into_owned())
            .unwrap_or_default()
    );
    assert!(world.log.events().iter().any(|e| matches!(
        e,
        Event::Fetched {
            protocol: Protocol::Imap,
            ..
        }
    )));
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> Output {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{program} is not installed; ci/install-deps.sh installs it"
    );
    Command::new("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("TERM", "dumb")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}
