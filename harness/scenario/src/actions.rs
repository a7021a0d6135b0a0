//! The catalogue of step actions: their keys, what each key takes, and which record details
//! an `expect` may name. Parsing, `kmlab new` and the documentation read this one table.

/// What kind of value a step key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string.
    Text,
    /// One name or a list of names.
    Names,
    /// A boolean.
    Flag,
    /// A duration such as `30d`.
    Duration,
    /// A whole number.
    Integer,
}

impl FieldKind {
    /// How the kind is described in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Text => "a string",
            Self::Names => "a string or a list of strings",
            Self::Flag => "true or false",
            Self::Duration => "a duration string such as \"30d\"",
            Self::Integer => "a whole number",
        }
    }
}

/// One key of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The key as written in the file.
    pub key: &'static str,
    /// The value it takes.
    pub kind: FieldKind,
    /// Whether the step needs it.
    pub required: bool,
    /// What it means.
    pub meaning: &'static str,
}

/// Every kind of step, in the order of [`ACTIONS`], where each is declared once: its name,
/// keys, the details its record may show and the area of the product it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[expect(
    missing_docs,
    reason = "each variant is documented by its entry in ACTIONS"
)]
pub enum ActionKind {
    Clock,
    EnableV3,
    ConfigureCa,
    RestartCa,
    InstallCaCertificate,
    RequestCertificate,
    Revoke,
    PublishCrl,
    FetchCrl,
    InstallRoot,
    CtlAdd,
    CtlRemove,
    SetConfigurationDirectory,
    GrantManagePermission,
    GrantTemplatePermission,
    DropDriveMapping,
    EnableUser,
    Enroll,
    Recover,
    LoseKeys,
    ChangeClient,
    SetEnrollmentMode,
    RenewAll,
    RevokeUser,
    MoveUser,
    Sectool,
    ExportKeys,
    ReattachCa,
    StopKm,
    StartKm,
    ChangeAdminPassword,
    BackupKm,
    BackupCa,
    RestoreKm,
    RestoreCa,
    Forklift,
    UpgradeCa,
    InstallPart,
    AddTrust,
    Send,
    Read,
    AlterMessage,
    SmtpFault,
    InteropMatrix,
    SmtpSession,
    LiveFetch,
    LiveSend,
}

impl ActionKind {
    /// How the action is declared: name, keys, details.
    pub fn spec(self) -> &'static ActionSpec {
        // ACTIONS lists every kind once, in declaration order (checked at compile time below).
        &ACTIONS[self as usize]
    }

    /// The value of `action` in a scenario file, and the action name records carry.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The area of the product the action belongs to, which is where it is resolved and run.
    pub fn area(self) -> Area {
        self.spec().area
    }
}

/// The areas of the product; each has a resolver module in `scenario::resolve` and a step
/// module in the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The scenario itself (the clock).
    Scenario,
    /// KM server administration, enrollment and recovery.
    Km,
    /// Certification authorities, CRLs and trust.
    Ca,
    /// Hosts: installed parts, operating system upgrades.
    Host,
    /// Composing, sending and reading mail.
    Mail,
    /// The SMTP conversation itself.
    Smtp,
    /// What a live user's real mail client does.
    Live,
}

/// One step action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
    /// Which action this is.
    pub kind: ActionKind,
    /// The area it belongs to.
    pub area: Area,
    /// The value of `action`.
    pub name: &'static str,
    /// What the step does.
    pub summary: &'static str,
    /// Its keys (besides `action` and `expect`).
    pub fields: &'static [Field],
    /// The record details an `expect` table may check.
    pub details: &'static [&'static str],
}

const fn field(key: &'static str, kind: FieldKind, required: bool, meaning: &'static str) -> Field {
    Field {
        key,
        kind,
        required,
        meaning,
    }
}

/// The KM server a step acts on, the most common key.
const KM_SERVER: Field = field("km_server", FieldKind::Text, true, "the KM server");

/// The CA a step acts on.
const CA: Field = field("ca", FieldKind::Text, true, "the CA");

/// A message's recipients.
const TO: Field = field("to", FieldKind::Names, true, "one recipient or a list");

/// Every action, in the order the language documentation lists them.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        kind: ActionKind::Clock,
        area: Area::Scenario,
        name: "clock",
        summary: "move the virtual clock forward",
        fields: &[field(
            "advance",
            FieldKind::Duration,
            true,
            "how far, e.g. \"30d\", \"2y\", \"1y 6mo\"",
        )],
        details: &["now"],
    },
    ActionSpec {
        kind: ActionKind::EnableV3,
        area: Area::Km,
        name: "enable-v3",
        summary: "the administrator enables advanced security (S/MIME V3) on a KM server",
        fields: &[KM_SERVER],
        details: &[
            "ca",
            "km-certificate",
            "problems",
            "warnings",
            "chain",
            "mode",
            "warning",
            "lost-advanced-security",
        ],
    },
    ActionSpec {
        kind: ActionKind::ConfigureCa,
        area: Area::Ca,
        name: "configure-ca",
        summary: "change a CA's registry settings or policy module; they apply after restart-ca",
        fields: &[
            CA,
            field(
                "validity_period",
                FieldKind::Text,
                false,
                "\"years\", \"months\", \"weeks\" or \"days\"",
            ),
            field(
                "validity_units",
                FieldKind::Integer,
                false,
                "issued lifetime in validity_period units",
            ),
            field(
                "policy_module",
                FieldKind::Text,
                false,
                "\"standard\", \"legacy-exchange\", \"legacy-exchange-sp1\" or \"exchange-w2k\"",
            ),
        ],
        details: &["pending", "in-force"],
    },
    ActionSpec {
        kind: ActionKind::RestartCa,
        area: Area::Ca,
        name: "restart-ca",
        summary: "restart certificate services: configured settings come into force",
        fields: &[CA],
        details: &["applied", "in-force"],
    },
    ActionSpec {
        kind: ActionKind::InstallCaCertificate,
        area: Area::Ca,
        name: "install-ca-certificate",
        summary: "install the certificate the parent signed for a pending subordinate (request file)",
        fields: &[
            field("ca", FieldKind::Text, true, "the pending subordinate"),
            field(
                "supply_root",
                FieldKind::Flag,
                false,
                "also supply the root certificate in the same step (default false)",
            ),
        ],
        details: &["certificate", "root"],
    },
    ActionSpec {
        kind: ActionKind::RequestCertificate,
        area: Area::Ca,
        name: "request-certificate",
        summary: "a certificate requested straight from the CA, not through the KM server (no escrow)",
        fields: &[
            field("ca", FieldKind::Text, true, "the CA asked"),
            field(
                "user",
                FieldKind::Text,
                false,
                "who asks (default: an administrator asking for a server certificate)",
            ),
            field(
                "purpose",
                FieldKind::Text,
                false,
                "\"smime-encryption\" (default), \"smime-signing\" or \"tls-server\"",
            ),
            field(
                "version",
                FieldKind::Text,
                false,
                "\"v3\" (default) or \"v1\"",
            ),
        ],
        details: &["certificate", "serial", "version", "cdp"],
    },
    ActionSpec {
        kind: ActionKind::Revoke,
        area: Area::Ca,
        name: "revoke",
        summary: "the CA administrator revokes a certificate in the CA database",
        fields: &[
            field("ca", FieldKind::Text, true, "the issuing CA"),
            field("user", FieldKind::Text, false, "whose certificate"),
            field(
                "certificate",
                FieldKind::Text,
                false,
                "which of the user's certificates: \"enc#1\", \"sign#2\" …",
            ),
            field(
                "km_server",
                FieldKind::Text,
                false,
                "revoke this KM server's own certificate instead",
            ),
        ],
        details: &["serial", "certificate"],
    },
    ActionSpec {
        kind: ActionKind::PublishCrl,
        area: Area::Ca,
        name: "publish-crl",
        summary: "the CA publishes a new signed CRL",
        fields: &[CA],
        details: &["crl-number", "revoked", "next-update"],
    },
    ActionSpec {
        kind: ActionKind::FetchCrl,
        area: Area::Ca,
        name: "fetch-crl",
        summary: "a user's client downloads the newest CRL a CA published",
        fields: &[field("user", FieldKind::Text, true, "whose client"), CA],
        details: &["crl-number", "revoked"],
    },
    ActionSpec {
        kind: ActionKind::InstallRoot,
        area: Area::Ca,
        name: "install-root",
        summary: "add a root CA certificate to a host's or a client's trusted root store",
        fields: &[
            field("ca", FieldKind::Text, true, "the root CA"),
            field("host", FieldKind::Text, false, "the host whose store"),
            field("user", FieldKind::Text, false, "the client whose store"),
        ],
        details: &["store", "root"],
    },
    ActionSpec {
        kind: ActionKind::CtlAdd,
        area: Area::Ca,
        name: "ctl-add",
        summary: "the KM administrator adds a foreign CA to the organisation's certificate trust list",
        fields: &[
            field("ca", FieldKind::Text, true, "the foreign CA"),
            field(
                "km_server",
                FieldKind::Text,
                true,
                "the KM server whose hierarchy's root signs the list",
            ),
        ],
        details: &["sequence", "trusted", "signed-by"],
    },
    ActionSpec {
        kind: ActionKind::CtlRemove,
        area: Area::Ca,
        name: "ctl-remove",
        summary: "the KM administrator removes a CA from the organisation's certificate trust list",
        fields: &[
            field("ca", FieldKind::Text, true, "the CA to remove"),
            field(
                "km_server",
                FieldKind::Text,
                true,
                "the KM server whose hierarchy's root signs the list",
            ),
        ],
        details: &["sequence", "trusted", "signed-by"],
    },
    ActionSpec {
        kind: ActionKind::SetConfigurationDirectory,
        area: Area::Km,
        name: "set-configuration-directory",
        summary: "point the KM host's ConfigurationDirectory setting at a folder",
        fields: &[
            KM_SERVER,
            field(
                "path",
                FieldKind::Text,
                true,
                "a UNC path such as \"\\\\\\\\CA1\\\\CertConfig\"",
            ),
        ],
        details: &["configuration-directory"],
    },
    ActionSpec {
        kind: ActionKind::GrantManagePermission,
        area: Area::Km,
        name: "grant-manage-permission",
        summary: "grant the KM administrators' account manage permission on the KM server's CA",
        fields: &[KM_SERVER],
        details: &["permission"],
    },
    ActionSpec {
        kind: ActionKind::GrantTemplatePermission,
        area: Area::Ca,
        name: "grant-template-permission",
        summary: "grant a certificate-template permission an Exchange 2000 KM server needs on an enterprise CA",
        fields: &[
            CA,
            field(
                "permission",
                FieldKind::Text,
                true,
                "the permission (km-enroll:ExchangeUser …)",
            ),
        ],
        details: &["permission"],
    },
    ActionSpec {
        kind: ActionKind::DropDriveMapping,
        area: Area::Km,
        name: "drop-drive-mapping",
        summary: "the KM host loses its mapped drive to the CA's shared configuration folder",
        fields: &[KM_SERVER],
        details: &["configuration-directory"],
    },
    ActionSpec {
        kind: ActionKind::EnableUser,
        area: Area::Km,
        name: "enable-user",
        summary: "the administrator enables mailboxes for advanced security and receives their tokens",
        fields: &[
            field(
                "user",
                FieldKind::Names,
                true,
                "the mailbox, or a list for bulk enrollment",
            ),
            field(
                "mail_token",
                FieldKind::Flag,
                false,
                "also mail each token to its user through the SMTP sink (less secure; default false)",
            ),
            field(
                "km_server",
                FieldKind::Text,
                false,
                "the KM server (default: the one serving the user's site)",
            ),
        ],
        details: &["token", "tokens", "mailbox", "welcome-mail"],
    },
    ActionSpec {
        kind: ActionKind::Enroll,
        area: Area::Km,
        name: "enroll",
        summary: "the user's client enrolls with the temporary key",
        fields: &[
            field("user", FieldKind::Text, true, "who enrolls"),
            field(
                "km_server",
                FieldKind::Text,
                false,
                "the KM server (default: the one serving the user's site)",
            ),
            field(
                "token",
                FieldKind::Text,
                false,
                "\"issued\" (the last token the administrator received, the default) or \"wrong\"",
            ),
        ],
        details: &[
            "generation",
            "version",
            "recovered-history",
            "directory",
            "encryption-certificate",
            "signing-certificate",
            "trusted-root",
        ],
    },
    ActionSpec {
        kind: ActionKind::Recover,
        area: Area::Km,
        name: "recover",
        summary: "the administrator starts key recovery for a user and receives a new token",
        fields: &[
            field("user", FieldKind::Text, true, "whose keys"),
            field(
                "km_server",
                FieldKind::Text,
                false,
                "the KM server (default: the one serving the user's site)",
            ),
        ],
        details: &["token", "history"],
    },
    ActionSpec {
        kind: ActionKind::LoseKeys,
        area: Area::Km,
        name: "lose-keys",
        summary: "a user's client loses every key it held (a deleted security file, a new machine)",
        fields: &[field("user", FieldKind::Text, true, "whose client")],
        details: &["lost"],
    },
    ActionSpec {
        kind: ActionKind::ChangeClient,
        area: Area::Km,
        name: "change-client",
        summary: "a user moves to another mail client (an upgrade), keeping the keys the old one held",
        fields: &[
            field("user", FieldKind::Text, true, "whose client"),
            field("client", FieldKind::Text, true, "the new client persona"),
            field(
                "strength",
                FieldKind::Text,
                false,
                "the new client build's strength",
            ),
        ],
        details: &["client", "strength"],
    },
    ActionSpec {
        kind: ActionKind::SetEnrollmentMode,
        area: Area::Km,
        name: "set-enrollment-mode",
        summary: "the administrator chooses which certificate versions the KM server issues",
        fields: &[
            KM_SERVER,
            field(
                "mode",
                FieldKind::Text,
                true,
                "\"v1-and-v3\", \"v3-only\" or \"v1-only\"",
            ),
        ],
        details: &["mode", "warning", "lost-advanced-security"],
    },
    ActionSpec {
        kind: ActionKind::RenewAll,
        area: Area::Km,
        name: "renew-all",
        summary: "re-issue every enrolled user's certificates under the current mode",
        fields: &[KM_SERVER],
        details: &["renewed", "refused"],
    },
    ActionSpec {
        kind: ActionKind::RevokeUser,
        area: Area::Km,
        name: "revoke-user",
        summary: "the KM administrator removes advanced security from a mailbox (revokes its certificates)",
        fields: &[
            field("user", FieldKind::Text, true, "the mailbox"),
            field(
                "km_server",
                FieldKind::Text,
                false,
                "the KM server (default: the one serving the user's site)",
            ),
        ],
        details: &["revoked", "diverged", "already-revoked-at-ca"],
    },
    ActionSpec {
        kind: ActionKind::MoveUser,
        area: Area::Km,
        name: "move-user",
        summary: "a mailbox moves to another site (and so to that site's KM server)",
        fields: &[
            field("user", FieldKind::Text, true, "who moves"),
            field("site", FieldKind::Text, true, "the new site"),
        ],
        details: &["from", "to", "lost", "unreadable"],
    },
    ActionSpec {
        kind: ActionKind::Sectool,
        area: Area::Km,
        name: "sectool",
        summary: "the security tool run over a user's mailbox: decrypt every message, or encrypt them again",
        fields: &[
            field("user", FieldKind::Text, true, "whose mailbox"),
            field(
                "operation",
                FieldKind::Text,
                true,
                "\"decrypt\" or \"encrypt\"",
            ),
        ],
        details: &["processed", "skipped"],
    },
    ActionSpec {
        kind: ActionKind::ExportKeys,
        area: Area::Km,
        name: "export-keys",
        summary: "bulk key export from one KM server and import into another (Exchange 2000)",
        fields: &[
            field(
                "km_server",
                FieldKind::Text,
                true,
                "the exporting KM server",
            ),
            field("to", FieldKind::Text, true, "the importing KM server"),
            field("users", FieldKind::Names, true, "whose keys"),
            field(
                "thumbprint",
                FieldKind::Text,
                false,
                "the target's certificate thumbprint as the administrator typed it (default: the right one)",
            ),
        ],
        details: &["exported", "imported", "revoked"],
    },
    ActionSpec {
        kind: ActionKind::ReattachCa,
        area: Area::Km,
        name: "reattach-ca",
        summary: "attach a KM server to another CA (it is meant to keep one CA for life)",
        fields: &[KM_SERVER, field("ca", FieldKind::Text, true, "the new CA")],
        details: &["unreadable", "lost"],
    },
    ActionSpec {
        kind: ActionKind::StopKm,
        area: Area::Km,
        name: "stop-km",
        summary: "stop the KM service",
        fields: &[KM_SERVER],
        details: &[],
    },
    ActionSpec {
        kind: ActionKind::StartKm,
        area: Area::Km,
        name: "start-km",
        summary: "start the KM service with its startup password",
        fields: &[
            KM_SERVER,
            field(
                "startup_password",
                FieldKind::Text,
                false,
                "the password typed (default: the right one)",
            ),
        ],
        details: &[],
    },
    ActionSpec {
        kind: ActionKind::ChangeAdminPassword,
        area: Area::Km,
        name: "change-admin-password",
        summary: "change the KM administrator password (it starts as \"password\")",
        fields: &[
            KM_SERVER,
            field("password", FieldKind::Text, true, "the new password"),
        ],
        details: &[],
    },
    ActionSpec {
        kind: ActionKind::BackupKm,
        area: Area::Km,
        name: "backup-km",
        summary: "back up a KM database (5.5: only with the service stopped; 2000: online)",
        fields: &[
            KM_SERVER,
            field("name", FieldKind::Text, true, "what to call the backup"),
        ],
        details: &["backup"],
    },
    ActionSpec {
        kind: ActionKind::BackupCa,
        area: Area::Ca,
        name: "backup-ca",
        summary: "back up a CA's database",
        fields: &[
            CA,
            field("name", FieldKind::Text, true, "what to call the backup"),
        ],
        details: &["backup"],
    },
    ActionSpec {
        kind: ActionKind::RestoreKm,
        area: Area::Km,
        name: "restore-km",
        summary: "restore a KM database from a backup (service stopped)",
        fields: &[
            KM_SERVER,
            field(
                "from",
                FieldKind::Text,
                false,
                "the name of an earlier backup-km",
            ),
            field(
                "file",
                FieldKind::Text,
                false,
                "or a file, relative to the scenario file's folder",
            ),
        ],
        details: &["restored", "divergence", "later-revoke"],
    },
    ActionSpec {
        kind: ActionKind::RestoreCa,
        area: Area::Ca,
        name: "restore-ca",
        summary: "restore a CA's database from a backup",
        fields: &[
            CA,
            field(
                "from",
                FieldKind::Text,
                true,
                "the name of an earlier backup-ca",
            ),
        ],
        details: &["restored", "divergence", "later-revoke"],
    },
    ActionSpec {
        kind: ActionKind::Forklift,
        area: Area::Km,
        name: "forklift",
        summary: "move a KM server's database and logs to a new machine",
        fields: &[
            KM_SERVER,
            field(
                "new_host",
                FieldKind::Text,
                true,
                "the new machine's host name",
            ),
            field(
                "startup_password",
                FieldKind::Text,
                false,
                "the startup password given on the new machine (default: the right one)",
            ),
        ],
        details: &["histories"],
    },
    ActionSpec {
        kind: ActionKind::UpgradeCa,
        area: Area::Host,
        name: "upgrade-ca",
        summary: "upgrade an NT 4.0 Certificate Server in place to Windows 2000 certificate services",
        fields: &[CA],
        details: &["converted", "km-servers"],
    },
    ActionSpec {
        kind: ActionKind::InstallPart,
        area: Area::Host,
        name: "install-part",
        summary: "install something on a host: certificate-services, web-enrollment-support or fix Q262288",
        fields: &[
            field("host", FieldKind::Text, true, "the host"),
            field("part", FieldKind::Text, true, "what to install"),
        ],
        details: &["installed"],
    },
    ActionSpec {
        kind: ActionKind::AddTrust,
        area: Area::Host,
        name: "add-trust",
        summary: "set up a two-way trust between two Windows domains",
        fields: &[
            field("domain", FieldKind::Text, true, "one domain"),
            field("with", FieldKind::Text, true, "the other domain"),
        ],
        details: &["trust"],
    },
    ActionSpec {
        kind: ActionKind::Send,
        area: Area::Mail,
        name: "send",
        summary: "a user composes a message and submits it over SMTP",
        fields: &[
            field("from", FieldKind::Text, true, "the sender"),
            TO,
            field(
                "subject",
                FieldKind::Text,
                true,
                "the subject, also how `read` finds the message",
            ),
            field(
                "body",
                FieldKind::Text,
                false,
                "the text (default: a line naming sender and subject)",
            ),
            field(
                "sign",
                FieldKind::Text,
                false,
                "\"none\", \"clear\" or \"opaque\" (default: the client's default)",
            ),
            field(
                "encrypt",
                FieldKind::Flag,
                false,
                "envelope the message to every recipient and the sender (default false)",
            ),
            field(
                "cipher",
                FieldKind::Text,
                false,
                "content cipher, e.g. \"AES-128-CBC\", \"RC2-128-CBC\", \"DES-EDE3-CBC\"",
            ),
            field(
                "digest",
                FieldKind::Text,
                false,
                "\"SHA-1\" or \"SHA-256\" (default: the client's)",
            ),
            field(
                "order",
                FieldKind::Text,
                false,
                "\"sign-then-encrypt\" (default) or \"encrypt-then-sign\", when both",
            ),
            field(
                "identifier",
                FieldKind::Text,
                false,
                "how certificates are named: \"issuer-and-serial\" or \"subject-key-identifier\" (default: the client's)",
            ),
            field(
                "fault",
                FieldKind::Text,
                false,
                "a client defect: \"downgrade-cipher\" (encrypts with 40-bit RC2 behind the policy's back)",
            ),
        ],
        details: &[
            "message",
            "format",
            "signed",
            "layers",
            "identifier",
            "cipher",
            "algorithm",
            "cipher-choice",
            "recipients",
            "unencrypted-for",
            "missing",
            "attempts",
            "sink",
            "implementation",
            "unsupported",
            "adapter-failure",
        ],
    },
    ActionSpec {
        kind: ActionKind::Read,
        area: Area::Mail,
        name: "read",
        summary: "a user opens a message from their mailbox and the client judges it",
        fields: &[
            field("user", FieldKind::Text, true, "the reader"),
            field(
                "subject",
                FieldKind::Text,
                true,
                "which message (the newest with this subject)",
            ),
            field(
                "folder",
                FieldKind::Text,
                false,
                "\"inbox\" (the default: what the sink delivered) or \"sent\" (the sender's own copy)",
            ),
        ],
        details: &[
            "message",
            "layers",
            "decrypted-with",
            "cipher",
            "algorithm",
            "signature",
            "signer",
            "digest",
            "policy",
            "chain",
            "chain-at-signing",
            "revocation",
            "capabilities",
            "changed-in-transit",
            "body",
            "cross-check",
            "implementation",
            "unsupported",
            "adapter-failure",
        ],
    },
    ActionSpec {
        kind: ActionKind::AlterMessage,
        area: Area::Mail,
        name: "alter-message",
        summary: "a relay or mail store changes a delivered message before its recipient reads it",
        fields: &[
            field("user", FieldKind::Text, true, "whose mailbox"),
            field(
                "subject",
                FieldKind::Text,
                true,
                "which message (the newest with this subject)",
            ),
            field(
                "change",
                FieldKind::Text,
                true,
                "\"rewrap\", \"lf-only\", \"edit-body\", \"strip-trailing-space\" or \"redate\"",
            ),
        ],
        details: &["message", "change", "difference"],
    },
    ActionSpec {
        kind: ActionKind::SmtpFault,
        area: Area::Smtp,
        name: "smtp-fault",
        summary: "arms a scripted fault on the SMTP sink: a reply code or a dropped connection",
        fields: &[
            field(
                "message",
                FieldKind::Integer,
                false,
                "the Nth message the sink receives from now on (1 = the next)",
            ),
            field(
                "recipient",
                FieldKind::Text,
                false,
                "a user: the fault answers RCPT TO naming them",
            ),
            field(
                "command",
                FieldKind::Text,
                false,
                "an SMTP verb (MAIL, RCPT, DATA, EHLO …): the fault answers it",
            ),
            field(
                "code",
                FieldKind::Integer,
                false,
                "the reply: 421, 451, 452, 550 or 552",
            ),
            field(
                "drop",
                FieldKind::Flag,
                false,
                "with `message`: close the connection in the middle of DATA instead of replying",
            ),
            field(
                "times",
                FieldKind::Integer,
                false,
                "how many times it fires (default 1)",
            ),
        ],
        details: &["fault"],
    },
    ActionSpec {
        kind: ActionKind::InteropMatrix,
        area: Area::Mail,
        name: "interop-matrix",
        summary: "every user sends to every user in each form the sender's client allows; the record is the matrix of what each reader made of it",
        fields: &[field(
            "users",
            FieldKind::Names,
            false,
            "who takes part (default: every user)",
        )],
        details: &["forms", "messages"],
    },
    ActionSpec {
        kind: ActionKind::SmtpSession,
        area: Area::Smtp,
        name: "smtp-session",
        summary: "a raw client speaks SMTP to the sink; the record shows each reply and what was stored",
        fields: &[field(
            "input",
            FieldKind::Text,
            true,
            "the exact bytes the client sends (TOML escapes \\r \\n allowed)",
        )],
        details: &["replies", "stored", "stored-messages"],
    },
    ActionSpec {
        kind: ActionKind::LiveFetch,
        area: Area::Live,
        name: "live-fetch",
        summary: "a live user's mail client fetches a message from its inbox over IMAP or POP3 (under kmlab run, kmlab stands in for the client)",
        fields: &[
            field("user", FieldKind::Text, true, "the live user"),
            field("subject", FieldKind::Text, true, "the message's subject"),
            field(
                "protocol",
                FieldKind::Text,
                false,
                "\"imap\" (default) or \"pop3\": how the stand-in fetches; a real client may use either",
            ),
            field(
                "timeout",
                FieldKind::Duration,
                false,
                "how long a real client is waited for, in real time (default \"300s\")",
            ),
        ],
        details: &["message", "fetched", "bytes"],
    },
    ActionSpec {
        kind: ActionKind::LiveSend,
        area: Area::Live,
        name: "live-send",
        summary: "a live user's mail client submits a message over SMTP with AUTH (under kmlab run, kmlab stands in for the client and composes it as `send` would)",
        fields: &[
            field("from", FieldKind::Text, true, "the live user"),
            TO,
            field(
                "subject",
                FieldKind::Text,
                true,
                "the subject the message must have; `read` finds it by it",
            ),
            field("body", FieldKind::Text, false, "the stand-in's text"),
            field(
                "sign",
                FieldKind::Text,
                false,
                "how the stand-in signs: \"none\", \"clear\" or \"opaque\"",
            ),
            field(
                "encrypt",
                FieldKind::Flag,
                false,
                "whether the stand-in encrypts (default false)",
            ),
            field(
                "cipher",
                FieldKind::Text,
                false,
                "the stand-in's content cipher",
            ),
            field(
                "timeout",
                FieldKind::Duration,
                false,
                "how long a real client is waited for, in real time (default \"300s\")",
            ),
        ],
        details: &[
            "message",
            "submitted",
            "signed",
            "layers",
            "cipher",
            "algorithm",
            "recipients",
        ],
    },
];

/// Details any step may record: `problem` says in words why a step was refused;
/// `keys-handed-over`, in a live scenario, that a live user's keys changed and were written
/// again as a PKCS #12 file (LIVE-01).
pub const COMMON_DETAILS: &[&str] = &["problem", "keys-handed-over"];

// Every kind has its entry at its own index, so `ActionKind::spec` cannot miss.
const _: () = {
    assert!(ACTIONS.len() == ActionKind::LiveSend as usize + 1);
    let mut index = 0;
    while index < ACTIONS.len() {
        assert!(ACTIONS[index].kind as usize == index);
        index += 1;
    }
};

/// The action named `name`.
pub fn find(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|action| action.name == name)
}

/// The action names, for messages.
pub fn names() -> String {
    ACTIONS
        .iter()
        .map(|action| action.name)
        .collect::<Vec<_>>()
        .join(", ")
}
