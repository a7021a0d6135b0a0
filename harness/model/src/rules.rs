//! The behaviour catalogue: every rule kmlab simulates, by ID, with a one-line summary.
//!
//! The full text lives in the project's rule book; scenarios name the rules they cover in
//! `covers`, rules no scenario can exercise (a sink killed mid-delivery, many clients at once)
//! are covered by the named tests of [`TESTED_BY`], and `kmlab rules --coverage` lists both.

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The rule's identifier, e.g. `KM-07`.
    pub id: &'static str,
    /// What the rule is about, in one line.
    pub summary: &'static str,
}

/// Every rule, in catalogue order.
pub const CATALOGUE: &[Rule] = &[
    Rule {
        id: "CA-01",
        summary: "a 5.5 KM server works only with a stand-alone CA; an enterprise CA is not found (c1031dab, enterprise-ca); ex2000 accepts one",
    },
    Rule {
        id: "CA-02",
        summary: "KM server and W2K CA must both run w2k; an nt4 KM server can use only an NT4 Certificate Server 1.0",
    },
    Rule {
        id: "CA-03",
        summary: "a 5.5 KM server needs an Exchange policy module on its CA (policy-module); a non-default CSP or hash is a warning (csp)",
    },
    Rule {
        id: "CA-04",
        summary: "with an Exchange policy module active the CA is exclusive: it issues only e-mail certificates",
    },
    Rule {
        id: "CA-05",
        summary: "legacy-exchange issues without a CDP, exchange-w2k and standard with one; registering the SP1 build warns",
    },
    Rule {
        id: "CA-06",
        summary: "the CA common name must be at most 15 plain-ASCII characters (ca-name), the name of the computer running Certificate Services at most 15 characters (ca-host-name)",
    },
    Rule {
        id: "CA-07",
        summary: "issued lifetime is validity_units of validity_period (default 1 year), applied after a CA restart",
    },
    Rule {
        id: "CA-08",
        summary: "issued lifetime is cut at the CA's own expiry; a root must outlive its subordinates and should last 3 years",
    },
    Rule {
        id: "CA-09",
        summary: "a third-party root must be RFC 5280 well formed, subject = issuer, sign subordinates > 2 years, publish a CDP",
    },
    Rule {
        id: "CA-10",
        summary: "a subordinate installed through a request file stays pending until its signed certificate and root are installed",
    },
    Rule {
        id: "CA-11",
        summary: "the KM server's own certificate is revoked right after issue; reported as info, not an error",
    },
    Rule {
        id: "CA-12",
        summary: "revocation lives in the KM and CA databases; the CA publishes CRLs; clients check the newest one they fetched, as readers of signatures and as senders choosing recipient certificates",
    },
    Rule {
        id: "CA-13",
        summary: "clients and the KM server trust a hierarchy only if its root is in their trusted root store; an enterprise root reaches every w2k host through the directory, a stand-alone one needs install-root",
    },
    Rule {
        id: "KM-01",
        summary: "KM servers per organisation (5.5 pre-SP1), per site (SP1+), per administrative group (2000); 5.5 on w2k needs SP3",
    },
    Rule {
        id: "KM-02",
        summary: "enabling V3 with a remote CA needs Web Enrollment Support and ConfigurationDirectory (c1031dab) and a directory-writing install account; a dropped drive mapping to the CA's folder stops enrollment, recovery, renewal and revocation too (drive-mapping)",
    },
    Rule {
        id: "KM-03",
        summary: "a CA in another domain needs fix Q262288 and a two-way trust, else c1031d9f",
    },
    Rule {
        id: "KM-04",
        summary: "the KM hierarchy check links certificates by name only; a mismatch is c1031daf (name-link)",
    },
    Rule {
        id: "KM-05",
        summary: "the KM server requires user certificates valid for at least 2 years, else c1031daf (validity): at enable-V3 and again at every enrollment and renewal",
    },
    Rule {
        id: "KM-06",
        summary: "enrollment modes v1-and-v3, v3-only, v1-only; after v3-only V1 clients can neither enroll, decrypt, seal nor sign (advanced-security-lost); renew-all",
    },
    Rule {
        id: "KM-07",
        summary: "enrollment with a one-time token, optionally mailed (less secure); wrong or reused tokens are refused; bulk enrollment",
    },
    Rule {
        id: "KM-08",
        summary: "the encryption key pair is escrowed in the KM database; the signing key pair never leaves the client",
    },
    Rule {
        id: "KM-09",
        summary: "key history: every encryption certificate stays in the directory entry and every key in the KM database",
    },
    Rule {
        id: "KM-10",
        summary: "recovery issues a new token and returns the whole encryption history; signing keys are replaced, not recovered",
    },
    Rule {
        id: "KM-11",
        summary: "a certificate taken straight from the CA has no escrow; losing its key loses that mail for good",
    },
    Rule {
        id: "KM-12",
        summary: "a 5.5 site move loses key history unless mail is decrypted first (sectool); 2000 export/import keeps it; generations keep counting across KM servers",
    },
    Rule {
        id: "KM-13",
        summary: "a KM server is attached to one CA for life; re-attaching makes mail under the old hierarchy inaccessible",
    },
    Rule {
        id: "KM-14",
        summary: "revocation through the KM server needs manage permission on the CA, else c1031d92",
    },
    Rule {
        id: "KM-15",
        summary: "certificate trust lists signed by the organisation root extend trust to foreign CAs; removal revokes it at once",
    },
    Rule {
        id: "KM-16",
        summary: "the admin password starts as `password` (warned while unchanged); the startup password starts the service and a forklift",
    },
    Rule {
        id: "KM-17",
        summary: "ex2000 on an enterprise CA needs template permissions; a missing one fails enrollment and is named",
    },
    Rule {
        id: "KM-18",
        summary: "a user whose distinguished name is too long cannot get a V3 certificate (default limit 256); V1 is unaffected",
    },
    Rule {
        id: "OPS-01",
        summary: "backup: 5.5 offline, 2000 online; KM and CA backups taken apart around a revocation diverge, whichever is older, and are reported with what a later revocation does",
    },
    Rule {
        id: "OPS-02",
        summary: "forklift to a host with the same name, site and startup password keeps every history; otherwise it fails and says which",
    },
    Rule {
        id: "OPS-03",
        summary: "an NT4 Certificate Server upgraded in place to W2K keeps its database if Web Enrollment Support was installed first",
    },
    Rule {
        id: "OPS-04",
        summary: "registry-like CA settings and policy module changes take effect only after a CA restart",
    },
    Rule {
        id: "CL-01",
        summary: "client profiles outlook97, outlook98, outlook2000, outlook-express5 and modern, each with its own limits",
    },
    Rule {
        id: "CL-02",
        summary: "only V3 certificates encrypt S/MIME; a V1-only client cannot open S/MIME encrypted mail",
    },
    Rule {
        id: "CL-03",
        summary: "128-bit and 40-bit strength; the real cipher and key length are shown and a silent downgrade fails",
    },
    Rule {
        id: "CL-04",
        summary: "signed mail is judged against the client's roots, CTLs and CRLs: valid, untrusted, expired, revoked or tampered",
    },
    Rule {
        id: "CL-05",
        summary: "encrypted mail is tried with every key in the client's history; the generation that opened it is recorded",
    },
    Rule {
        id: "MSG-01",
        summary: "clear signing (multipart/signed) stays readable without S/MIME; opaque signing (signed-data) does not",
    },
    Rule {
        id: "MSG-02",
        summary: "the signed bytes are the first part exactly as sent, CRLF-canonical; any change in transit is tampered, except that today's client restores CRLF in a part stored with bare LFs (the era's do not)",
    },
    Rule {
        id: "MSG-03",
        summary: "sign-then-encrypt nests the signature in the envelope and both layers are reported; encrypt-then-sign too",
    },
    Rule {
        id: "MSG-04",
        summary: "every encrypted message is also encrypted to its sender; recipients without a usable certificate (none, v1, expired, revoked on the sender's CRL) are refused or warned",
    },
    Rule {
        id: "MSG-05",
        summary: "recipient and signer identifiers by issuer-and-serial or subject key identifier; V1 has only issuer-and-serial",
    },
    Rule {
        id: "MSG-06",
        summary: "the cipher is the strongest all recipients' SMIMECapabilities allow, never below the sender's minimum",
    },
    Rule {
        id: "MSG-07",
        summary: "a signature is judged against certificate validity at signing time and at reading time",
    },
    Rule {
        id: "MSG-08",
        summary: "the modern profile reads RFC 8551 mail (SHA-256/384/512, RSA-PSS, RSA-OAEP, AES-GCM, ECDSA and Ed25519 signers); each era profile refuses what it could not use, by a column of the persona table, naming the algorithm and its OID (cipher-not-supported, signature-scheme-not-supported, key-transport-not-supported); AES-GCM content whose tag fails after the key opened it is content-altered, never a wrong key; SHA-1 signatures and the Date header against the signing time are judged per profile (era: accepted, not compared; modern: warned, not compared; thunderbird: refused, flagged beyond an hour); a version 1 certificate as an intermediate CA is accepted by the era's profiles and rejected by today's (RFC 5280 §6.1.4(k), v1-intermediate-ca); thunderbird ignores a signature around an encrypted layer",
    },
    Rule {
        id: "MSG-09",
        summary: "an algorithm a reader does not support is reported as unsupported, with its OID and where it was found, never as a wrong key or tampering; the signer is named whenever its certificate is in the message",
    },
    Rule {
        id: "SMTP-01",
        summary: "the sink stores each message byte for byte after CRLF.CRLF, per recipient, and nothing for an aborted one",
    },
    Rule {
        id: "SMTP-02",
        summary: "bare LF or CR in DATA and the \\n.\\r\\n smuggling pattern are refused, never taken as end of data",
    },
    Rule {
        id: "SMTP-03",
        summary: "scripted, deterministic SMTP faults (421, 451, 452, 550, 552, dropped connection) and the client's retry or failure",
    },
    Rule {
        id: "SMTP-04",
        summary: "limits on message size, line length, recipients and errors per session, each with its proper reply code",
    },
    Rule {
        id: "SMTP-05",
        summary: "nothing accepted is lost: not by a restart on the same mailbox folder, not by a kill during delivery; a long-running sink holds no message bytes once stored",
    },
    Rule {
        id: "SMTP-06",
        summary: "a per-client connection cap answers the excess with 421 while other clients are still served",
    },
    Rule {
        id: "LIVE-01",
        summary: "a live user is enrolled like any other; its keys and the CA certificates are handed over as files a mail client imports, again after each recovery or renewal",
    },
    Rule {
        id: "LIVE-02",
        summary: "each user's INBOX and Sent are served over IMAP4rev1 and POP3 with login per user, byte for byte as the sink stored them",
    },
    Rule {
        id: "LIVE-03",
        summary: "mail a live user submits (SMTP AUTH, STARTTLS with the scenario CA's certificate) is delivered and judged by its scripted recipients as any user's mail",
    },
    Rule {
        id: "LIVE-04",
        summary: "the directory the KM server publishes to is served over LDAPv3 as it stands at that moment of the scenario",
    },
    Rule {
        id: "LIVE-05",
        summary: "a step that waits on a live user has a timeout and then fails with a reason; bad protocol input gets a protocol error, never a crash",
    },
    Rule {
        id: "LIVE-06",
        summary: "a live run can start its virtual clock at the real current time, so its certificates are valid on the client's clock",
    },
];

/// A test that covers a rule no scenario can exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleTest {
    /// The rule's identifier.
    pub rule: &'static str,
    /// The test file, from the workspace root.
    pub file: &'static str,
    /// The test function in it.
    pub test: &'static str,
}

/// Named tests that cover rules, besides the scenarios' `covers`.
pub const TESTED_BY: &[RuleTest] = &[
    RuleTest {
        rule: "MSG-08",
        file: "tests/foreign.rs",
        test: "era_profiles_refuse_rsa_pss_and_rsa_oaep_naming_the_algorithm",
    },
    RuleTest {
        rule: "MSG-08",
        file: "tests/foreign.rs",
        test: "tampering_with_gcm_content_or_its_tag_is_content_altered",
    },
    RuleTest {
        rule: "MSG-09",
        file: "tests/foreign.rs",
        test: "every_foreign_algorithm_reads_or_is_named_as_unsupported_in_both_engines_and_inspect",
    },
    RuleTest {
        rule: "MSG-09",
        file: "tests/foreign.rs",
        test: "tampering_with_a_foreign_signature_is_caught_whatever_its_algorithm",
    },
    RuleTest {
        rule: "SMTP-05",
        file: "harness/cli/tests/sink_store.rs",
        test: "a_restart_on_the_same_maildir_keeps_the_first_message",
    },
    RuleTest {
        rule: "SMTP-05",
        file: "harness/cli/tests/sink_store.rs",
        test: "a_kill_during_delivery_keeps_every_acknowledged_message_whole",
    },
    RuleTest {
        rule: "SMTP-05",
        file: "harness/cli/tests/sink_store.rs",
        test: "a_long_running_sink_keeps_no_message_bytes_in_memory",
    },
    RuleTest {
        rule: "SMTP-05",
        file: "harness/sink/tests/mailstore.rs",
        test: "a_restart_on_the_same_maildir_keeps_every_message_and_uid",
    },
    RuleTest {
        rule: "SMTP-06",
        file: "harness/sink/tests/connections.rs",
        test: "one_client_past_its_cap_hears_421_while_another_is_served",
    },
    RuleTest {
        rule: "LIVE-04",
        file: "harness/cli/tests/live_clients.rs",
        test: "curl_python_ldapsearch_and_openssl_play_alice",
    },
    RuleTest {
        rule: "LIVE-04",
        file: "harness/cli/tests/live_clients.rs",
        test: "mutt_and_s_nail_play_alice_in_the_built_in_scenario",
    },
    RuleTest {
        rule: "LIVE-05",
        file: "harness/cli/tests/live_clients.rs",
        test: "a_live_step_past_its_timeout_fails_as_live_timeout",
    },
    RuleTest {
        rule: "LIVE-05",
        file: "harness/cli/tests/live_clients.rs",
        test: "sigterm_while_a_live_step_waits_ends_serve_cleanly",
    },
    RuleTest {
        rule: "LIVE-06",
        file: "harness/cli/tests/live_clients.rs",
        test: "start_now_makes_the_certificates_valid_now",
    },
];

/// The rule with this identifier, if the catalogue has one.
pub fn find(id: &str) -> Option<&'static Rule> {
    CATALOGUE.iter().find(|rule| rule.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in CATALOGUE {
            assert!(seen.insert(rule.id), "duplicate {}", rule.id);
            let (area, number) = rule.id.split_once('-').unwrap();
            assert!(
                ["CA", "KM", "OPS", "CL", "MSG", "SMTP", "LIVE"].contains(&area),
                "{}",
                rule.id
            );
            assert_eq!(number.len(), 2, "{}", rule.id);
        }
        assert_eq!(CATALOGUE.len(), 13 + 18 + 4 + 5 + 9 + 6 + 6);
    }

    #[test]
    fn tests_cover_rules_of_the_catalogue_in_files_that_have_them() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for covering in TESTED_BY {
            assert!(find(covering.rule).is_some(), "{}", covering.rule);
            let source = std::fs::read_to_string(root.join(covering.file)).unwrap();
            assert!(
                source.contains(&format!("fn {}(", covering.test)),
                "{} has no test {}",
                covering.file,
                covering.test
            );
        }
    }

    #[test]
    fn finds_by_identifier() {
        assert_eq!(find("KM-07").map(|rule| rule.id), Some("KM-07"));
        assert!(find("KM-99").is_none());
    }
}
