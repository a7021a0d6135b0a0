//! The KM server: enabling advanced security, enrolling with tokens, escrow, key history and
//! recovery, enrollment modes, revocation, export and import, backup, restore and forklift.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use model::{
    CaName, CertificateDer, CertifiedKey, KeyGeneration, KmName, Named, PrivateKeyDer, SeededRng,
    SiteName, Timestamp, UserName, named,
};
use pki::{
    CertificateInfo, CertificatePurpose, CertificateRequest, CertificateVersion,
    CertificationAuthority, KeyPool, NameAttribute, RevokeError, RsaPublicKey, TemplatePermission,
    build_name, private_key_der,
};
use rand_core::RngCore;

use crate::database::{Database, DatabaseError, EscrowedKey, TokenCheck};
use crate::directory::Directory;
use crate::escrow::{EscrowKeys, ITERATIONS, Identity, KdfParameters, SALT_LENGTH};
use crate::preconditions::{CA_NOT_FOUND, HIERARCHY_INVALID};
use crate::product::Product;
use crate::token::Token;

/// Which certificate versions the KM server hands out (KM-06).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrollmentMode {
    /// V1 certificates for V1 clients and V3 certificates for V3 clients (the default).
    V1AndV3,
    /// V3 only: legacy clients lose advanced security.
    V3Only,
    /// V1 only.
    V1Only,
}

named!(EnrollmentMode { V1AndV3 => "v1-and-v3", V3Only => "v3-only", V1Only => "v1-only" });

impl EnrollmentMode {
    fn allows(self, version: CertificateVersion) -> bool {
        match self {
            Self::V1AndV3 => true,
            Self::V3Only => version == CertificateVersion::V3,
            Self::V1Only => version == CertificateVersion::V1,
        }
    }
}

/// The password every KM server's administrator starts with (KM-16).
pub const DEFAULT_ADMIN_PASSWORD: &str = "password";

/// What a scenario says about a KM server.
#[derive(Debug, Clone)]
pub struct KmSetup {
    /// The KM server's name.
    pub name: KmName,
    /// The product.
    pub product: Product,
    /// The site (5.5) or administrative group (2000) it serves.
    pub site: SiteName,
    /// The organisation name.
    pub organization: String,
    /// The startup password that unlocks the escrow key.
    pub startup_password: String,
    /// The CA it is attached to when installed.
    pub ca: CaName,
    /// The longest mailbox DN that may receive a V3 certificate (KM-18).
    pub max_dn_length: usize,
}

/// The environment a KM operation runs in: the attached CA, the key pool, the clock, the
/// directory.
#[derive(Debug)]
pub struct KmContext<'a> {
    /// The CA the KM server is attached to.
    pub ca: &'a mut CertificationAuthority,
    /// Where key pairs come from.
    pub keys: &'a KeyPool,
    /// The virtual time.
    pub now: Timestamp,
    /// The organisation's directory.
    pub directory: &'a mut Directory,
    /// The root of the CA's hierarchy, which enrolling clients are asked to trust.
    pub root: Option<CertificateDer>,
    /// Template permissions the CA lacks (Exchange 2000 on an enterprise CA, KM-17).
    pub missing_templates: Vec<TemplatePermission>,
    /// The size in bits of the encryption key pairs the KM server generates for the user this
    /// operation is for.
    pub key_bits: usize,
    /// The lowest generation a new encryption key of the user this operation is for may
    /// have. A generation names one key for the whole run: a KM server that never knew the
    /// user's earlier keys (after a 5.5 site move) continues their numbering, it does not
    /// start again at 1.
    pub first_generation: KeyGeneration,
}

/// Errors that stop the KM server itself (as opposed to refusals, which are outcomes).
#[derive(Debug, thiserror::Error)]
pub enum KmError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// Certificate work failed.
    #[error("certificate: {0}")]
    Pki(#[from] pki::PkiError),
    /// A key pair could not be generated or encoded.
    #[error(transparent)]
    Key(#[from] pki::KeyError),
    /// The CA failed to build a certificate.
    #[error("the CA failed: {0}")]
    Issue(String),
    /// A key could not be unwrapped with the startup password.
    #[error("escrowed key generation {0} does not unwrap with this startup password")]
    Unwrap(u32),
    /// Copying database files failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Why the KM server refused an enrollment or an administrative operation. Each is an
/// outcome the transcript shows, never a failure of kmlab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The KM server is not installed (its installation failed).
    NotInstalled,
    /// The KM service is stopped.
    ServiceStopped,
    /// Advanced security has not been enabled on this KM server.
    V3NotEnabled,
    /// The administrator never enabled this mailbox.
    NotEnabled,
    /// The mailbox is already enrolled; recovery, not enabling, gives it a new token.
    AlreadyEnrolled,
    /// The mailbox never enrolled, so there is nothing to recover.
    NeverEnrolled,
    /// The token does not match any issued to this mailbox.
    WrongToken,
    /// The token was already used.
    TokenUsed,
    /// The enrollment mode excludes every certificate version the client can use (KM-06).
    ModeExcludesClient(EnrollmentMode),
    /// The mailbox DN is too long for a V3 certificate (KM-18).
    DnTooLong {
        /// The DN's length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// A certificate template permission is missing on the enterprise CA (KM-17).
    TemplatePermission(TemplatePermission),
    /// The CA refused to issue; the reason word says why.
    CaRefused(&'static str),
    /// The KM administrators lack manage permission on the CA (KM-14, c1031d92).
    NoManagePermission,
    /// A 5.5 KM database can be backed up only with the service stopped (OPS-01).
    ServiceRunning,
    /// Online operations need the service running.
    NotRunning,
    /// The startup password is wrong.
    WrongStartupPassword,
    /// The file offered for a restore is not a KM database.
    NotAKmDatabase(String),
    /// The forklift target's host name differs (OPS-02).
    HostNameDiffers {
        /// The original host.
        expected: String,
        /// The new one.
        given: String,
    },
    /// The forklift target was started with another startup password (OPS-02).
    StartupPasswordDiffers,
    /// Bulk export and import are Exchange 2000 features.
    NotSupportedByProduct,
    /// The target KM server's certificate thumbprint is not the one the administrator gave.
    ThumbprintMismatch,
    /// The KM server lost its CA (an upgrade without Web Enrollment Support, OPS-03).
    CaLost,
    /// The KM host's drive mapping to the CA's shared configuration folder was dropped, so the
    /// CA has disappeared for the KM server (KM-02): nothing can be issued or revoked through
    /// it until the folder is reachable again.
    DriveMappingDropped {
        /// The shared folder the mapping pointed at.
        folder: String,
    },
    /// The CA would issue user certificates that end before two years are up (KM-05); the KM
    /// server requires two years, because shorter ones do not function properly.
    ShortValidity {
        /// When the certificates would end.
        not_after: Timestamp,
    },
}

impl Refusal {
    /// A stable reason word for transcripts.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotInstalled => "km-not-installed",
            Self::ServiceStopped => "service-stopped",
            Self::V3NotEnabled => "v3-not-enabled",
            Self::NotEnabled => "not-enabled",
            Self::AlreadyEnrolled => "already-enrolled",
            Self::NeverEnrolled => "never-enrolled",
            Self::WrongToken => "token-wrong",
            Self::TokenUsed => "token-used",
            Self::ModeExcludesClient(EnrollmentMode::V3Only) => "mode-v3-only",
            Self::ModeExcludesClient(EnrollmentMode::V1Only) => "mode-v1-only",
            Self::ModeExcludesClient(EnrollmentMode::V1AndV3) => "client-unsupported",
            Self::DnTooLong { .. } => "dn-too-long",
            Self::TemplatePermission(_) => "template-permission",
            Self::CaRefused(reason) => reason,
            Self::NoManagePermission => "no-manage-permission",
            Self::ServiceRunning => "service-running",
            Self::NotRunning => "service-stopped",
            Self::WrongStartupPassword => "wrong-startup-password",
            Self::NotAKmDatabase(_) => "not-a-km-database",
            Self::HostNameDiffers { .. } => "host-name-differs",
            Self::StartupPasswordDiffers => "startup-password-differs",
            Self::NotSupportedByProduct => "not-supported-by-product",
            Self::ThumbprintMismatch => "thumbprint-mismatch",
            Self::CaLost => "ca-lost",
            Self::DriveMappingDropped { .. } => "drive-mapping",
            Self::ShortValidity { .. } => "validity",
        }
    }

    /// The product's error identifier, where the refusal has one.
    pub fn error_id(&self) -> Option<&'static str> {
        match self {
            Self::NoManagePermission => Some("c1031d92"),
            Self::CaLost | Self::DriveMappingDropped { .. } => Some(CA_NOT_FOUND),
            Self::ShortValidity { .. } => Some(HIERARCHY_INVALID),
            _ => None,
        }
    }

    /// What the administrator is told, where it says more than the reason word itself.
    pub fn explanation(&self) -> Option<String> {
        let message = self.message();
        (message != self.reason().replace('-', " ")).then_some(message)
    }

    /// What the administrator is told.
    pub fn message(&self) -> String {
        match self {
            Self::DnTooLong { length, limit } => {
                format!("the mailbox DN has {length} characters; V3 certificates allow at most {limit}")
            }
            Self::TemplatePermission(permission) => format!("missing template permission {}", permission.name()),
            Self::NotAKmDatabase(detail) => detail.clone(),
            Self::HostNameDiffers { expected, given } => {
                format!("the new host is named {given}; a forklift needs the same host name, {expected}")
            }
            Self::StartupPasswordDiffers => "the new host's KM service was given another startup password".to_owned(),
            Self::NoManagePermission => "the operation could not be completed: the KM administrators lack manage permission on the CA".to_owned(),
            Self::DriveMappingDropped { folder } => format!(
                "the drive mapped to {folder} is gone, so the CA disappears: the KM server can neither have certificates issued nor revoke them until the folder is mapped again"
            ),
            Self::ShortValidity { not_after } => format!(
                "the CA would issue user certificates valid only until {not_after}; the KM server requires at least 2 years, since shorter ones do not function properly"
            ),
            other => other.reason().replace('-', " "),
        }
    }
}

/// The KM server's own certificate after enabling advanced security.
#[derive(Debug, Clone)]
pub struct EnabledV3 {
    /// The certificate.
    pub info: CertificateInfo,
    /// Whether the CA revoked it right after issuing it (CA-11).
    pub revoked: bool,
}

fn issue_error(error: pki::IssueError) -> KmError {
    KmError::Issue(error.to_string())
}

/// What a client receives when it enrolls (or recovers).
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The new encryption key pair (escrowed).
    pub encryption: CertifiedKey,
    /// The certificate for the client's own signing key.
    pub signing_certificate: CertificateDer,
    /// The certificate version issued.
    pub version: CertificateVersion,
    /// The root of the KM server's hierarchy, which the client is asked to trust.
    pub root: Option<CertificateDer>,
    /// On recovery: every earlier encryption key of the current hierarchy (KM-10).
    pub history: Vec<CertifiedKey>,
    /// Whether this was a recovery.
    pub recovered: bool,
}

/// What the KM server revoked for a user, and what it could not.
#[derive(Debug, Clone, Default)]
pub struct Revocation {
    /// Serials revoked now, in the CA and the KM database.
    pub revoked: Vec<String>,
    /// Serials the KM database lists as revoked but the CA does not: after restoring KM and
    /// CA backups taken apart, the KM server can no longer revoke them (OPS-01).
    pub diverged: Vec<String>,
    /// Serials revoked now in the KM database that the CA had already revoked: the KM
    /// database had them as active while the CA's CRL listed them (after restoring a CA
    /// backup newer than the KM one, or a revocation made at the CA alone); the two agree
    /// again now (OPS-01).
    pub already_at_ca: Vec<String>,
}

/// Where the KM database and its CA disagree about revocation (OPS-01), serials each way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Divergence {
    /// Revoked in the KM database, not at the CA: the KM server will not ask the CA again,
    /// so the certificates stay off the CRL.
    pub km_only: Vec<String>,
    /// Revoked at the CA, active in the KM database: the CRL lists certificates the KM
    /// server still counts as its user's.
    pub ca_only: Vec<String>,
}

/// One user's keys in an export.
#[derive(Debug, Clone)]
pub struct ExportedUser {
    /// The user.
    pub user: UserName,
    /// The mailbox DN the exporting KM server knew.
    pub mailbox_dn: String,
    /// The SMTP address.
    pub email: String,
    /// Every escrowed key, with the version of its certificate.
    pub keys: Vec<(CertifiedKey, CertificateVersion)>,
}

/// Keys exported for another KM server (KM-12, Exchange 2000).
#[derive(Debug, Clone)]
pub struct ExportBundle {
    /// The users and their keys.
    pub users: Vec<ExportedUser>,
}

/// A user's escrowed generations, as a forklift finds them.
#[derive(Debug, Clone)]
pub struct UserHistory {
    /// The user.
    pub user: UserName,
    /// Every generation that unwrapped.
    pub generations: Vec<KeyGeneration>,
}

/// A KM server with its database.
#[derive(Debug)]
pub struct KmServer {
    setup: KmSetup,
    database: Database,
    certificate: Option<CertificateDer>,
    rng: SeededRng,
    mode: EnrollmentMode,
    running: bool,
    admin_password: String,
    hierarchy: CaName,
    /// The keys escrowed keys are wrapped under, derived from the startup password.
    escrow: EscrowKeys,
    /// What happened around the server rather than in its database: kept in memory only, so
    /// that the database files stay byte for byte what the product would write.
    surroundings: Surroundings,
}

/// The KM server's situation outside its database (see [`KmServer::has_lost_ca`] and the
/// methods next to it).
#[derive(Debug, Clone, Default)]
struct Surroundings {
    lost_ca: bool,
    drive_mapping_dropped: bool,
    configuration_directory: Option<String>,
    manage_permission_granted: bool,
    v1_security_ended: BTreeSet<UserName>,
}

impl KmServer {
    /// Installs a KM server with a new database file at `database_path`.
    pub fn install(setup: KmSetup, database_path: &Path, rng: SeededRng) -> Result<Self, KmError> {
        let database = Database::create(database_path, setup.name.as_str())?;
        let mut salt = vec![0u8; SALT_LENGTH];
        rng.fork("escrow salt").fill_bytes(&mut salt);
        let parameters = KdfParameters {
            salt,
            iterations: ITERATIONS,
        };
        parameters.store(&database)?;
        let escrow = EscrowKeys::derive(&setup.startup_password, &parameters);
        database.set_setting("startup_verifier", escrow.verifier())?;
        database.set_setting("hierarchy", setup.ca.as_str())?;
        Ok(Self {
            escrow,
            hierarchy: setup.ca.clone(),
            setup,
            database,
            certificate: None,
            rng,
            mode: EnrollmentMode::V1AndV3,
            running: true,
            admin_password: DEFAULT_ADMIN_PASSWORD.to_owned(),
            surroundings: Surroundings::default(),
        })
    }

    /// The setup.
    pub fn setup(&self) -> &KmSetup {
        &self.setup
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The KM server's own certificate, once advanced security is enabled.
    pub fn certificate(&self) -> Option<&CertificateDer> {
        self.certificate.as_ref()
    }

    /// The enrollment mode set for V3.
    pub fn mode(&self) -> EnrollmentMode {
        self.mode
    }

    /// The mode enrollment follows now: `v1-only` until V3 is enabled, then the one set.
    pub fn mode_in_force(&self) -> EnrollmentMode {
        if self.certificate.is_none() {
            EnrollmentMode::V1Only
        } else {
            self.mode
        }
    }

    /// Whether the service runs.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The CA the KM server is attached to now.
    pub fn hierarchy(&self) -> &CaName {
        &self.hierarchy
    }

    /// Whether the administrator still uses the default password (KM-16).
    pub fn has_default_admin_password(&self) -> bool {
        self.admin_password == DEFAULT_ADMIN_PASSWORD
    }

    /// Changes the administrator password.
    pub fn set_admin_password(&mut self, password: &str) {
        self.admin_password = password.to_owned();
    }

    /// Notes that the KM server lost its CA: the CA's host was upgraded to Windows 2000 before
    /// Web Enrollment Support was installed (OPS-03). It stays lost until [`Self::reattach`]; see
    /// [`Refusal::CaLost`].
    pub fn lose_ca(&mut self) {
        self.surroundings.lost_ca = true;
    }

    /// Whether the KM server lost its CA (OPS-03).
    pub fn has_lost_ca(&self) -> bool {
        self.surroundings.lost_ca
    }

    /// Notes that the KM host's drive mapping to the CA's shared folder was dropped (KM-02).
    pub fn drop_drive_mapping(&mut self) {
        self.surroundings.drive_mapping_dropped = true;
    }

    /// Whether the KM host's drive mapping to the CA's shared folder was dropped (KM-02).
    pub fn drive_mapping_dropped(&self) -> bool {
        self.surroundings.drive_mapping_dropped
    }

    /// Sets the KM host's ConfigurationDirectory (KM-02). The administrator who sets it points
    /// it at a folder the host reaches, so a dropped drive mapping no longer matters.
    pub fn set_configuration_directory(&mut self, path: &str) {
        self.surroundings.configuration_directory = Some(path.to_owned());
        self.surroundings.drive_mapping_dropped = false;
    }

    /// Notes that the KM administrators were granted manage permission on the CA (KM-14),
    /// whatever the scenario's `ca_manage_permission` said.
    pub fn grant_manage_permission(&mut self) {
        self.surroundings.manage_permission_granted = true;
    }

    /// Whether [`Self::grant_manage_permission`] was called.
    pub fn has_granted_manage_permission(&self) -> bool {
        self.surroundings.manage_permission_granted
    }

    /// The ConfigurationDirectory set by [`Self::set_configuration_directory`], if any; the
    /// scenario's own setting applies otherwise.
    pub fn configuration_directory(&self) -> Option<&str> {
        self.surroundings.configuration_directory.as_deref()
    }

    /// Notes that `user`, whose client knows only V1 certificates, lost advanced security when
    /// the enrollment mode became `v3-only` (KM-06): the client can no longer read mail
    /// encrypted to it.
    pub fn end_v1_security(&mut self, user: &UserName) {
        self.surroundings.v1_security_ended.insert(user.clone());
    }

    /// Gives `user` advanced security back (the user enrolled again); whether it had ended.
    pub fn restore_v1_security(&mut self, user: &UserName) -> bool {
        self.surroundings.v1_security_ended.remove(user)
    }

    /// Whether `user`'s V1-only client lost advanced security here (KM-06).
    pub fn v1_security_ended(&self, user: &UserName) -> bool {
        self.surroundings.v1_security_ended.contains(user)
    }

    /// Every user whose V1-only client lost advanced security here, in name order.
    pub fn v1_security_ended_users(&self) -> impl Iterator<Item = &UserName> {
        self.surroundings.v1_security_ended.iter()
    }

    /// Stops the service.
    pub fn stop(&mut self) {
        self.running = false;
    }

    /// Starts the service; the startup password must unlock the escrow key (KM-16).
    pub fn start(&mut self, startup_password: &str) -> Result<Result<(), Refusal>, KmError> {
        if !self.verifies(startup_password)? {
            return Ok(Err(Refusal::WrongStartupPassword));
        }
        self.running = true;
        Ok(Ok(()))
    }

    /// Whether `startup_password` is the one the database's verifier was made from.
    fn verifies(&self, startup_password: &str) -> Result<bool, KmError> {
        let expected = self.database.setting("startup_verifier")?;
        let candidate = EscrowKeys::for_database(&self.database, startup_password)?;
        Ok(expected.as_deref() == Some(candidate.verifier()))
    }

    /// Sets the enrollment mode; switching to `v3-only` warns that legacy clients lose
    /// advanced security (KM-06). Returns the warning, if any.
    pub fn set_mode(&mut self, mode: EnrollmentMode) -> Option<String> {
        let warn = mode == EnrollmentMode::V3Only && self.mode != EnrollmentMode::V3Only;
        self.mode = mode;
        warn.then(|| "users of V1-only clients lose advanced security: they can no longer enroll or read mail encrypted to them earlier".to_owned())
    }

    /// Enables advanced security: the CA issues the KM server its own certificate. With an
    /// Exchange policy module the CA revokes that certificate at once, which is normal
    /// (CA-11): user certificates are still issued.
    pub fn enable_v3(
        &mut self,
        context: &mut KmContext<'_>,
    ) -> Result<Result<EnabledV3, Refusal>, KmError> {
        if let Some(refusal) = lacking(
            &context.missing_templates,
            &[
                TemplatePermission::AuthenticatedUsersReadMachineEnrollmentAgent,
                TemplatePermission::KmEnrollMachineEnrollmentAgent,
            ],
        ) {
            return Ok(Err(refusal));
        }
        let (key, _) = context.keys.key(&format!("km:{}", self.setup.name), 2048)?;
        let request = CertificateRequest {
            subject: build_name(&[
                NameAttribute::Organization(&self.setup.organization),
                NameAttribute::OrganizationalUnit(self.setup.site.as_str()),
                NameAttribute::CommonName(self.setup.name.as_str()),
            ])?,
            email: None,
            public_key: key.to_public_key(),
            purpose: CertificatePurpose::KmServer,
            version: CertificateVersion::V3,
        };
        let issued = context
            .ca
            .issue(&request, context.now)
            .map_err(issue_error)?;
        let info = CertificateInfo::parse(&issued.der)?;
        let revoked = context.ca.policy().is_exchange();
        if revoked {
            match context.ca.revoke(&issued.serial, context.now) {
                // The serial was issued a moment ago, so the CA has it and has not revoked it;
                // were it otherwise, the certificate would be unusable all the same.
                Ok(()) | Err(RevokeError::NotIssued | RevokeError::AlreadyRevoked) => {}
            }
        }
        self.certificate = Some(issued.der);
        Ok(Ok(EnabledV3 { info, revoked }))
    }

    /// Enables a mailbox and returns its one-time token (KM-07).
    pub fn enable_user(
        &mut self,
        user: &UserName,
        context: &mut KmContext<'_>,
    ) -> Result<Result<Token, Refusal>, KmError> {
        let entry = match self.serving(user, context.directory, Refusal::NotEnabled)? {
            Ok(entry) => entry,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let state = self.database.user_state(&entry.mailbox_dn)?;
        if matches!(state.as_deref(), Some("enrolled" | "recovering")) {
            return Ok(Err(Refusal::AlreadyEnrolled));
        }
        self.atomically(|server| {
            if state.is_some() {
                server
                    .database
                    .set_user_state(&entry.mailbox_dn, "enabled")?;
            } else {
                server.database.enable_user(
                    &entry.mailbox_dn,
                    user.as_str(),
                    entry.email.as_str(),
                    context.now,
                )?;
            }
            Ok(Ok(server.new_token(&entry.mailbox_dn, context.now)?))
        })
    }

    /// Runs `writes` as one unit in the database: a crash or an error keeps all of them or
    /// none, and the unit costs one commit however many rows it writes.
    fn atomically<T>(
        &mut self,
        writes: impl FnOnce(&mut Self) -> Result<T, KmError>,
    ) -> Result<T, KmError> {
        self.database.begin()?;
        let result = writes(self);
        match &result {
            Ok(_) => self.database.commit()?,
            Err(_) => self.database.roll_back()?,
        }
        result
    }

    /// Starts recovery for a user who lost keys or forgot the password: a new token, with
    /// which the client gets back the whole encryption history (KM-10).
    pub fn recover(
        &mut self,
        user: &UserName,
        context: &mut KmContext<'_>,
    ) -> Result<Result<Token, Refusal>, KmError> {
        let entry = match self.serving(user, context.directory, Refusal::NeverEnrolled)? {
            Ok(entry) => entry,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let has_keys = !self.current_history(&entry.mailbox_dn)?.is_empty();
        match self.database.user_state(&entry.mailbox_dn)?.as_deref() {
            Some("enrolled" | "recovering") => {}
            Some("enabled") if has_keys => {}
            _ => return Ok(Err(Refusal::NeverEnrolled)),
        }
        self.database
            .set_user_state(&entry.mailbox_dn, "recovering")?;
        Ok(Ok(self.new_token(&entry.mailbox_dn, context.now)?))
    }

    /// The directory entry of a user this running KM server can act for; `unknown` when the
    /// directory does not know the user.
    fn serving(
        &self,
        user: &UserName,
        directory: &Directory,
        unknown: Refusal,
    ) -> Result<Result<crate::DirectoryEntry, Refusal>, KmError> {
        if !self.running {
            return Ok(Err(Refusal::ServiceStopped));
        }
        Ok(self.entry(user, directory)?.ok_or(unknown))
    }

    /// A user's directory entry, with the mailbox DN this KM database knows the user by: a
    /// user who moved keeps the DN the KM server first recorded.
    fn entry(
        &self,
        user: &UserName,
        directory: &Directory,
    ) -> Result<Option<crate::DirectoryEntry>, KmError> {
        let Some(mut entry) = directory.entry(user).cloned() else {
            return Ok(None);
        };
        if let Some(known) = self.database.mailbox_of(user.as_str())? {
            entry.mailbox_dn = known;
        }
        Ok(Some(entry))
    }

    fn new_token(&mut self, mailbox_dn: &str, now: Timestamp) -> Result<Token, KmError> {
        let token = Token::generate(&mut self.rng);
        self.database.add_token(mailbox_dn, &token.digest(), now)?;
        Ok(token)
    }

    /// A client enrolls (or, after `recover`, recovers) with a token: the KM server generates
    /// and escrows a new encryption key pair and has the CA certify it and the client's own
    /// signing key, in the newest certificate version both the mode and the client allow.
    pub fn enroll(
        &mut self,
        user: &UserName,
        token: &Token,
        signing_key: &RsaPublicKey,
        versions: &[CertificateVersion],
        context: &mut KmContext<'_>,
    ) -> Result<Result<Enrollment, Refusal>, KmError> {
        if !self.running {
            return Ok(Err(Refusal::ServiceStopped));
        }
        // Before V3 is enabled the KM server issues V1 certificates only.
        if self.certificate.is_none() && !versions.contains(&CertificateVersion::V1) {
            return Ok(Err(Refusal::V3NotEnabled));
        }
        let Some(entry) = self.entry(user, context.directory)? else {
            return Ok(Err(Refusal::NotEnabled));
        };
        let state = self.database.user_state(&entry.mailbox_dn)?;
        if !matches!(state.as_deref(), Some("enabled" | "recovering")) {
            return Ok(Err(if state.is_some() {
                Refusal::TokenUsed
            } else {
                Refusal::NotEnabled
            }));
        }
        match self
            .database
            .token_state(&entry.mailbox_dn, &token.digest())?
        {
            TokenCheck::Accepted => {}
            TokenCheck::Wrong => return Ok(Err(Refusal::WrongToken)),
            TokenCheck::AlreadyUsed => return Ok(Err(Refusal::TokenUsed)),
        }
        // The escrow, the spent token and the new state are written as one unit.
        self.atomically(|server| {
            let issued = match server.issue_pair(
                user,
                &entry.mailbox_dn,
                entry.email.as_str(),
                signing_key,
                versions,
                context,
            )? {
                Ok(issued) => issued,
                Err(refusal) => return Ok(Err(refusal)),
            };
            server
                .database
                .use_token(&entry.mailbox_dn, &token.digest(), context.now)?;
            let recovered = state.as_deref() == Some("recovering");
            let history = if recovered {
                let mut history = server.current_history(&entry.mailbox_dn)?;
                history.retain(|key| key.generation != issued.encryption.generation);
                history
            } else {
                Vec::new()
            };
            server
                .database
                .set_user_state(&entry.mailbox_dn, "enrolled")?;
            Ok(Ok(Enrollment {
                history,
                recovered,
                ..issued
            }))
        })
    }

    /// Re-issues an enrolled user's certificates under the current mode, with a new escrowed
    /// encryption key; `renew-all` does this for everyone (KM-06).
    pub fn renew(
        &mut self,
        user: &UserName,
        signing_key: &RsaPublicKey,
        versions: &[CertificateVersion],
        context: &mut KmContext<'_>,
    ) -> Result<Result<Enrollment, Refusal>, KmError> {
        let entry = match self.serving(user, context.directory, Refusal::NeverEnrolled)? {
            Ok(entry) => entry,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if self.database.user_state(&entry.mailbox_dn)?.as_deref() != Some("enrolled") {
            return Ok(Err(Refusal::NeverEnrolled));
        }
        self.atomically(|server| {
            server.issue_pair(
                user,
                &entry.mailbox_dn,
                entry.email.as_str(),
                signing_key,
                versions,
                context,
            )
        })
    }

    /// Every user this KM server has enrolled, in mailbox order.
    pub fn enrolled_users(&self) -> Result<Vec<UserName>, KmError> {
        Ok(self
            .database
            .users()?
            .into_iter()
            .filter(|(_, _, state)| state == "enrolled")
            .map(|(_, user, _)| UserName::new(user))
            .collect())
    }

    fn issue_pair(
        &mut self,
        user: &UserName,
        mailbox_dn: &str,
        email: &str,
        signing_key: &RsaPublicKey,
        versions: &[CertificateVersion],
        context: &mut KmContext<'_>,
    ) -> Result<Result<Enrollment, Refusal>, KmError> {
        let mode = self.mode_in_force();
        let version = [CertificateVersion::V3, CertificateVersion::V1]
            .into_iter()
            .find(|version| versions.contains(version) && mode.allows(*version));
        let Some(version) = version else {
            return Ok(Err(Refusal::ModeExcludesClient(mode)));
        };
        if version == CertificateVersion::V3
            && mailbox_dn.chars().count() > self.setup.max_dn_length
        {
            return Ok(Err(Refusal::DnTooLong {
                length: mailbox_dn.chars().count(),
                limit: self.setup.max_dn_length,
            }));
        }
        // KM-05 at issue time, not only when V3 is enabled: a CA nearing its own end, or a
        // validity setting changed since, would give shorter certificates.
        if self.certificate.is_some() {
            if let Some((not_after, _)) = context.ca.issued_not_after(context.now) {
                if not_after < context.now.plus(model::Duration::years(2)) {
                    return Ok(Err(Refusal::ShortValidity { not_after }));
                }
            }
        }
        if let Some(refusal) = lacking(
            &context.missing_templates,
            &[
                TemplatePermission::KmEnrollExchangeUser,
                TemplatePermission::KmEnrollExchangeUserSignature,
            ],
        ) {
            return Ok(Err(refusal));
        }
        let newest = self
            .database
            .escrowed_keys(mailbox_dn)?
            .iter()
            .map(|key| key.generation)
            .max()
            .unwrap_or(0);
        let generation = KeyGeneration::new(newest + 1).max(context.first_generation);
        let (encryption_key, _) = context.keys.key(
            &format!("user:{user}:enc:{}:{generation}", self.setup.name),
            context.key_bits,
        )?;
        let subject = build_name(&[
            NameAttribute::Organization(&self.setup.organization),
            NameAttribute::OrganizationalUnit(self.setup.site.as_str()),
            NameAttribute::CommonName("Recipients"),
            NameAttribute::CommonName(user.as_str()),
            NameAttribute::Email(email),
        ])?;
        let request = |public_key: RsaPublicKey, purpose| CertificateRequest {
            subject: subject.clone(),
            email: Some(email.to_owned()),
            public_key,
            purpose,
            version,
        };
        // Both requests go to the CA before anything is recorded: a CA that cannot issue
        // leaves the user's temporary key usable.
        let now = context.now;
        let ca = &mut *context.ca;
        let mut issue = |request: &CertificateRequest| match ca.issue(request, now) {
            Ok(issued) => Ok(Ok(issued)),
            Err(pki::IssueError::Pki(error)) => Err(KmError::Pki(error)),
            Err(refused) => Ok(Err(Refusal::CaRefused(refused.reason()))),
        };
        let encryption = match issue(&request(
            encryption_key.to_public_key(),
            CertificatePurpose::SmimeEncryption,
        ))? {
            Ok(issued) => issued,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let signing = match issue(&request(
            signing_key.clone(),
            CertificatePurpose::SmimeSigning,
        ))? {
            Ok(issued) => issued,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let private = private_key_der(&encryption_key)?;
        self.escrow(
            mailbox_dn,
            generation,
            &encryption.serial.to_string(),
            &encryption.der,
            &private,
            version,
            now,
        )?;
        self.database.set_setting(
            &format!("signing:{mailbox_dn}:{}", signing.serial),
            "issued",
        )?;
        context
            .directory
            .publish_encryption_certificate(user, encryption.der.clone());
        Ok(Ok(Enrollment {
            encryption: CertifiedKey {
                generation,
                certificate: encryption.der,
                key: private,
            },
            signing_certificate: signing.der,
            version,
            root: context.root.clone(),
            history: Vec::new(),
            recovered: false,
        }))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "an escrow record has this many fields"
    )]
    fn escrow(
        &mut self,
        mailbox_dn: &str,
        generation: KeyGeneration,
        serial: &str,
        certificate: &CertificateDer,
        key: &PrivateKeyDer,
        version: CertificateVersion,
        now: Timestamp,
    ) -> Result<(), KmError> {
        let mut iv = [0u8; 16];
        self.rng.fill_bytes(&mut iv);
        let hierarchy = self.hierarchy.to_string();
        let identity = Identity {
            generation: generation.get(),
            hierarchy: &hierarchy,
            serial,
        };
        let wrapped_key = self.escrow.wrap(&iv, &identity, key.as_bytes());
        let escrowed = EscrowedKey {
            generation: generation.get(),
            version: version.name().to_owned(),
            hierarchy,
            serial: serial.to_owned(),
            certificate: certificate.as_bytes().to_vec(),
            wrapped_key,
            wrap_iv: iv.to_vec(),
        };
        self.database.escrow(mailbox_dn, &escrowed, now)?;
        Ok(())
    }

    /// Every escrowed key of a mailbox certified under the current hierarchy, unwrapped.
    fn current_history(&self, mailbox_dn: &str) -> Result<Vec<CertifiedKey>, KmError> {
        self.unwrapped(mailbox_dn, Some(self.hierarchy.as_str()))
            .map(|keys| keys.into_iter().map(|(key, _)| key).collect())
    }

    fn unwrapped(
        &self,
        mailbox_dn: &str,
        hierarchy: Option<&str>,
    ) -> Result<Vec<(CertifiedKey, CertificateVersion)>, KmError> {
        self.database
            .escrowed_keys(mailbox_dn)?
            .into_iter()
            .filter(|escrowed| hierarchy.is_none_or(|h| escrowed.hierarchy == h))
            .map(|escrowed| {
                let key = self
                    .escrow
                    .unwrap(&escrowed)
                    .ok_or(KmError::Unwrap(escrowed.generation))?;
                let version = CertificateVersion::from_name(&escrowed.version)
                    .unwrap_or(CertificateVersion::V3);
                Ok((
                    CertifiedKey {
                        generation: KeyGeneration::new(escrowed.generation),
                        certificate: CertificateDer::new(escrowed.certificate),
                        key: PrivateKeyDer::new(key),
                    },
                    version,
                ))
            })
            .collect()
    }

    /// Every escrowed encryption key of `user` (all hierarchies), unwrapped with the
    /// startup password.
    pub fn key_history(
        &self,
        user: &UserName,
        directory: &Directory,
    ) -> Result<Vec<CertifiedKey>, KmError> {
        let Some(entry) = self.entry(user, directory)? else {
            return Ok(Vec::new());
        };
        self.unwrapped(&entry.mailbox_dn, None)
            .map(|keys| keys.into_iter().map(|(key, _)| key).collect())
    }

    /// The keys a recovery of `user` would hand back: those certified under the current
    /// hierarchy.
    pub fn recoverable_history(
        &self,
        user: &UserName,
        directory: &Directory,
    ) -> Result<Vec<CertifiedKey>, KmError> {
        let Some(entry) = self.entry(user, directory)? else {
            return Ok(Vec::new());
        };
        self.current_history(&entry.mailbox_dn)
    }

    /// Removes advanced security from a mailbox: every certificate of the user is revoked in
    /// the CA and the KM database. Needs manage permission on the CA (KM-14).
    pub fn revoke_user(
        &mut self,
        user: &UserName,
        manage_permission: bool,
        context: &mut KmContext<'_>,
    ) -> Result<Result<Revocation, Refusal>, KmError> {
        if !self.running {
            return Ok(Err(Refusal::ServiceStopped));
        }
        if !manage_permission {
            return Ok(Err(Refusal::NoManagePermission));
        }
        let Some(entry) = self.entry(user, context.directory)? else {
            return Ok(Err(Refusal::NeverEnrolled));
        };
        let mut serials: Vec<String> = self
            .database
            .escrowed_keys(&entry.mailbox_dn)?
            .into_iter()
            .map(|key| key.serial)
            .collect();
        serials.extend(self.signing_serials(&format!("signing:{}:", entry.mailbox_dn))?);
        if serials.is_empty() {
            return Ok(Err(Refusal::NeverEnrolled));
        }
        let already = self.database.revocations()?;
        let mut revocation = Revocation::default();
        for serial in serials {
            let parsed = parse_serial(&serial);
            if already.contains(&serial) {
                // The KM database says it is revoked; if the CA does not, the two diverged and
                // the KM server will not ask again.
                if !context.ca.is_revoked(&parsed) {
                    revocation.diverged.push(serial);
                }
                continue;
            }
            match context.ca.revoke(&parsed, context.now) {
                // The attached CA does not know a certificate of an earlier hierarchy (KM-13)
                // or one issued after the backup it was restored from: the KM server records
                // its own revocation all the same, as the product does.
                Ok(()) | Err(RevokeError::NotIssued) => {}
                // The CA had it revoked while the KM database did not (OPS-01): recording it
                // now brings the two together again.
                Err(RevokeError::AlreadyRevoked) => revocation.already_at_ca.push(serial.clone()),
            }
            self.database
                .record_revocation(&serial, &entry.mailbox_dn, context.now)?;
            revocation.revoked.push(serial);
        }
        self.database.set_user_state(&entry.mailbox_dn, "revoked")?;
        Ok(Ok(revocation))
    }

    fn signing_serials(&self, prefix: &str) -> Result<Vec<String>, KmError> {
        // Signing certificate serials are kept as settings named `signing:<dn>:<serial>`.
        Ok(self
            .database
            .settings_with_prefix(prefix)?
            .into_iter()
            .filter_map(|key| key.strip_prefix(prefix).map(str::to_owned))
            .collect())
    }

    /// Where the KM database and `ca` disagree about revocation, in both directions (OPS-01):
    /// only certificates this KM server issued under its current hierarchy count.
    pub fn divergence(&self, ca: &CertificationAuthority) -> Result<Divergence, KmError> {
        let revoked: BTreeSet<String> = self.database.revocations()?.into_iter().collect();
        let km_only = revoked
            .iter()
            .filter(|serial| !ca.is_revoked(&parse_serial(serial)))
            .cloned()
            .collect();
        let mut issued = BTreeSet::new();
        for (mailbox_dn, _, _) in self.database.users()? {
            issued.extend(
                self.database
                    .escrowed_keys(&mailbox_dn)?
                    .into_iter()
                    .filter(|key| key.hierarchy == self.hierarchy.as_str())
                    .map(|key| key.serial),
            );
            issued.extend(self.signing_serials(&format!("signing:{mailbox_dn}:"))?);
        }
        let ca_only = issued
            .into_iter()
            .filter(|serial| !revoked.contains(serial) && ca.is_revoked(&parse_serial(serial)))
            .collect();
        Ok(Divergence { km_only, ca_only })
    }

    /// Attaches the KM server to another CA. The old hierarchy's keys stay in the database
    /// but are never handed out again: mail encrypted under it is lost (KM-13).
    pub fn reattach(&mut self, ca: &CaName) -> Result<(), KmError> {
        self.hierarchy = ca.clone();
        // A KM server that lost its CA (OPS-03) has one again.
        self.surroundings.lost_ca = false;
        self.database.set_setting("hierarchy", ca.as_str())?;
        self.certificate = None;
        Ok(())
    }

    /// Exports users' key histories for another KM server (Exchange 2000 bulk export); the
    /// exported certificates are revoked. The target's certificate thumbprint must be the one
    /// the administrator was given.
    pub fn export(
        &mut self,
        users: &[UserName],
        target_certificate: Option<&CertificateDer>,
        expected_thumbprint: Option<&[u8]>,
        context: &mut KmContext<'_>,
    ) -> Result<Result<ExportBundle, Refusal>, KmError> {
        if !matches!(self.setup.product, Product::Ex2000) {
            return Ok(Err(Refusal::NotSupportedByProduct));
        }
        let Some(target) = target_certificate else {
            return Ok(Err(Refusal::V3NotEnabled));
        };
        if let Some(expected) = expected_thumbprint {
            if pki::thumbprint(target) != expected {
                return Ok(Err(Refusal::ThumbprintMismatch));
            }
        }
        let mut bundle = ExportBundle { users: Vec::new() };
        for user in users {
            // The user may have moved since: the KM database still knows the old mailbox DN.
            let Some(mailbox_dn) = self.database.mailbox_of(user.as_str())? else {
                continue;
            };
            let email = context
                .directory
                .entry(user)
                .map(|entry| entry.email.to_string())
                .unwrap_or_default();
            let keys = self.unwrapped(&mailbox_dn, Some(self.hierarchy.as_str()))?;
            for (key, _) in &keys {
                let serial = CertificateInfo::parse(&key.certificate)?.serial;
                match context.ca.revoke(&serial, context.now) {
                    // As in `revoke_user`: revoked already, or unknown to the CA restored from
                    // an older backup; the export goes on and the KM database records it.
                    Ok(()) | Err(RevokeError::AlreadyRevoked | RevokeError::NotIssued) => {}
                }
                self.database
                    .record_revocation(&serial.to_string(), &mailbox_dn, context.now)?;
            }
            self.database.set_user_state(&mailbox_dn, "revoked")?;
            bundle.users.push(ExportedUser {
                user: user.clone(),
                mailbox_dn,
                email,
                keys,
            });
        }
        Ok(Ok(bundle))
    }

    /// Imports another KM server's export: the keys are escrowed here, re-wrapped under this
    /// server's startup password, and each user can recover them.
    pub fn import(
        &mut self,
        bundle: &ExportBundle,
        context: &mut KmContext<'_>,
    ) -> Result<Result<usize, Refusal>, KmError> {
        if !matches!(self.setup.product, Product::Ex2000) {
            return Ok(Err(Refusal::NotSupportedByProduct));
        }
        let mut imported = 0;
        for ExportedUser {
            user, email, keys, ..
        } in &bundle.users
        {
            let Some(entry) = self.entry(user, context.directory)? else {
                continue;
            };
            if self.database.user_state(&entry.mailbox_dn)?.is_none() {
                self.database
                    .enable_user(&entry.mailbox_dn, user.as_str(), email, context.now)?;
            }
            let existing = self.database.escrowed_keys(&entry.mailbox_dn)?;
            for (key, version) in keys {
                // A key keeps its generation, which names it for the whole run; one imported
                // before is not escrowed twice.
                if existing
                    .iter()
                    .any(|held| held.certificate == key.certificate.as_bytes())
                {
                    continue;
                }
                let generation = key.generation;
                let serial = CertificateInfo::parse(&key.certificate)?.serial.to_string();
                self.escrow(
                    &entry.mailbox_dn,
                    generation,
                    &serial,
                    &key.certificate,
                    &key.key,
                    *version,
                    context.now,
                )?;
                imported += 1;
            }
            self.database.set_user_state(&entry.mailbox_dn, "enabled")?;
        }
        Ok(Ok(imported))
    }

    /// Backs the database up to `target`: Exchange 5.5 only with the service stopped (a
    /// file copy), Exchange 2000 online with SQLite's backup API (OPS-01).
    pub fn backup(&self, target: &Path) -> Result<Result<(), Refusal>, KmError> {
        match self.setup.product {
            Product::Ex55(_) if self.running => Ok(Err(Refusal::ServiceRunning)),
            Product::Ex55(_) => {
                std::fs::copy(self.database.path(), target)?;
                Ok(Ok(()))
            }
            Product::Ex2000 => {
                self.database.backup_to(target)?;
                Ok(Ok(()))
            }
        }
    }

    /// Restores the database from `source`, with the service stopped; a file that is not a
    /// KM database is refused and the current database kept.
    pub fn restore(&mut self, source: &Path) -> Result<Result<(), Refusal>, KmError> {
        if self.running {
            return Ok(Err(Refusal::ServiceRunning));
        }
        let candidate = match Database::open(source) {
            Ok(candidate) => candidate,
            // The reason without the path, which says where the file was, not what it is.
            Err(DatabaseError::Sqlite { source, .. }) => {
                return Ok(Err(Refusal::NotAKmDatabase(source.to_string())));
            }
            Err(DatabaseError::Foreign { detail, .. }) => {
                return Ok(Err(Refusal::NotAKmDatabase(detail)));
            }
        };
        // The restored database's own salt: its keys were wrapped under it.
        let escrow = match EscrowKeys::for_database(&candidate, &self.setup.startup_password) {
            Ok(escrow) => escrow,
            Err(DatabaseError::Foreign { detail, .. }) => {
                return Ok(Err(Refusal::NotAKmDatabase(detail)));
            }
            Err(error) => return Err(error.into()),
        };
        let path = self.database.path().to_path_buf();
        drop(std::mem::replace(&mut self.database, candidate));
        std::fs::copy(source, &path)?;
        self.database = Database::open(&path)?;
        self.escrow = escrow;
        if let Some(hierarchy) = self.database.setting("hierarchy")? {
            self.hierarchy = CaName::new(hierarchy);
        }
        Ok(Ok(()))
    }

    /// Moves the KM server to a new machine: the database and logs are copied to
    /// `new_database`, the new machine must carry the same host name and be started with
    /// the same startup password (OPS-02). Returns every user's unwrapped history.
    pub fn forklift(
        &mut self,
        current_host: &str,
        new_host: &str,
        startup_password: &str,
        new_database: PathBuf,
    ) -> Result<Result<Vec<UserHistory>, Refusal>, KmError> {
        if !current_host.eq_ignore_ascii_case(new_host) {
            return Ok(Err(Refusal::HostNameDiffers {
                expected: current_host.to_owned(),
                given: new_host.to_owned(),
            }));
        }
        if !self.verifies(startup_password)? {
            return Ok(Err(Refusal::StartupPasswordDiffers));
        }
        std::fs::copy(self.database.path(), &new_database)?;
        self.database = Database::open(&new_database)?;
        let mut histories = Vec::new();
        for (dn, user, _) in self.database.users()? {
            let generations = self
                .unwrapped(&dn, None)?
                .into_iter()
                .map(|(key, _)| key.generation)
                .collect();
            histories.push(UserHistory {
                user: UserName::new(user),
                generations,
            });
        }
        Ok(Ok(histories))
    }
}

fn parse_serial(hex: &str) -> model::Serial {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| {
            hex.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect();
    model::Serial::from_be_bytes(&bytes)
}

/// The refusal for the first of the `needed` template permissions the CA's templates lack
/// (KM-17), if any.
fn lacking(missing: &[TemplatePermission], needed: &[TemplatePermission]) -> Option<Refusal> {
    missing
        .iter()
        .find(|permission| needed.contains(permission))
        .map(|permission| Refusal::TemplatePermission(*permission))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_startup_password_is_checked_against_a_salted_verifier() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = installed(dir.path());
        let database = server.database();
        assert_eq!(
            database.setting("escrow_kdf").unwrap().as_deref(),
            Some("pbkdf2-hmac-sha256")
        );
        assert_eq!(
            database.setting("escrow_iterations").unwrap(),
            Some(ITERATIONS.to_string())
        );
        assert_eq!(
            database.setting("escrow_salt").unwrap().unwrap().len(),
            2 * SALT_LENGTH
        );
        server.stop();
        assert_eq!(
            server.start("wrong").unwrap(),
            Err(Refusal::WrongStartupPassword)
        );
        assert_eq!(server.start("startup").unwrap(), Ok(()));
        // Another server from the same seed writes the same salt, so the same file.
        let other = tempfile::tempdir().unwrap();
        let again = installed(other.path());
        assert_eq!(
            again.database().setting("escrow_salt").unwrap(),
            server.database().setting("escrow_salt").unwrap()
        );
    }

    #[test]
    fn a_database_in_the_older_escrow_format_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = installed(dir.path());
        let old = dir.path().join("old.sqlite");
        server.backup(&old).unwrap().unwrap();
        let connection = rusqlite::Connection::open(&old).unwrap();
        connection
            .execute(
                "UPDATE meta SET value = '1' WHERE key = 'schema_version'",
                [],
            )
            .unwrap();
        drop(connection);
        server.stop();
        match server.restore(&old).unwrap() {
            Err(Refusal::NotAKmDatabase(detail)) => {
                assert!(detail.contains("older"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    fn installed(dir: &Path) -> KmServer {
        let setup = KmSetup {
            name: KmName::new("KM1"),
            product: Product::Ex2000,
            site: SiteName::new("Redmond"),
            organization: "Contoso".to_owned(),
            startup_password: "startup".to_owned(),
            ca: CaName::new("ExchCA"),
            max_dn_length: 256,
        };
        KmServer::install(setup, &dir.join("km.sqlite"), SeededRng::new(1, "km")).unwrap()
    }

    #[test]
    fn surroundings_are_remembered_outside_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = installed(dir.path());
        let before = std::fs::read(server.database().path()).unwrap();
        assert!(!server.has_lost_ca());
        assert!(!server.drive_mapping_dropped());
        assert_eq!(server.configuration_directory(), None);

        server.lose_ca();
        server.drop_drive_mapping();
        assert!(server.has_lost_ca());
        assert!(server.drive_mapping_dropped());
        server.set_configuration_directory(r"\\CA1\CertConfig");
        assert_eq!(server.configuration_directory(), Some(r"\\CA1\CertConfig"));
        assert!(!server.drive_mapping_dropped());

        let carol = UserName::new("carol");
        let dave = UserName::new("dave");
        server.end_v1_security(&dave);
        server.end_v1_security(&carol);
        assert!(server.v1_security_ended(&carol));
        assert_eq!(
            server.v1_security_ended_users().collect::<Vec<_>>(),
            [&carol, &dave]
        );
        assert!(server.restore_v1_security(&carol));
        assert!(!server.restore_v1_security(&carol));
        assert!(!server.v1_security_ended(&carol));
        assert!(server.v1_security_ended(&dave));

        assert_eq!(std::fs::read(server.database().path()).unwrap(), before);
    }
}
