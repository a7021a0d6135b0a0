//! The KM server's database: one SQLite file per KM server.
//!
//! Escrowed encryption keys are stored wrapped under keys derived from the KM startup password
//! with the database's own salt ([`crate::escrow`]); the file never holds a signing key,
//! because the KM server never sees one.

use std::path::{Path, PathBuf};

use model::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

/// Written into every KM database so that a foreign or torn file is recognised.
const FORMAT: &str = "kmlab-km-database";
/// The schema version this code reads and writes.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE users (
    mailbox_dn TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    email      TEXT NOT NULL,
    enabled_at TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'enabled'
);
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    mailbox_dn TEXT NOT NULL REFERENCES users(mailbox_dn),
    digest     BLOB NOT NULL,
    issued_at  TEXT NOT NULL,
    used_at    TEXT
);
CREATE TABLE escrowed_keys (
    mailbox_dn  TEXT NOT NULL REFERENCES users(mailbox_dn),
    generation  INTEGER NOT NULL,
    serial      TEXT NOT NULL,
    certificate BLOB NOT NULL,
    wrapped_key BLOB NOT NULL,
    wrap_iv     BLOB NOT NULL,
    escrowed_at TEXT NOT NULL,
    version     TEXT NOT NULL,
    hierarchy   TEXT NOT NULL,
    PRIMARY KEY (mailbox_dn, generation)
);
CREATE TABLE revocations (
    serial     TEXT PRIMARY KEY,
    mailbox_dn TEXT NOT NULL REFERENCES users(mailbox_dn),
    revoked_at TEXT NOT NULL
);
";

/// Errors reading or writing the KM database.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// SQLite reported an error (including a file that is not a database).
    #[error("KM database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file is an SQLite database but not a KM database of this version.
    #[error("KM database {path}: {detail}")]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// One escrowed encryption key, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowedKey {
    /// Its generation (1 for the first).
    pub generation: u32,
    /// `v1` or `v3`.
    pub version: String,
    /// The CA hierarchy it was certified under (the attached CA's name).
    pub hierarchy: String,
    /// The certificate's serial, hex.
    pub serial: String,
    /// The encryption certificate, DER.
    pub certificate: Vec<u8>,
    /// The PKCS #8 private key, wrapped.
    pub wrapped_key: Vec<u8>,
    /// The wrapping IV.
    pub wrap_iv: Vec<u8>,
}

/// What became of a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// It matched an unused token, which is now used.
    Accepted,
    /// It matched a token that was already used.
    AlreadyUsed,
    /// It matched nothing issued to this mailbox.
    Wrong,
}

/// An open KM database.
#[derive(Debug)]
pub struct Database {
    connection: Connection,
    path: PathBuf,
}

impl Database {
    /// Creates a new database file for KM server `km_name`; the file must not exist.
    pub fn create(path: &Path, km_name: &str) -> Result<Self, DatabaseError> {
        if path.exists() {
            return Err(DatabaseError::Foreign {
                path: path.to_path_buf(),
                detail: "a file already exists there".into(),
            });
        }
        let database = Self::connect(path)?;
        database
            .connection
            .execute_batch(SCHEMA)
            .map_err(|source| database.sqlite(source))?;
        for (key, value) in [
            ("format", FORMAT.to_owned()),
            ("schema_version", SCHEMA_VERSION.to_string()),
            ("km_server", km_name.to_owned()),
        ] {
            database
                .connection
                .execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                    params![key, value],
                )
                .map_err(|source| database.sqlite(source))?;
        }
        Ok(database)
    }

    /// Opens an existing KM database, refusing files that are not one.
    pub fn open(path: &Path) -> Result<Self, DatabaseError> {
        if !path.is_file() {
            return Err(DatabaseError::Foreign {
                path: path.to_path_buf(),
                detail: "no such file".into(),
            });
        }
        let database = Self::connect(path)?;
        // A torn copy can still carry a readable first page; the quick check reads them all.
        let check: String = database
            .connection
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|source| database.sqlite(source))?;
        if check != "ok" {
            return Err(DatabaseError::Foreign {
                path: path.to_path_buf(),
                detail: format!("the database file is damaged: {check}"),
            });
        }
        let has_meta: bool = database
            .connection
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |row| row.get(0),
            )
            .map_err(|source| database.sqlite(source))?;
        let format = if has_meta {
            database.meta("format")?
        } else {
            None
        };
        if format.as_deref() != Some(FORMAT) {
            return Err(DatabaseError::Foreign {
                path: path.to_path_buf(),
                detail: "not a KM database (no kmlab format marker)".into(),
            });
        }
        let version = database.meta("schema_version")?;
        if version.as_deref() == Some("1") {
            return Err(DatabaseError::Foreign {
                path: path.to_path_buf(),
                detail: "a KM database of an older kmlab (schema version 1: escrowed keys \
                         wrapped without a key derivation), which this kmlab does not read; \
                         run the scenario again to make one"
                    .into(),
            });
        }
        if version.as_deref() != Some(&SCHEMA_VERSION.to_string()) {
            return Err(DatabaseError::Foreign {
                path: path.to_path_buf(),
                detail: format!("schema version {version:?}, expected {SCHEMA_VERSION}"),
            });
        }
        Ok(database)
    }

    fn connect(path: &Path) -> Result<Self, DatabaseError> {
        let connection = Connection::open(path).map_err(|source| DatabaseError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let database = Self {
            connection,
            path: path.to_path_buf(),
        };
        // A rollback journal (not WAL) keeps the database in one self-contained file. Every
        // write reaches the operating system before it is reported, so a reported escrow
        // survives the process being killed at any point (tests/crash.rs); waiting for the disk
        // as well (`synchronous = FULL`, a third of a 10,000-user enrollment's time) would guard
        // against the machine losing power, which a run, repeatable from its seed, does not
        // need.
        database
            .connection
            .execute_batch(
                "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON;",
            )
            .map_err(|source| database.sqlite(source))?;
        Ok(database)
    }

    fn sqlite(&self, source: rusqlite::Error) -> DatabaseError {
        DatabaseError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, DatabaseError> {
        self.connection
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|source| self.sqlite(source))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a unit of writes that is kept whole or not at all (a savepoint, so units nest):
    /// end it with [`Database::commit`] or [`Database::roll_back`].
    pub fn begin(&self) -> Result<(), DatabaseError> {
        self.connection
            .execute_batch("SAVEPOINT unit")
            .map_err(|source| self.sqlite(source))
    }

    /// Keeps the writes since the matching [`Database::begin`]; the outermost one commits them.
    pub fn commit(&self) -> Result<(), DatabaseError> {
        self.connection
            .execute_batch("RELEASE unit")
            .map_err(|source| self.sqlite(source))
    }

    /// Undoes the writes since the matching [`Database::begin`].
    pub fn roll_back(&self) -> Result<(), DatabaseError> {
        self.connection
            .execute_batch("ROLLBACK TO unit; RELEASE unit")
            .map_err(|source| self.sqlite(source))
    }

    /// Records that a mailbox was enabled for advanced security.
    pub fn enable_user(
        &self,
        mailbox_dn: &str,
        user: &str,
        email: &str,
        at: Timestamp,
    ) -> Result<(), DatabaseError> {
        self.connection
            .execute(
                "INSERT INTO users (mailbox_dn, user_name, email, enabled_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(mailbox_dn) DO NOTHING",
                params![mailbox_dn, user, email, at.to_string()],
            )
            .map(drop)
            .map_err(|source| self.sqlite(source))
    }

    /// Whether the mailbox was enabled.
    pub fn is_enabled(&self, mailbox_dn: &str) -> Result<bool, DatabaseError> {
        self.connection
            .query_row(
                "SELECT 1 FROM users WHERE mailbox_dn = ?1",
                [mailbox_dn],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(|source| self.sqlite(source))
    }

    /// Stores the digest of a newly issued token.
    pub fn add_token(
        &self,
        mailbox_dn: &str,
        digest: &[u8],
        at: Timestamp,
    ) -> Result<(), DatabaseError> {
        self.connection
            .execute(
                "INSERT INTO tokens (mailbox_dn, digest, issued_at) VALUES (?1, ?2, ?3)",
                params![mailbox_dn, digest, at.to_string()],
            )
            .map(drop)
            .map_err(|source| self.sqlite(source))
    }

    /// What a presented token would be, without spending it.
    pub fn token_state(
        &self,
        mailbox_dn: &str,
        digest: &[u8],
    ) -> Result<TokenCheck, DatabaseError> {
        let found: Option<Option<String>> = self
            .connection
            .query_row(
                "SELECT used_at FROM tokens WHERE mailbox_dn = ?1 AND digest = ?2 ORDER BY id DESC LIMIT 1",
                params![mailbox_dn, digest],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| self.sqlite(source))?;
        Ok(match found {
            None => TokenCheck::Wrong,
            Some(Some(_)) => TokenCheck::AlreadyUsed,
            Some(None) => TokenCheck::Accepted,
        })
    }

    /// Checks a presented token and, if it is good, marks it used.
    pub fn use_token(
        &self,
        mailbox_dn: &str,
        digest: &[u8],
        at: Timestamp,
    ) -> Result<TokenCheck, DatabaseError> {
        let found: Option<(i64, Option<String>)> = self
            .connection
            .query_row(
                "SELECT id, used_at FROM tokens WHERE mailbox_dn = ?1 AND digest = ?2 ORDER BY id DESC LIMIT 1",
                params![mailbox_dn, digest],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|source| self.sqlite(source))?;
        match found {
            None => Ok(TokenCheck::Wrong),
            Some((_, Some(_))) => Ok(TokenCheck::AlreadyUsed),
            Some((id, None)) => {
                self.connection
                    .execute(
                        "UPDATE tokens SET used_at = ?1 WHERE id = ?2",
                        params![at.to_string(), id],
                    )
                    .map_err(|source| self.sqlite(source))?;
                Ok(TokenCheck::Accepted)
            }
        }
    }

    /// Archives an encryption key.
    pub fn escrow(
        &self,
        mailbox_dn: &str,
        key: &EscrowedKey,
        at: Timestamp,
    ) -> Result<(), DatabaseError> {
        self.connection
            .execute(
                "INSERT INTO escrowed_keys
                   (mailbox_dn, generation, serial, certificate, wrapped_key, wrap_iv, escrowed_at,
                    version, hierarchy)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    mailbox_dn,
                    key.generation,
                    key.serial,
                    key.certificate,
                    key.wrapped_key,
                    key.wrap_iv,
                    at.to_string(),
                    key.version,
                    key.hierarchy
                ],
            )
            .map(drop)
            .map_err(|source| self.sqlite(source))
    }

    /// Every escrowed key of a mailbox, oldest generation first.
    pub fn escrowed_keys(&self, mailbox_dn: &str) -> Result<Vec<EscrowedKey>, DatabaseError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT generation, serial, certificate, wrapped_key, wrap_iv, version, hierarchy
                 FROM escrowed_keys WHERE mailbox_dn = ?1 ORDER BY generation",
            )
            .map_err(|source| self.sqlite(source))?;
        let rows = statement
            .query_map([mailbox_dn], |row| {
                Ok(EscrowedKey {
                    generation: row.get(0)?,
                    serial: row.get(1)?,
                    certificate: row.get(2)?,
                    wrapped_key: row.get(3)?,
                    wrap_iv: row.get(4)?,
                    version: row.get(5)?,
                    hierarchy: row.get(6)?,
                })
            })
            .map_err(|source| self.sqlite(source))?;
        rows.collect::<Result<_, _>>()
            .map_err(|source| self.sqlite(source))
    }

    /// A mailbox's state: `enabled`, `enrolled`, `recovering` or `revoked`; `None` if the
    /// mailbox was never enabled.
    pub fn user_state(&self, mailbox_dn: &str) -> Result<Option<String>, DatabaseError> {
        self.connection
            .query_row(
                "SELECT state FROM users WHERE mailbox_dn = ?1",
                [mailbox_dn],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| self.sqlite(source))
    }

    /// The mailbox DN a user was enabled under, whatever the directory says now.
    pub fn mailbox_of(&self, user: &str) -> Result<Option<String>, DatabaseError> {
        self.connection
            .query_row(
                "SELECT mailbox_dn FROM users WHERE user_name = ?1 ORDER BY mailbox_dn LIMIT 1",
                [user],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| self.sqlite(source))
    }

    /// Sets a mailbox's state.
    pub fn set_user_state(&self, mailbox_dn: &str, state: &str) -> Result<(), DatabaseError> {
        self.connection
            .execute(
                "UPDATE users SET state = ?2 WHERE mailbox_dn = ?1",
                params![mailbox_dn, state],
            )
            .map(drop)
            .map_err(|source| self.sqlite(source))
    }

    /// Every mailbox, with its user name and state, in mailbox order.
    pub fn users(&self) -> Result<Vec<(String, String, String)>, DatabaseError> {
        let mut statement = self
            .connection
            .prepare("SELECT mailbox_dn, user_name, state FROM users ORDER BY mailbox_dn")
            .map_err(|source| self.sqlite(source))?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(|source| self.sqlite(source))?;
        rows.collect::<Result<_, _>>()
            .map_err(|source| self.sqlite(source))
    }

    /// Records a revocation the KM server asked the CA for (CA-12: both databases keep it).
    pub fn record_revocation(
        &self,
        serial: &str,
        mailbox_dn: &str,
        at: Timestamp,
    ) -> Result<(), DatabaseError> {
        self.connection
            .execute(
                "INSERT INTO revocations (serial, mailbox_dn, revoked_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(serial) DO NOTHING",
                params![serial, mailbox_dn, at.to_string()],
            )
            .map(drop)
            .map_err(|source| self.sqlite(source))
    }

    /// Every serial the KM database lists as revoked.
    pub fn revocations(&self) -> Result<Vec<String>, DatabaseError> {
        let mut statement = self
            .connection
            .prepare("SELECT serial FROM revocations ORDER BY serial")
            .map_err(|source| self.sqlite(source))?;
        let rows = statement
            .query_map([], |row| row.get(0))
            .map_err(|source| self.sqlite(source))?;
        rows.collect::<Result<_, _>>()
            .map_err(|source| self.sqlite(source))
    }

    /// A value from the `meta` table.
    pub fn setting(&self, key: &str) -> Result<Option<String>, DatabaseError> {
        self.meta(key)
    }

    /// The keys of the `meta` table that start with `prefix`, in order.
    pub fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<String>, DatabaseError> {
        let mut statement = self
            .connection
            .prepare("SELECT key FROM meta WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key")
            .map_err(|source| self.sqlite(source))?;
        let rows = statement
            .query_map([prefix], |row| row.get(0))
            .map_err(|source| self.sqlite(source))?;
        rows.collect::<Result<_, _>>()
            .map_err(|source| self.sqlite(source))
    }

    /// Sets a value in the `meta` table.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), DatabaseError> {
        self.connection
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                params![key, value],
            )
            .map(drop)
            .map_err(|source| self.sqlite(source))
    }

    /// Copies the live database into `target` with SQLite's online backup, which is safe
    /// while the KM server keeps writing.
    pub fn backup_to(&self, target: &Path) -> Result<(), DatabaseError> {
        let mut destination = Connection::open(target).map_err(|source| DatabaseError::Sqlite {
            path: target.to_path_buf(),
            source,
        })?;
        let backup = rusqlite::backup::Backup::new(&self.connection, &mut destination)
            .map_err(|source| self.sqlite(source))?;
        backup
            .run_to_completion(64, std::time::Duration::ZERO, None)
            .map_err(|source| self.sqlite(source))
    }

    /// Checks the file's own consistency (`PRAGMA integrity_check`).
    pub fn integrity_check(&self) -> Result<String, DatabaseError> {
        self.connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(|source| self.sqlite(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_one_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(&dir.path().join("km.sqlite"), "KM1").unwrap();
        let at = Timestamp::DEFAULT_START;
        db.enable_user("/o=O/cn=alice", "alice", "alice@o.test", at)
            .unwrap();
        db.add_token("/o=O/cn=alice", b"digest", at).unwrap();
        assert_eq!(
            db.use_token("/o=O/cn=alice", b"other", at).unwrap(),
            TokenCheck::Wrong
        );
        assert_eq!(
            db.use_token("/o=O/cn=alice", b"digest", at).unwrap(),
            TokenCheck::Accepted
        );
        assert_eq!(
            db.use_token("/o=O/cn=alice", b"digest", at).unwrap(),
            TokenCheck::AlreadyUsed
        );
    }

    #[test]
    fn foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, b"hello, this is not a database at all").unwrap();
        let opened = Database::open(&text);
        assert!(opened.is_err(), "{opened:?}");
        let other = dir.path().join("other.sqlite");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        assert!(matches!(
            Database::open(&other),
            Err(DatabaseError::Foreign { .. })
        ));
        assert!(Database::open(&dir.path().join("missing.sqlite")).is_err());
    }

    #[test]
    fn a_torn_file_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("km.sqlite");
        {
            let db = Database::create(&path, "KM1").unwrap();
            for n in 0..200 {
                db.enable_user(
                    &format!("/o=O/cn=user{n}"),
                    "u",
                    "u@o.test",
                    Timestamp::DEFAULT_START,
                )
                .unwrap();
            }
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.len() > 8192,
            "the test needs a database of several pages"
        );
        let torn = dir.path().join("torn.sqlite");
        std::fs::write(&torn, &bytes[..bytes.len() / 2]).unwrap();
        let opened = Database::open(&torn);
        assert!(opened.is_err(), "a half-copied database was accepted");
    }

    #[test]
    fn escrowed_keys_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("km.sqlite");
        let key = EscrowedKey {
            generation: 1,
            version: "v3".into(),
            hierarchy: "Root".into(),
            serial: "01".into(),
            certificate: vec![1, 2],
            wrapped_key: vec![3, 4],
            wrap_iv: vec![5],
        };
        {
            let db = Database::create(&path, "KM1").unwrap();
            db.enable_user("dn", "alice", "a@o.test", Timestamp::DEFAULT_START)
                .unwrap();
            db.escrow("dn", &key, Timestamp::DEFAULT_START).unwrap();
        }
        let db = Database::open(&path).unwrap();
        assert_eq!(db.escrowed_keys("dn").unwrap(), vec![key]);
    }
}
