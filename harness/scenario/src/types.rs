//! Level two: the resolved, typed scenario the runner executes.

use std::path::PathBuf;

use clients::compose::Order;
use clients::faults::{SendFault, TransitChange};
use clients::{Persona, SignForm, Strength};
use km::{EnrollmentMode, Product};
use model::InstalledPart;
use model::rules::Rule;
use model::{
    CaName, Domain, DomainKind, Duration, Host, HostName, KeyGeneration, KmName, MailAddress,
    Outcome, SiteName, Timestamp, UserName, named,
};
use pki::{
    CaFault, CaKind, CertificateVersion, KeyOrigin, PolicyModule, SignatureHash,
    TemplatePermission, ValidityPeriod, ValiditySetting,
};
use smime::{Cipher, Digest, IdentifierKind};

use crate::actions::ActionKind;
use crate::axis::{Axis, Setting};

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
    /// Whether the scenario asks to start at the real current time (`start = "now"`), which
    /// `kmlab serve` honours so that real clients accept the certificates; every other
    /// command starts at `start`, the default start.
    pub starts_now: bool,
    /// The organisation, its servers and users.
    pub topology: Topology,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The settings the file's `[matrix]` runs it over (empty for a plain scenario).
    pub matrix: Vec<Axis>,
    /// The settings this instance was read with (one matrix cell), in axis order.
    pub settings: Vec<Setting>,
    /// The file's text, from which each matrix cell is read again with its settings.
    pub source: String,
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
    /// Windows domains that were described (others are Windows 2000 native with no trusts).
    pub domains: Vec<Domain>,
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

    /// The domain named `name`; one not described is Windows 2000 native with no trusts.
    pub fn domain(&self, name: &str) -> Domain {
        self.domains
            .iter()
            .find(|domain| domain.name.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| Domain {
                name: name.to_owned(),
                kind: DomainKind::W2kNative,
                trusts: Vec::new(),
            })
    }

    /// Whether two domains have a two-way trust (either side may declare it).
    pub fn two_way_trust(&self, a: &str, b: &str) -> bool {
        a.eq_ignore_ascii_case(b)
            || self
                .domain(a)
                .trusts
                .iter()
                .any(|t| t.eq_ignore_ascii_case(b))
            || self
                .domain(b)
                .trusts
                .iter()
                .any(|t| t.eq_ignore_ascii_case(a))
    }
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

/// How a subordinate CA gets its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaInstall {
    /// The parent signs it during installation.
    Online,
    /// Through a request file: the CA stays pending until `install-ca-certificate` (CA-10).
    RequestFile,
}

named!(CaInstall { Online => "online", RequestFile => "request-file" });

/// A certification authority as the scenario describes it.
#[derive(Debug, Clone)]
pub struct CaSpec {
    /// Its common name.
    pub name: CaName,
    /// The host it runs on; none for a third-party root outside the organisation.
    pub host: Option<HostName>,
    /// What kind of CA.
    pub kind: CaKind,
    /// Root or subordinate.
    pub role: CaRole,
    /// How a subordinate is installed.
    pub install: CaInstall,
    /// The policy module.
    pub policy: PolicyModule,
    /// Issued-certificate validity.
    pub validity: ValiditySetting,
    /// How long its own certificate lasts.
    pub lifetime: Duration,
    /// The signature hash.
    pub hash: SignatureHash,
    /// Where the CA's key pair came from (CA-03).
    pub key_origin: KeyOrigin,
    /// How often it publishes a CRL.
    pub crl_period: Duration,
    /// Whether it puts a CRL distribution point in what it issues.
    pub publishes_cdp: bool,
    /// How long it signs subordinate CAs for.
    pub subordinate_validity: Duration,
    /// The CA's shared configuration folder, as a UNC path.
    pub shared_folder: String,
    /// Whether the account that installed it could write to the directory (KM-02).
    pub installer_writes_directory: bool,
    /// The organisation named in the CA's certificate, when it is not the scenario's.
    pub organisation: Option<String>,
    /// Deliberate defects (third-party roots, CA-09).
    pub faults: Vec<CaFault>,
    /// Template permissions an enterprise CA lacks (KM-17).
    pub missing_template_permissions: Vec<TemplatePermission>,
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
    /// The KM host's `ConfigurationDirectory` setting, if set (KM-02).
    pub configuration_directory: Option<String>,
    /// The longest mailbox DN that may get a V3 certificate (KM-18).
    pub max_dn_length: usize,
    /// Whether the KM administrators hold manage permission on the CA (KM-14).
    pub ca_manage_permission: bool,
    /// The enrollment mode the KM server takes when V3 is enabled (KM-06); before that it
    /// issues V1 certificates only.
    pub mode: EnrollmentMode,
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
    /// The display name used in the mailbox DN.
    pub display_name: String,
    /// The size in bits of the user's RSA keys: the signing keys the client makes and the
    /// encryption keys the KM server (or a CA) makes for the user.
    pub key_size: u32,
    /// A real S/MIME implementation in this user's seat, if the scenario puts one there.
    pub seat: Option<SeatSpec>,
    /// Whether a real mail client plays this user (`kmlab serve`); under `kmlab run` kmlab
    /// stands in for it over the same protocols.
    pub live: bool,
}

/// How a live user's stand-in fetches its mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchProtocol {
    /// IMAP4rev1.
    Imap,
    /// POP3.
    Pop3,
}

named!(FetchProtocol { Imap => "imap", Pop3 => "pop3" });

/// A real S/MIME implementation a scenario seats as one of its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatSpec {
    /// The name reports give it: the built-in adapter's name, or the program's file name
    /// (its folder's for a program called `adapter`).
    pub name: String,
    /// The adapter program: a built-in one, or one inside the scenario file's folder (the
    /// folder joined with the path written).
    pub program: PathBuf,
    /// Whether it is one of kmlab's built-in adapters.
    pub built_in: bool,
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

/// What a `request-certificate` step asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPurpose {
    /// An S/MIME encryption certificate.
    SmimeEncryption,
    /// An S/MIME signing certificate.
    SmimeSigning,
    /// A TLS server certificate (not e-mail: an exclusive policy module denies it).
    TlsServer,
}

named!(RequestPurpose {
    SmimeEncryption => "smime-encryption",
    SmimeSigning => "smime-signing",
    TlsServer => "tls-server",
});

/// Which of a user's certificates: `enc#1`, `sign#2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateRef {
    /// Encryption (`true`) or signing.
    pub encryption: bool,
    /// The generation.
    pub generation: KeyGeneration,
}

impl std::fmt::Display for CertificateRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}#{}",
            if self.encryption { "enc" } else { "sign" },
            self.generation
        )
    }
}

/// What a `revoke` step revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// One of a user's certificates.
    User {
        /// The user.
        user: UserName,
        /// Which certificate.
        certificate: CertificateRef,
    },
    /// A KM server's own certificate.
    KmServer(KmName),
}

/// Whose trusted root store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootStore {
    /// A host's (the KM server and the CAs on it use it).
    Host(HostName),
    /// A user's client.
    User(UserName),
}

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
    /// Enable mailboxes (several at once is bulk enrollment).
    EnableUser {
        /// The KM server, if named; otherwise each user's site's.
        km: Option<KmName>,
        /// The mailboxes.
        users: Vec<UserName>,
        /// Whether the tokens are also mailed.
        mail_token: bool,
    },
    /// Enroll a client.
    Enroll {
        /// The KM server, if named; otherwise the user's site's.
        km: Option<KmName>,
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
    /// A live user's client fetches a message.
    LiveFetch {
        /// The live user.
        user: UserName,
        /// The message's subject.
        subject: String,
        /// How the stand-in fetches.
        protocol: FetchProtocol,
        /// How long a real client is waited for.
        timeout: Duration,
    },
    /// A live user's client submits a message.
    LiveSend {
        /// What the stand-in sends; the sender, recipients and subject a real client's
        /// message must have.
        send: SendStep,
        /// How long a real client is waited for.
        timeout: Duration,
    },
    /// A raw SMTP conversation with the sink.
    SmtpSession {
        /// The bytes the client sends.
        input: Vec<u8>,
    },
    /// Change CA settings (in force after a restart).
    ConfigureCa {
        /// The CA.
        ca: CaName,
        /// A new validity unit.
        period: Option<ValidityPeriod>,
        /// A new number of units.
        units: Option<u32>,
        /// A new policy module.
        policy: Option<PolicyModule>,
    },
    /// Restart certificate services.
    RestartCa {
        /// The CA.
        ca: CaName,
    },
    /// Install a pending subordinate's certificate.
    InstallCaCertificate {
        /// The subordinate.
        ca: CaName,
        /// Whether the root certificate is supplied in the same step.
        supply_root: bool,
    },
    /// Request a certificate straight from a CA.
    RequestCertificate {
        /// The CA.
        ca: CaName,
        /// Who asks, if a user.
        user: Option<UserName>,
        /// What for.
        purpose: RequestPurpose,
        /// Which X.509 version.
        version: CertificateVersion,
    },
    /// Revoke a certificate at the CA.
    Revoke {
        /// The CA.
        ca: CaName,
        /// What to revoke.
        target: RevokeTarget,
    },
    /// Publish a CRL.
    PublishCrl {
        /// The CA.
        ca: CaName,
    },
    /// A client downloads a CRL.
    FetchCrl {
        /// The user.
        user: UserName,
        /// The CA.
        ca: CaName,
    },
    /// Add a root to a trusted store.
    InstallRoot {
        /// The root CA.
        ca: CaName,
        /// Whose store.
        store: RootStore,
    },
    /// Add a CA to the certificate trust list.
    CtlAdd {
        /// The foreign CA.
        ca: CaName,
        /// The KM server.
        km: KmName,
    },
    /// Remove a CA from the certificate trust list.
    CtlRemove {
        /// The CA.
        ca: CaName,
        /// The KM server.
        km: KmName,
    },
    /// The KM host's drive mapping to the CA's shared folder is gone.
    DropDriveMapping {
        /// The KM server.
        km: KmName,
    },
    /// Set the KM host's ConfigurationDirectory.
    SetConfigurationDirectory {
        /// The KM server.
        km: KmName,
        /// The folder.
        path: String,
    },
    /// Grant the KM administrators manage permission on the KM server's CA.
    GrantManagePermission {
        /// The KM server.
        km: KmName,
    },
    /// Grant a certificate-template permission on an enterprise CA.
    GrantTemplatePermission {
        /// The CA.
        ca: CaName,
        /// The permission.
        permission: TemplatePermission,
    },
    /// Start key recovery.
    Recover {
        /// The KM server, if named.
        km: Option<KmName>,
        /// The user.
        user: UserName,
    },
    /// A client loses every key.
    LoseKeys {
        /// The user.
        user: UserName,
    },
    /// A user moves to another mail client.
    ChangeClient {
        /// The user.
        user: UserName,
        /// The new client.
        persona: Persona,
        /// The new client build's strength.
        strength: Strength,
    },
    /// Choose the enrollment mode.
    SetEnrollmentMode {
        /// The KM server.
        km: KmName,
        /// The mode.
        mode: EnrollmentMode,
    },
    /// Re-issue every enrolled user's certificates.
    RenewAll {
        /// The KM server.
        km: KmName,
    },
    /// Remove advanced security from a mailbox.
    RevokeUser {
        /// The KM server, if named.
        km: Option<KmName>,
        /// The user.
        user: UserName,
    },
    /// Move a mailbox to another site.
    MoveUser {
        /// The user.
        user: UserName,
        /// The new site.
        site: SiteName,
    },
    /// Run the security tool over a mailbox.
    Sectool {
        /// The user.
        user: UserName,
        /// Decrypt or encrypt.
        operation: SectoolOperation,
    },
    /// Bulk key export and import.
    ExportKeys {
        /// The exporting KM server.
        from: KmName,
        /// The importing KM server.
        to: KmName,
        /// Whose keys.
        users: Vec<UserName>,
        /// The thumbprint the administrator typed, if not the right one.
        thumbprint: Option<String>,
    },
    /// Attach a KM server to another CA.
    ReattachCa {
        /// The KM server.
        km: KmName,
        /// The new CA.
        ca: CaName,
    },
    /// Stop the KM service.
    StopKm {
        /// The KM server.
        km: KmName,
    },
    /// Start the KM service.
    StartKm {
        /// The KM server.
        km: KmName,
        /// The password typed, if not the right one.
        startup_password: Option<String>,
    },
    /// Change the KM administrator password.
    ChangeAdminPassword {
        /// The KM server.
        km: KmName,
        /// The new password.
        password: String,
    },
    /// Back up a KM database.
    BackupKm {
        /// The KM server.
        km: KmName,
        /// The backup's name.
        name: String,
    },
    /// Back up a CA database.
    BackupCa {
        /// The CA.
        ca: CaName,
        /// The backup's name.
        name: String,
    },
    /// Restore a KM database.
    RestoreKm {
        /// The KM server.
        km: KmName,
        /// From where.
        source: RestoreSource,
    },
    /// Restore a CA database.
    RestoreCa {
        /// The CA.
        ca: CaName,
        /// The backup's name.
        from: String,
    },
    /// Move a KM server to a new machine.
    Forklift {
        /// The KM server.
        km: KmName,
        /// The new machine's host name.
        new_host: String,
        /// The startup password given there, if not the right one.
        startup_password: Option<String>,
    },
    /// Upgrade an NT 4.0 Certificate Server to Windows 2000.
    UpgradeCa {
        /// The CA.
        ca: CaName,
    },
    /// Install something on a host.
    InstallPart {
        /// The host.
        host: HostName,
        /// What.
        part: InstalledPart,
    },
    /// Set up a two-way trust between two Windows domains.
    AddTrust {
        /// One domain, as the scenario names it.
        domain: String,
        /// The other.
        with: String,
    },
}

/// What `sectool` does to a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectoolOperation {
    /// Decrypt every encrypted message in place.
    Decrypt,
    /// Encrypt every message again with the user's current key.
    Encrypt,
}

named!(SectoolOperation { Decrypt => "decrypt", Encrypt => "encrypt" });

/// Where a restore reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// A backup an earlier step made.
    Backup(String),
    /// A file given by the scenario, resolved against the scenario's folder.
    File(PathBuf),
}

impl Action {
    /// The action's name as written in scenario files.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Which kind of action this is.
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Clock { .. } => ActionKind::Clock,
            Self::EnableV3 { .. } => ActionKind::EnableV3,
            Self::EnableUser { .. } => ActionKind::EnableUser,
            Self::Enroll { .. } => ActionKind::Enroll,
            Self::Send(_) => ActionKind::Send,
            Self::Read { .. } => ActionKind::Read,
            Self::AlterMessage { .. } => ActionKind::AlterMessage,
            Self::SmtpFault(_) => ActionKind::SmtpFault,
            Self::InteropMatrix { .. } => ActionKind::InteropMatrix,
            Self::SmtpSession { .. } => ActionKind::SmtpSession,
            Self::ConfigureCa { .. } => ActionKind::ConfigureCa,
            Self::RestartCa { .. } => ActionKind::RestartCa,
            Self::InstallCaCertificate { .. } => ActionKind::InstallCaCertificate,
            Self::RequestCertificate { .. } => ActionKind::RequestCertificate,
            Self::Revoke { .. } => ActionKind::Revoke,
            Self::PublishCrl { .. } => ActionKind::PublishCrl,
            Self::FetchCrl { .. } => ActionKind::FetchCrl,
            Self::InstallRoot { .. } => ActionKind::InstallRoot,
            Self::CtlAdd { .. } => ActionKind::CtlAdd,
            Self::CtlRemove { .. } => ActionKind::CtlRemove,
            Self::DropDriveMapping { .. } => ActionKind::DropDriveMapping,
            Self::SetConfigurationDirectory { .. } => ActionKind::SetConfigurationDirectory,
            Self::GrantManagePermission { .. } => ActionKind::GrantManagePermission,
            Self::GrantTemplatePermission { .. } => ActionKind::GrantTemplatePermission,
            Self::Recover { .. } => ActionKind::Recover,
            Self::LoseKeys { .. } => ActionKind::LoseKeys,
            Self::ChangeClient { .. } => ActionKind::ChangeClient,
            Self::SetEnrollmentMode { .. } => ActionKind::SetEnrollmentMode,
            Self::RenewAll { .. } => ActionKind::RenewAll,
            Self::RevokeUser { .. } => ActionKind::RevokeUser,
            Self::MoveUser { .. } => ActionKind::MoveUser,
            Self::Sectool { .. } => ActionKind::Sectool,
            Self::ExportKeys { .. } => ActionKind::ExportKeys,
            Self::ReattachCa { .. } => ActionKind::ReattachCa,
            Self::StopKm { .. } => ActionKind::StopKm,
            Self::StartKm { .. } => ActionKind::StartKm,
            Self::ChangeAdminPassword { .. } => ActionKind::ChangeAdminPassword,
            Self::BackupKm { .. } => ActionKind::BackupKm,
            Self::BackupCa { .. } => ActionKind::BackupCa,
            Self::RestoreKm { .. } => ActionKind::RestoreKm,
            Self::RestoreCa { .. } => ActionKind::RestoreCa,
            Self::Forklift { .. } => ActionKind::Forklift,
            Self::UpgradeCa { .. } => ActionKind::UpgradeCa,
            Self::InstallPart { .. } => ActionKind::InstallPart,
            Self::AddTrust { .. } => ActionKind::AddTrust,
            Self::LiveFetch { .. } => ActionKind::LiveFetch,
            Self::LiveSend { .. } => ActionKind::LiveSend,
        }
    }
}

/// What a step's record must show, and what it must not.
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    /// The outcome; `error` stands for every error, whatever its identifier
    /// ([`Outcome::covers`]).
    pub outcome: Option<Outcome>,
    /// The reason word.
    pub reason: Option<String>,
    /// Record details, by key.
    pub details: Vec<(String, String)>,
    /// What the record must not show (`not = { … }`, `outcome = "!ok"`): the expectation
    /// fails if any one of these matches.
    pub not: Vec<Unexpected>,
}

/// One thing a record must not show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unexpected {
    /// An outcome, matched as an expected outcome is ([`Outcome::covers`]).
    Outcome(Outcome),
    /// A reason word.
    Reason(String),
    /// A detail's value (for a list, any item), by key.
    Detail(String, String),
}
