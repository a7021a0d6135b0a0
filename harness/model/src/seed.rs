//! The seeded random number generator every random choice in a run draws from.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// A ChaCha20 stream seeded from the scenario. Serials, tokens, IVs and content-encryption
/// keys are drawn from it in step order, so the same scenario and seed give the same bytes.
#[derive(Debug, Clone)]
pub struct SeededRng(ChaCha20Rng);

impl SeededRng {
    /// The generator for a scenario seed and a purpose; different purposes give independent
    /// streams, so adding a draw for one purpose never shifts the bytes of another.
    pub fn new(seed: u64, purpose: &str) -> Self {
        Self(ChaCha20Rng::from_seed(derive_seed(seed, purpose)))
    }

    /// An independent generator for `purpose`, derived from this one's seed: drawing from it
    /// never shifts this one's stream.
    pub fn fork(&self, purpose: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"kmlab seed fork v1\0");
        hasher.update(self.0.get_seed());
        hasher.update(purpose.as_bytes());
        Self(ChaCha20Rng::from_seed(hasher.finalize().into()))
    }
}

/// A 32-byte seed for `purpose` under the scenario `seed`: SHA-256 over both.
pub fn derive_seed(seed: u64, purpose: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"kmlab seed v1\0");
    hasher.update(seed.to_be_bytes());
    hasher.update(purpose.as_bytes());
    hasher.finalize().into()
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl CryptoRng for SeededRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fork_is_reproducible_and_leaves_its_parent_alone() {
        let parent = SeededRng::new(7, "km");
        let mut fork = parent.fork("salt");
        assert_eq!(fork.next_u64(), parent.fork("salt").next_u64());
        assert_ne!(
            parent.fork("salt").next_u64(),
            parent.fork("other").next_u64()
        );
        let mut untouched = SeededRng::new(7, "km");
        let mut parent = parent;
        assert_eq!(parent.next_u64(), untouched.next_u64());
    }

    #[test]
    fn same_seed_and_purpose_give_the_same_stream() {
        let mut a = SeededRng::new(7, "serials");
        let mut b = SeededRng::new(7, "serials");
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn purposes_and_seeds_are_independent() {
        let first = SeededRng::new(7, "serials").next_u64();
        assert_ne!(first, SeededRng::new(7, "tokens").next_u64());
        assert_ne!(first, SeededRng::new(8, "serials").next_u64());
    }
}
