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

/// One step action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
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

/// Every action, in the order the language documentation lists them.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
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
        name: "enable-v3",
        summary: "the administrator enables advanced security (S/MIME V3) on a KM server",
        fields: &[field("km_server", FieldKind::Text, true, "the KM server")],
        details: &["ca", "km-certificate"],
    },
    ActionSpec {
        name: "enable-user",
        summary: "the administrator enables a mailbox for advanced security and receives its token",
        fields: &[
            field("user", FieldKind::Text, true, "the mailbox"),
            field(
                "km_server",
                FieldKind::Text,
                false,
                "the KM server (default: the one serving the user's site)",
            ),
        ],
        details: &["token", "mailbox"],
    },
    ActionSpec {
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
            "encryption-certificate",
            "signing-certificate",
            "trusted-root",
        ],
    },
    ActionSpec {
        name: "send",
        summary: "a user composes a message and submits it over SMTP",
        fields: &[
            field("from", FieldKind::Text, true, "the sender"),
            field("to", FieldKind::Names, true, "one recipient or a list"),
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
        ],
    },
    ActionSpec {
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
        ],
    },
    ActionSpec {
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
                "\"rewrap\", \"lf-only\", \"edit-body\" or \"strip-trailing-space\"",
            ),
        ],
        details: &["message", "change", "difference"],
    },
    ActionSpec {
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
];

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
