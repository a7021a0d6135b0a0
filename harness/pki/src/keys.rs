//! The key pool: RSA key pairs derived from (seed, role, size), optionally cached on disk.
//!
//! A key's bits depend only on the scenario seed, the role it plays (`ca:ContosoRoot`,
//! `user:alice:enc:1`, …) and its size, never on the order in which keys are asked for, on
//! the cache, or on the thread that asks. The cache only saves the generation time: a cached
//! key is exactly the key that would have been generated.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use model::{PrivateKeyDer, derive_seed};
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

/// Bumped whenever the derivation changes, so that old cache files are never reused.
const DERIVATION: &str = "kmlab-key-v1/rsa-0.9";

/// Errors from the key pool.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// RSA key generation failed.
    #[error("generating a {bits}-bit RSA key for {role}: {source}")]
    Generate {
        /// The role the key was for.
        role: String,
        /// The requested size.
        bits: usize,
        /// What the RSA implementation said.
        source: rsa::Error,
    },
    /// The key could not be encoded as PKCS#8.
    #[error("encoding a key as PKCS#8: {0}")]
    Encode(pkcs8::Error),
}

/// Derives key pairs for one seed, with an optional on-disk cache shared by all runs.
#[derive(Debug, Clone)]
pub struct KeyPool {
    seed: u64,
    cache_dir: Option<PathBuf>,
}

/// Where a key came from, for statistics and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// Generated in this call.
    Generated,
    /// Read from the cache.
    Cached,
}

impl KeyPool {
    /// A pool for `seed`; with `cache_dir`, generated keys are stored there and reused.
    pub fn new(seed: u64, cache_dir: Option<PathBuf>) -> Self {
        Self { seed, cache_dir }
    }

    /// The key pair for `role` of `bits` bits.
    pub fn key(&self, role: &str, bits: usize) -> Result<(RsaPrivateKey, KeySource), KeyError> {
        let label = format!("{DERIVATION}/{role}/{bits}");
        let cache_file = self
            .cache_dir
            .as_deref()
            .map(|dir| cache_path(dir, self.seed, &label));
        if let Some(key) = cache_file.as_deref().and_then(read_cached) {
            return Ok((key, KeySource::Cached));
        }
        let mut rng = ChaCha20Rng::from_seed(derive_seed(self.seed, &label));
        let key = RsaPrivateKey::new(&mut rng, bits).map_err(|source| KeyError::Generate {
            role: role.to_owned(),
            bits,
            source,
        })?;
        if let Some(path) = cache_file {
            // The cache is an optimisation: a failure to write it costs time, not correctness.
            let _ = write_cached(&path, &key);
        }
        Ok((key, KeySource::Generated))
    }
}

/// The PKCS#8 DER of a private key.
pub fn private_key_der(key: &RsaPrivateKey) -> Result<PrivateKeyDer, KeyError> {
    let document = key.to_pkcs8_der().map_err(KeyError::Encode)?;
    Ok(PrivateKeyDer::new(document.as_bytes().to_vec()))
}

fn cache_path(dir: &Path, seed: u64, label: &str) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_be_bytes());
    hasher.update(label.as_bytes());
    let digest = hasher.finalize();
    let name: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{name}.p8"))
}

fn read_cached(path: &Path) -> Option<RsaPrivateKey> {
    let bytes = fs::read(path).ok()?;
    // A torn or foreign file is ignored and regenerated.
    RsaPrivateKey::from_pkcs8_der(&bytes).ok()
}

/// Writes through a temporary file renamed into place, so concurrent runs never see a
/// half-written key.
fn write_cached(path: &Path, key: &RsaPrivateKey) -> std::io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    fs::create_dir_all(dir)?;
    let der = key.to_pkcs8_der().map_err(std::io::Error::other)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(der.as_bytes())?;
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_seed_role_and_size_only() {
        let pool = KeyPool::new(1, None);
        let (a, _) = pool.key("user:alice:enc:1", 1024).unwrap();
        let (b, _) = pool.key("user:alice:enc:1", 1024).unwrap();
        let (c, _) = pool.key("user:bob:enc:1", 1024).unwrap();
        let (d, _) = KeyPool::new(2, None).key("user:alice:enc:1", 1024).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn cache_returns_the_key_that_would_be_generated() {
        let dir = tempfile::tempdir().unwrap();
        let cached = KeyPool::new(9, Some(dir.path().to_path_buf()));
        let (first, source) = cached.key("ca:Root", 1024).unwrap();
        assert_eq!(source, KeySource::Generated);
        let (second, source) = cached.key("ca:Root", 1024).unwrap();
        assert_eq!(source, KeySource::Cached);
        let (fresh, _) = KeyPool::new(9, None).key("ca:Root", 1024).unwrap();
        assert_eq!(first, second);
        assert_eq!(first, fresh);
    }

    #[test]
    fn pools_sharing_one_cache_at_once_agree_and_leave_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let roles: Vec<String> = (0..6).map(|n| format!("user:u{n}:enc:1")).collect();
        // Four pools on one empty cache, each asking for every key, each in its own order.
        let results: Vec<Vec<(String, RsaPrivateKey)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|worker| {
                    let (roles, cache) = (&roles, dir.path().to_path_buf());
                    scope.spawn(move || {
                        let pool = KeyPool::new(5, Some(cache));
                        let mut order = roles.clone();
                        order.rotate_left(worker);
                        if worker % 2 == 1 {
                            order.reverse();
                        }
                        let mut keys: Vec<(String, RsaPrivateKey)> = order
                            .into_iter()
                            .map(|role| {
                                let (key, _) = pool.key(&role, 1024).unwrap();
                                (role, key)
                            })
                            .collect();
                        keys.sort_by(|a, b| a.0.cmp(&b.0));
                        keys
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let fresh = KeyPool::new(5, None);
        for keys in &results {
            for (role, key) in keys {
                assert_eq!(*key, fresh.key(role, 1024).unwrap().0, "{role}");
            }
        }
        // One whole file per key, no temporary file left behind, each read back as it was.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), roles.len(), "{names:?}");
        assert!(names.iter().all(|name| name.ends_with(".p8")), "{names:?}");
        let reader = KeyPool::new(5, Some(dir.path().to_path_buf()));
        for (role, key) in &results[0] {
            assert_eq!(
                reader.key(role, 1024).unwrap(),
                (key.clone(), KeySource::Cached)
            );
        }
    }

    #[test]
    fn torn_cache_file_is_regenerated() {
        let dir = tempfile::tempdir().unwrap();
        let pool = KeyPool::new(3, Some(dir.path().to_path_buf()));
        let (key, _) = pool.key("ca:Root", 1024).unwrap();
        for entry in fs::read_dir(dir.path()).unwrap() {
            fs::write(entry.unwrap().path(), b"\x30\x82garbage").unwrap();
        }
        let (again, source) = pool.key("ca:Root", 1024).unwrap();
        assert_eq!(source, KeySource::Generated);
        assert_eq!(key, again);
    }
}
