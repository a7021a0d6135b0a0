//! The Maildir backend of [`MailStore`](super::MailStore): folders on disk that mutt, Dovecot
//! and `mu` read, UIDs kept in a `kmlab-uidlist` file per folder.
//!
//! Delivery takes no lock: a message is written once into `tmp/` under a unique name and
//! hard-linked into each recipient's `new/`. A link, unlike a rename, fails rather than
//! replace an existing file, so no delivery can overwrite another, whatever the clock or
//! process id. UIDs are given out when a folder is next selected (as Dovecot does), in the
//! order of the names, under that folder's own lock.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use super::{
    Clock, FlagChange, Flags, InternalDate, MailboxName, MaildirOptions, MessageMeta, Snapshot,
    StoreError, Uid, safe_folder_name, user_of_folder_name,
};

use super::UIDLIST;

/// How often a delivery tries another name when the one it made is taken.
const NAME_ATTEMPTS: u32 = 1000;

/// The file at the root that counts the store's starts.
const RUNS: &str = "kmlab-runs";

/// Every user's Maildir folders under one root.
#[derive(Debug)]
pub(crate) struct MaildirStore {
    root: PathBuf,
    namer: Arc<Namer>,
    fsync: bool,
    users: Mutex<BTreeMap<String, Arc<UserFolders>>>,
    /// Held while the run number is taken.
    starting: Mutex<()>,
}

#[derive(Debug)]
struct UserFolders {
    inbox: Arc<MaildirBox>,
    sent: Arc<MaildirBox>,
}

/// Makes unique names: `<seconds>.M<microseconds>P<pid>R<run>Q<count>.<host>,S=<size>`, the
/// form Dovecot writes with the store's run number added.
#[derive(Debug)]
struct Namer {
    clock: Arc<dyn Clock>,
    hostname: String,
    pid: u32,
    /// Taken from `kmlab-runs` when the store first writes.
    run: OnceLock<u64>,
    count: AtomicU64,
}

impl Namer {
    fn name(&self, now: Duration, size: usize) -> String {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        format!(
            "{}.M{:06}P{}R{}Q{count}.{},S={size}",
            now.as_secs(),
            now.subsec_micros(),
            self.pid,
            self.run.get().copied().unwrap_or(0),
            self.hostname
        )
    }
}

impl MaildirStore {
    /// The store under `root`; folders (and the root) are made when first needed.
    pub(crate) fn open(root: PathBuf, options: MaildirOptions) -> Self {
        // Host names with `/` or `:` would break the name's syntax.
        let hostname: String = options
            .hostname
            .chars()
            .map(|c| if c == '/' || c == ':' { '_' } else { c })
            .collect();
        Self {
            root,
            namer: Arc::new(Namer {
                clock: options.clock,
                hostname,
                pid: std::process::id(),
                run: OnceLock::new(),
                count: AtomicU64::new(0),
            }),
            fsync: options.fsync,
            users: Mutex::new(BTreeMap::new()),
            starting: Mutex::new(()),
        }
    }

    /// Whether deliveries are synced to disk.
    pub(crate) fn fsyncs(&self) -> bool {
        self.fsync
    }

    /// Every user folder under the root.
    pub(crate) fn users(&self) -> Result<Vec<String>, StoreError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(StoreError::io("listing", &self.root)(err)),
        };
        let mut users = Vec::new();
        for entry in entries {
            let entry = entry.map_err(StoreError::io("listing", &self.root))?;
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            if let Some(user) = entry.file_name().to_str().and_then(user_of_folder_name) {
                users.push(user);
            }
        }
        users.sort();
        Ok(users)
    }

    pub(crate) fn mailbox(
        &self,
        user: &str,
        name: MailboxName,
    ) -> Result<Arc<MaildirBox>, StoreError> {
        let folders = self.user(user)?;
        Ok(Arc::clone(match name {
            MailboxName::Inbox => &folders.inbox,
            MailboxName::Sent => &folders.sent,
        }))
    }

    /// A user's folders, made on disk the first time the user is seen, so that deliveries
    /// make no directories.
    fn user(&self, user: &str) -> Result<Arc<UserFolders>, StoreError> {
        let folder = safe_folder_name(user);
        if let Some(found) = self
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&folder)
        {
            return Ok(Arc::clone(found));
        }
        if self.namer.run.get().is_none() {
            // Once per start: the first deliveries wait for the run number.
            let _starting = self.starting.lock().unwrap_or_else(PoisonError::into_inner);
            if self.namer.run.get().is_none() {
                let run = self.next_run()?;
                let _ = self.namer.run.set(run);
            }
        }
        // Made outside the lock: two threads may both make the same folders, which is
        // harmless, and nobody else waits for the disk.
        let path = self.root.join(&folder);
        let sent_path = path.join(".Sent");
        for dir in [&path, &sent_path] {
            for sub in ["tmp", "new", "cur"] {
                let sub = dir.join(sub);
                std::fs::create_dir_all(&sub).map_err(StoreError::io("creating", &sub))?;
            }
        }
        // Maildir++ marks a subfolder with this empty file.
        let marker = sent_path.join("maildirfolder");
        File::create(&marker).map_err(StoreError::io("creating", &marker))?;
        if self.fsync {
            for dir in [&path, &sent_path] {
                sync_dir(dir)?;
            }
            sync_dir(&self.root)?;
        }
        let made = Arc::new(UserFolders {
            inbox: Arc::new(MaildirBox::new(path, Arc::clone(&self.namer), self.fsync)),
            sent: Arc::new(MaildirBox::new(
                sent_path,
                Arc::clone(&self.namer),
                self.fsync,
            )),
        });
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::clone(users.entry(folder).or_insert(made)))
    }

    /// Counts one more start of the store in `kmlab-runs` and returns the count.
    fn next_run(&self) -> Result<u64, StoreError> {
        std::fs::create_dir_all(&self.root).map_err(StoreError::io("creating", &self.root))?;
        let path = self.root.join(RUNS);
        let last = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<u64>().unwrap_or(0),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => 0,
            Err(err) => return Err(StoreError::io("reading", &path)(err)),
        };
        let run = last.saturating_add(1);
        let tmp = self.root.join(format!("{RUNS}.tmp"));
        let mut file = File::create(&tmp).map_err(StoreError::io("creating", &tmp))?;
        // Synced whatever the fsync option: a run number that did not survive a crash could
        // be taken again, and it is written once per start.
        file.write_all(format!("{run}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(StoreError::io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(StoreError::io("renaming", &tmp))?;
        sync_dir(&self.root)?;
        Ok(run)
    }

    /// Delivers one message into the INBOX of every recipient (each address once). When this
    /// returns `Ok`, every copy is in its `new/` (and on disk, with `fsync`).
    pub(crate) fn deliver(&self, recipients: &[String], data: &[u8]) -> Result<(), StoreError> {
        let mut folders: Vec<Arc<MaildirBox>> = Vec::with_capacity(recipients.len());
        let mut seen: Vec<String> = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let folder = safe_folder_name(recipient);
            if seen.contains(&folder) {
                continue;
            }
            seen.push(folder);
            folders.push(self.mailbox(recipient, MailboxName::Inbox)?);
        }
        let Some(first) = folders.first() else {
            return Ok(());
        };
        let now = self.namer.clock.now();
        let (tmp, unique) = first.write_tmp(data, now)?;
        let linked = folders
            .iter()
            .try_for_each(|folder| folder.link(&tmp, &unique, "new", "", data.len()).map(drop));
        // The temporary name goes whether or not every link was made: what was linked stays.
        let _ = std::fs::remove_file(&tmp);
        linked?;
        if self.fsync {
            for folder in &folders {
                folder.sync_subdir("new")?;
            }
        }
        Ok(())
    }
}

/// One Maildir folder.
#[derive(Debug)]
pub(crate) struct MaildirBox {
    path: PathBuf,
    namer: Arc<Namer>,
    fsync: bool,
    /// Open handles of `new/` and `cur/`, for syncing them without opening them each time.
    new_dir: OnceLock<File>,
    cur_dir: OnceLock<File>,
    /// Loaded when the folder is first selected; a folder nobody reads costs no memory.
    index: Mutex<Option<Index>>,
}

#[derive(Debug)]
struct Index {
    uidvalidity: u32,
    uidnext: u32,
    entries: BTreeMap<Uid, Entry>,
    by_unique: BTreeMap<String, Uid>,
}

#[derive(Debug, Clone)]
struct Entry {
    unique: String,
    /// The file's name inside `new/` or `cur/`.
    file: String,
    in_cur: bool,
    flags: Flags,
    size: u64,
    internal_date: InternalDate,
}

/// A file found in `new/` or `cur/`.
#[derive(Debug)]
struct Found {
    file: String,
    in_cur: bool,
    flags: Flags,
}

impl MaildirBox {
    fn new(path: PathBuf, namer: Arc<Namer>, fsync: bool) -> Self {
        Self {
            path,
            namer,
            fsync,
            new_dir: OnceLock::new(),
            cur_dir: OnceLock::new(),
            index: Mutex::new(None),
        }
    }

    /// Writes `data` into `tmp/` under a fresh unique name, dated `now`; returns its path and
    /// unique name.
    fn write_tmp(&self, data: &[u8], now: Duration) -> Result<(PathBuf, String), StoreError> {
        for _ in 0..NAME_ATTEMPTS {
            let unique = self.namer.name(now, data.len());
            let path = self.path.join("tmp").join(&unique);
            let mut file = match File::create_new(&path) {
                Ok(file) => file,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(StoreError::io("creating", &path)(err)),
            };
            let written = file
                .write_all(data)
                .and_then(|()| file.set_modified(UNIX_EPOCH + now))
                .and_then(|()| if self.fsync { file.sync_all() } else { Ok(()) });
            if let Err(err) = written {
                drop(file);
                let _ = std::fs::remove_file(&path);
                return Err(StoreError::io("writing", &path)(err));
            }
            return Ok((path, unique));
        }
        Err(StoreError::Io {
            action: "naming a message in",
            path: self.path.display().to_string(),
            source: std::io::ErrorKind::AlreadyExists.into(),
        })
    }

    /// Links the written `tmp` file into `sub` (`new` or `cur`) as `<unique><info>`, under
    /// another unique name if that one is taken; returns the unique name used.
    fn link(
        &self,
        tmp: &Path,
        unique: &str,
        sub: &str,
        info: &str,
        size: usize,
    ) -> Result<String, StoreError> {
        let mut unique = unique.to_owned();
        for _ in 0..NAME_ATTEMPTS {
            let target = self.path.join(sub).join(format!("{unique}{info}"));
            match std::fs::hard_link(tmp, &target) {
                Ok(()) => return Ok(unique),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    unique = self.namer.name(self.namer.clock.now(), size);
                }
                Err(err) => return Err(StoreError::io("linking", &target)(err)),
            }
        }
        Err(StoreError::Io {
            action: "naming a message in",
            path: self.path.display().to_string(),
            source: std::io::ErrorKind::AlreadyExists.into(),
        })
    }

    fn sync_subdir(&self, sub: &str) -> Result<(), StoreError> {
        let cell = if sub == "new" {
            &self.new_dir
        } else {
            &self.cur_dir
        };
        let path = self.path.join(sub);
        let dir = match cell.get() {
            Some(dir) => dir,
            None => {
                let opened = File::open(&path).map_err(StoreError::io("opening", &path))?;
                cell.get_or_init(|| opened)
            }
        };
        dir.sync_all().map_err(StoreError::io("syncing", &path))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Index>> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn select(&self) -> Result<Snapshot, StoreError> {
        let mut guard = self.lock();
        let index = self.sync(&mut guard)?;
        Ok(index.snapshot())
    }

    pub(crate) fn read(&self, uid: Uid) -> Result<Arc<[u8]>, StoreError> {
        // Another thread may rename the file (a flag change) between finding its name and
        // opening it; the second look finds the new name.
        for _ in 0..2 {
            let path = {
                let mut guard = self.lock();
                let index = match guard.as_mut() {
                    Some(index) => index,
                    None => self.sync(&mut guard)?,
                };
                let entry = index
                    .entries
                    .get(&uid)
                    .ok_or(StoreError::NoSuchMessage(uid))?;
                self.entry_path(entry)
            };
            match std::fs::read(&path) {
                Ok(data) => return Ok(Arc::from(data)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    let mut guard = self.lock();
                    self.sync(&mut guard)?;
                }
                Err(err) => return Err(StoreError::io("reading", &path)(err)),
            }
        }
        Err(StoreError::NoSuchMessage(uid))
    }

    pub(crate) fn set_flags(&self, uid: Uid, change: FlagChange) -> Result<Flags, StoreError> {
        let mut guard = self.lock();
        let index = match guard.as_mut() {
            Some(index) => index,
            None => self.sync(&mut guard)?,
        };
        let entry = index
            .entries
            .get(&uid)
            .ok_or(StoreError::NoSuchMessage(uid))?;
        let flags = change.apply(entry.flags);
        if flags == entry.flags && entry.in_cur {
            return Ok(flags);
        }
        let from = self.entry_path(entry);
        let file = format!("{}:2,{}", entry.unique, flags.maildir_letters());
        let to = self.path.join("cur").join(&file);
        std::fs::rename(&from, &to).map_err(StoreError::io("renaming", &from))?;
        let was_in_new = !entry.in_cur;
        if let Some(entry) = index.entries.get_mut(&uid) {
            entry.file = file;
            entry.in_cur = true;
            entry.flags = flags;
        }
        if self.fsync {
            self.sync_subdir("cur")?;
            if was_in_new {
                self.sync_subdir("new")?;
            }
        }
        Ok(flags)
    }

    pub(crate) fn expunge(&self) -> Result<Vec<Uid>, StoreError> {
        let mut guard = self.lock();
        let index = self.sync(&mut guard)?;
        let doomed: Vec<Uid> = index
            .entries
            .iter()
            .filter(|(_, entry)| entry.flags.contains(super::Flag::Deleted))
            .map(|(uid, _)| *uid)
            .collect();
        for uid in &doomed {
            if let Some(entry) = index.entries.remove(uid) {
                let path = self.entry_path(&entry);
                match std::fs::remove_file(&path) {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                        return Err(StoreError::io("removing", &path)(err));
                    }
                    _ => {}
                }
                index.by_unique.remove(&entry.unique);
            }
        }
        if !doomed.is_empty() {
            self.write_uidlist(index)?;
            if self.fsync {
                self.sync_subdir("cur")?;
                self.sync_subdir("new")?;
            }
        }
        Ok(doomed)
    }

    pub(crate) fn append(
        &self,
        data: &[u8],
        flags: Flags,
        internal_date: Option<InternalDate>,
    ) -> Result<Uid, StoreError> {
        let now = self.namer.clock.now();
        let date = internal_date.map_or(now, |date| {
            Duration::from_secs(u64::try_from(date.0).unwrap_or(0))
        });
        let mut guard = self.lock();
        let index = self.sync(&mut guard)?;
        let (tmp, unique) = self.write_tmp(data, date)?;
        let info = format!(":2,{}", flags.maildir_letters());
        let linked = self.link(&tmp, &unique, "cur", &info, data.len());
        let _ = std::fs::remove_file(&tmp);
        let unique = linked?;
        if self.fsync {
            self.sync_subdir("cur")?;
        }
        let uid = index.take_uid()?;
        self.append_uidlist(&[(uid, &unique)])?;
        index.insert(
            uid,
            Entry {
                file: format!("{unique}{info}"),
                unique,
                in_cur: true,
                flags,
                size: data.len() as u64,
                internal_date: InternalDate::of(date),
            },
        );
        Ok(uid)
    }

    fn entry_path(&self, entry: &Entry) -> PathBuf {
        self.path
            .join(if entry.in_cur { "cur" } else { "new" })
            .join(&entry.file)
    }

    /// Brings the index up to what is on disk: loads it the first time, drops messages whose
    /// files are gone, gives new files UIDs in name order and records them.
    fn sync<'a>(&self, guard: &'a mut Option<Index>) -> Result<&'a mut Index, StoreError> {
        let mut rewrite = false;
        if guard.is_none() {
            let (index, fresh) = self.load_uidlist()?;
            rewrite = fresh;
            *guard = Some(index);
        }
        let Some(index) = guard.as_mut() else {
            unreachable!("the index was loaded just above")
        };
        let mut on_disk: BTreeMap<String, Found> = BTreeMap::new();
        for (sub, in_cur) in [("new", false), ("cur", true)] {
            let dir = self.path.join(sub);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(StoreError::io("listing", &dir)(err)),
            };
            for entry in entries {
                let entry = entry.map_err(StoreError::io("listing", &dir))?;
                let Ok(file) = entry.file_name().into_string() else {
                    continue;
                };
                if file.starts_with('.') {
                    continue;
                }
                let (unique, flags) = match file.split_once(':') {
                    Some((unique, info)) => (
                        unique.to_owned(),
                        info.strip_prefix("2,")
                            .map_or(Flags::NONE, Flags::from_maildir_letters),
                    ),
                    None => (file.clone(), Flags::NONE),
                };
                on_disk.insert(
                    unique,
                    Found {
                        file,
                        in_cur,
                        flags,
                    },
                );
            }
        }
        let gone: Vec<Uid> = index
            .entries
            .iter()
            .filter(|(_, entry)| !on_disk.contains_key(&entry.unique))
            .map(|(uid, _)| *uid)
            .collect();
        for uid in gone {
            if let Some(entry) = index.entries.remove(&uid) {
                index.by_unique.remove(&entry.unique);
            }
            rewrite = true;
        }
        let mut arrived: Vec<(String, Found)> = Vec::new();
        for (unique, found) in on_disk {
            match index.by_unique.get(&unique).copied() {
                Some(uid) => {
                    let known = index.entries.get_mut(&uid);
                    let stale = known.as_ref().is_some_and(|entry| {
                        entry.file != found.file || entry.in_cur != found.in_cur
                    });
                    if let (Some(entry), true) = (known, stale) {
                        entry.file.clone_from(&found.file);
                        entry.in_cur = found.in_cur;
                        entry.flags = found.flags;
                    }
                    if let Some(entry) = index.entries.get(&uid)
                        && entry.size == u64::MAX
                    {
                        let fill = self.describe(&unique, &found)?;
                        index.entries.insert(uid, fill);
                    }
                }
                None => arrived.push((unique, found)),
            }
        }
        arrived.sort_by(|a, b| order_key(&a.0).cmp(&order_key(&b.0)));
        let mut added: Vec<(Uid, String)> = Vec::with_capacity(arrived.len());
        for (unique, found) in arrived {
            let entry = self.describe(&unique, &found)?;
            let uid = index.take_uid()?;
            index.insert(uid, entry);
            added.push((uid, unique));
        }
        if rewrite {
            self.write_uidlist(index)?;
        } else if !added.is_empty() {
            let lines: Vec<(Uid, &str)> = added
                .iter()
                .map(|(uid, unique)| (*uid, unique.as_str()))
                .collect();
            self.append_uidlist(&lines)?;
        }
        Ok(index)
    }

    /// What the file tells of a message: its size (from `,S=` in the name when there) and
    /// date (the file's modification time).
    fn describe(&self, unique: &str, found: &Found) -> Result<Entry, StoreError> {
        let path = self
            .path
            .join(if found.in_cur { "cur" } else { "new" })
            .join(&found.file);
        let metadata = std::fs::metadata(&path).map_err(StoreError::io("reading", &path))?;
        let date = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        Ok(Entry {
            unique: unique.to_owned(),
            file: found.file.clone(),
            in_cur: found.in_cur,
            flags: found.flags,
            size: metadata.len(),
            internal_date: InternalDate::of(date),
        })
    }

    /// Reads `kmlab-uidlist`; a folder without one starts a new UIDVALIDITY (and the second
    /// value says the file must be written).
    fn load_uidlist(&self) -> Result<(Index, bool), StoreError> {
        let path = self.path.join(UIDLIST);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let seconds = self.namer.clock.now().as_secs();
                let uidvalidity = u32::try_from(seconds).unwrap_or(u32::MAX).max(1);
                return Ok((Index::new(uidvalidity, 1), true));
            }
            Err(err) => return Err(StoreError::io("reading", &path)(err)),
        };
        let bad = |line: usize| StoreError::BadUidList {
            path: path.display().to_string(),
            line,
        };
        let mut lines = text.lines();
        let header = lines.next().ok_or_else(|| bad(1))?;
        let mut fields = header.split(' ');
        if fields.next() != Some("3") {
            return Err(bad(1));
        }
        let (mut uidvalidity, mut uidnext) = (None, 1u32);
        for field in fields {
            if let Some(value) = field.strip_prefix('V') {
                uidvalidity = Some(value.parse::<u32>().map_err(|_| bad(1))?);
            } else if let Some(value) = field.strip_prefix('N') {
                uidnext = value.parse().map_err(|_| bad(1))?;
            }
        }
        let mut index = Index::new(uidvalidity.ok_or_else(|| bad(1))?, uidnext.max(1));
        for (number, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            let (uid, rest) = line.split_once(' ').ok_or_else(|| bad(number + 2))?;
            let uid = Uid(uid.parse().map_err(|_| bad(number + 2))?);
            let (_, unique) = rest.split_once(':').ok_or_else(|| bad(number + 2))?;
            if uid.0 == 0 {
                return Err(bad(number + 2));
            }
            index.uidnext = index.uidnext.max(uid.0.saturating_add(1));
            // Described from the disk by the sync that follows.
            index.insert(
                uid,
                Entry {
                    unique: unique.to_owned(),
                    file: String::new(),
                    in_cur: false,
                    flags: Flags::NONE,
                    size: u64::MAX,
                    internal_date: InternalDate::default(),
                },
            );
        }
        Ok((index, false))
    }

    /// Writes the whole UID list to a temporary file and renames it into place.
    fn write_uidlist(&self, index: &Index) -> Result<(), StoreError> {
        let mut text = format!("3 V{} N{}\n", index.uidvalidity, index.uidnext);
        for (uid, entry) in &index.entries {
            text.push_str(&format!("{uid} :{}\n", entry.unique));
        }
        let path = self.path.join(UIDLIST);
        let tmp = self.path.join(format!("{UIDLIST}.tmp"));
        let mut file = File::create(&tmp).map_err(StoreError::io("creating", &tmp))?;
        file.write_all(text.as_bytes())
            .and_then(|()| if self.fsync { file.sync_all() } else { Ok(()) })
            .map_err(StoreError::io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(StoreError::io("renaming", &tmp))?;
        if self.fsync {
            sync_dir(&self.path)?;
        }
        Ok(())
    }

    /// Adds lines to the UID list; the header's next UID is then a lower bound, which is how
    /// Dovecot reads it too.
    fn append_uidlist(&self, lines: &[(Uid, &str)]) -> Result<(), StoreError> {
        let path = self.path.join(UIDLIST);
        let mut text = String::new();
        for (uid, unique) in lines {
            text.push_str(&format!("{uid} :{unique}\n"));
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(StoreError::io("opening", &path))?;
        file.write_all(text.as_bytes())
            .and_then(|()| if self.fsync { file.sync_data() } else { Ok(()) })
            .map_err(StoreError::io("writing", &path))
    }
}

impl Index {
    fn new(uidvalidity: u32, uidnext: u32) -> Self {
        Self {
            uidvalidity,
            uidnext,
            entries: BTreeMap::new(),
            by_unique: BTreeMap::new(),
        }
    }

    fn take_uid(&mut self) -> Result<Uid, StoreError> {
        let uid = Uid(self.uidnext);
        self.uidnext = self
            .uidnext
            .checked_add(1)
            .ok_or(StoreError::UidsExhausted)?;
        Ok(uid)
    }

    fn insert(&mut self, uid: Uid, entry: Entry) {
        self.by_unique.insert(entry.unique.clone(), uid);
        self.entries.insert(uid, entry);
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            uidvalidity: self.uidvalidity,
            uidnext: Uid(self.uidnext),
            messages: self
                .entries
                .iter()
                .map(|(uid, entry)| MessageMeta {
                    uid: *uid,
                    size: entry.size,
                    internal_date: entry.internal_date,
                    flags: entry.flags,
                })
                .collect(),
        }
    }
}

/// The order new files get their UIDs in: by the time, run and counter in the name, then by
/// the name itself (for names other tools made).
fn order_key(unique: &str) -> (u64, u64, u64, u64, &str) {
    let number_after = |marker: char| -> u64 {
        unique
            .split('.')
            .nth(1)
            .and_then(|part| part.split_once(marker))
            .map(|(_, rest)| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0)
    };
    let seconds = unique
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        seconds,
        number_after('M'),
        number_after('R'),
        number_after('Q'),
        unique,
    )
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(StoreError::io("syncing", path))
}
