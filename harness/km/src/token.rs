//! One-time enrollment tokens (the "temporary key" the administrator hands to a user).

use std::fmt;

use rand_core::RngCore;
use sha2::{Digest, Sha256};

/// Letters and digits that cannot be mistaken for one another when read aloud or copied.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A temporary key: twelve characters in three groups, e.g. `K7QF-2M9X-WB3D`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// Draws a token from the generator.
    pub fn generate(rng: &mut dyn RngCore) -> Self {
        let mut bytes = [0u8; 12];
        rng.fill_bytes(&mut bytes);
        let chars: Vec<char> = bytes
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect();
        let groups: Vec<String> = chars
            .chunks(4)
            .map(|group| group.iter().collect())
            .collect();
        Self(groups.join("-"))
    }

    /// A token as typed by a user (it may be wrong).
    pub fn typed(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash the database keeps instead of the token.
    pub fn digest(&self) -> Vec<u8> {
        let normalized: String = self
            .0
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Sha256::digest(normalized.as_bytes()).to_vec()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_grouped_and_compared_without_dashes_or_case() {
        let token = Token::generate(&mut model::SeededRng::new(1, "tokens"));
        assert_eq!(token.as_str().len(), 14);
        assert_eq!(token.as_str().matches('-').count(), 2);
        let retyped = Token::typed(token.as_str().replace('-', "").to_lowercase());
        assert_eq!(retyped.digest(), token.digest());
    }
}
