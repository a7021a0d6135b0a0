//! Level two: the resolved, typed scenario the runner executes.

use std::path::PathBuf;

use clients::compose::Order;
use clients::faults::{SendFault, TransitChange};
use clients::{Persona, SignForm, Strength};
use km::Product;
use model::rules::Rule;
use model::{
    CaName, Duration, HostName, KmName, MailAddress, Outcome, SiteName, Timestamp, UserName, named,
};
use pki::{CaClass, PolicyModule, SignatureHash, ValiditySetting};
use smime::{Cipher, Digest, IdentifierKind};

/// A scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its identifier: the path under `scenarios/` without `.toml`, e.g. `basic/first-message`.
    pub id: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The title.
    pub title: String,
    /// The longer description, if any.
    pub description: Option<String>,
    /// The rules it covers.
    pub covers: Vec<&'static Rule>,
    /// The seed.
    pub seed: u64,
    /// When the virtual clock starts.
    pub start: Timestamp,
    /// The organisation, its servers and users.
    pub topology: Topology,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// The organisation and everything in it.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The organisation's name.
    pub organisation: String,
    /// The SMTP domain.
    pub mail_domain: String,
    /// Sites, in file order.
    pub sites: Vec<SiteName>,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// Certification authorities, parents before children.
    pub cas: Vec<CaSpec>,
    /// KM servers.
    pub km_servers: Vec<KmSpec>,
    /// Users.
    pub users: Vec<UserSpec>,
}

impl Topology {
    /// The user named `name`.
    pub fn user(&self, name: &UserName) -> Option<&UserSpec> {
        self.users.iter().find(|user| &user.name == name)
    }

    /// The KM server named `name`.
    pub fn km_server(&self, name: &KmName) -> Option<&KmSpec> {
        self.km_servers.iter().find(|km| &km.name == name)
    }

    /// The CA named `name`.
    pub fn ca(&self, name: &CaName) -> Option<&CaSpec> {
        self.cas.iter().find(|ca| &ca.name == name)
    }

    /// The host named `name`.
    pub fn host(&self, name: &HostName) -> Option<&Host> {
        self.hosts.iter().find(|host| &host.name == name)
    }
}

/// A server's operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    /// Windows NT 4.0.
    Nt4,
    /// Windows 2000.
    W2k,
}

named!(Os { Nt4 => "nt4", W2k => "w2k" });

/// Something installed on a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InstalledPart {
    /// Certificate Services (the CA).
    CertificateServices,
    /// Certificate Services Web Enrollment Support.
    WebEnrollmentSupport,
    /// A hotfix, by its Knowledge Base number, e.g. `Q262288`.
    Fix(String),
}

/// A server.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its name.
    pub name: HostName,
    /// Its operating system.
    pub os: Os,
    /// Its Windows domain.
    pub domain: String,
    /// What is installed on it.
    pub installed: Vec<InstalledPart>,
}

/// Root or subordinate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaRole {
    /// A self-signed root.
    Root,
    /// Signed by `parent`.
    Subordinate {
        /// The signing CA.
        parent: CaName,
    },
}

/// A certification authority as the scenario describes it.
#[derive(Debug, Clone)]
pub struct CaSpec {
    /// Its common name.
    pub name: CaName,
    /// The host it runs on.
    pub host: HostName,
    /// Stand-alone or enterprise.
    pub class: CaClass,
    /// Root or subordinate.
    pub role: CaRole,
    /// The policy module.
    pub policy: PolicyModule,
    /// Issued-certificate validity.
    pub validity: ValiditySetting,
    /// How long its own certificate lasts.
    pub lifetime: Duration,
    /// The signature hash.
    pub hash: SignatureHash,
}

/// A KM server as the scenario describes it.
#[derive(Debug, Clone)]
pub struct KmSpec {
    /// Its name.
    pub name: KmName,
    /// The host it runs on.
    pub host: HostName,
    /// The product and service pack.
    pub product: Product,
    /// The site it serves.
    pub site: SiteName,
    /// The CA it is attached to.
    pub ca: CaName,
    /// The startup password.
    pub startup_password: String,
}

/// A user as the scenario describes them.
#[derive(Debug, Clone)]
pub struct UserSpec {
    /// The mailbox alias.
    pub name: UserName,
    /// The home site.
    pub site: SiteName,
    /// The client persona.
    pub persona: Persona,
    /// The client build's encryption strength.
    pub strength: Strength,
    /// The SMTP address.
    pub email: MailAddress,
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its position, from 1.
    pub number: usize,
    /// The line of its `[[step]]` header.
    pub line: usize,
    /// What it does.
    pub action: Action,
    /// What it is expected to produce.
    pub expect: Option<Expectation>,
}

/// Which token an enrolling client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenChoice {
    /// The last token the administrator received for this user.
    Issued,
    /// A token that was never issued.
    Wrong,
}

named!(TokenChoice { Issued => "issued", Wrong => "wrong" });

/// A `send` step.
#[derive(Debug, Clone)]
pub struct SendStep {
    /// The sender.
    pub from: UserName,
    /// The recipients.
    pub to: Vec<UserName>,
    /// The subject.
    pub subject: String,
    /// The body, if given.
    pub body: Option<String>,
    /// The signing form, if given.
    pub sign: Option<SignForm>,
    /// Whether to encrypt.
    pub encrypt: bool,
    /// The cipher, if given.
    pub cipher: Option<Cipher>,
    /// The digest, if given.
    pub digest: Option<Digest>,
    /// Which layer is inside the other.
    pub order: Order,
    /// How certificates are named, if given.
    pub identifier: Option<IdentifierKind>,
    /// A client defect to switch on.
    pub fault: Option<SendFault>,
}

/// A mailbox folder a client reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// What the SMTP sink delivered to the user.
    Inbox,
    /// The copies of what the user sent.
    Sent,
}

named!(Folder { Inbox => "inbox", Sent => "sent" });

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Move the clock.
    Clock {
        /// By how much.
        advance: Duration,
    },
    /// Enable advanced security on a KM server.
    EnableV3 {
        /// The KM server.
        km: KmName,
    },
    /// Enable a mailbox.
    EnableUser {
        /// The KM server.
        km: KmName,
        /// The mailbox.
        user: UserName,
    },
    /// Enroll a client.
    Enroll {
        /// The KM server.
        km: KmName,
        /// The user.
        user: UserName,
        /// Which token the client types.
        token: TokenChoice,
    },
    /// Compose and submit a message.
    Send(SendStep),
    /// Open a message.
    Read {
        /// The reader.
        user: UserName,
        /// The subject.
        subject: String,
        /// Which folder it is in.
        folder: Folder,
    },
    /// Change a delivered message in a mailbox.
    AlterMessage {
        /// Whose mailbox.
        user: UserName,
        /// Which message.
        subject: String,
        /// The change.
        change: TransitChange,
    },
    /// Arm a scripted fault on the SMTP sink.
    SmtpFault(sink::Fault),
    /// Every participant sends to every participant in every form; the record is the matrix.
    InteropMatrix {
        /// The participants, in file order.
        users: Vec<UserName>,
    },
    /// A raw SMTP conversation with the sink.
    SmtpSession {
        /// The bytes the client sends.
        input: Vec<u8>,
    },
}

impl Action {
    /// The action's name as written in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Clock { .. } => "clock",
            Self::EnableV3 { .. } => "enable-v3",
            Self::EnableUser { .. } => "enable-user",
            Self::Enroll { .. } => "enroll",
            Self::Send(_) => "send",
            Self::Read { .. } => "read",
            Self::AlterMessage { .. } => "alter-message",
            Self::SmtpFault(_) => "smtp-fault",
            Self::InteropMatrix { .. } => "interop-matrix",
            Self::SmtpSession { .. } => "smtp-session",
        }
    }
}

/// What a step's record must show.
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// The reason word.
    pub reason: Option<String>,
    /// Record details, by key.
    pub details: Vec<(String, String)>,
}
