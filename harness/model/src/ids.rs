//! Identifier newtypes, so that a user name is never passed where a CA name is wanted.

use std::fmt;

use serde::Serialize;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name that the scenario layer has already validated.
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            /// The name as written in the scenario.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Why `name` cannot be used as one component of a file path, if it cannot: user, CA and KM
/// server names become file and folder names in the artifacts and a run's working folder, and
/// joining such a name to a folder must stay inside that folder.
pub fn file_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name.chars().all(|c| c == '.') {
        Some("it names a folder (`.` or `..`)")
    } else {
        None
    }
}

name_type!(
    /// A virtual user (a mailbox), e.g. `alice`.
    UserName
);
name_type!(
    /// A certification authority, by its common name, e.g. `ContosoRoot`.
    CaName
);
name_type!(
    /// A KM server, e.g. `KM1`.
    KmName
);
name_type!(
    /// A server in the topology, e.g. `EXCH1`.
    HostName
);
name_type!(
    /// An Exchange site (5.5) or administrative group (2000), e.g. `Redmond`.
    SiteName
);
name_type!(
    /// An RFC 5322 mailbox address, e.g. `alice@contoso.example`.
    MailAddress
);

/// Which encryption or signing certificate of a user this is: 1 for the first one, 2 after the
/// first recovery or renewal, and so on. Snapshots name keys as `enc#1`, `sign#2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct KeyGeneration(u32);

impl KeyGeneration {
    /// The first generation a user receives.
    pub const FIRST: Self = Self(1);

    /// Wraps a generation number (1-based).
    pub fn new(generation: u32) -> Self {
        Self(generation)
    }

    /// The generation after this one.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// The generation number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for KeyGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A certificate serial number: the big-endian magnitude, and its sign. RFC 5280 asks for
/// positive serials but tells relying parties to cope with negative ones, and a negative
/// serial must never be taken for the positive one with the same bytes (-1 is `ff` in two's
/// complement, and so is the magnitude of 255).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Serial {
    negative: bool,
    magnitude: Vec<u8>,
}

impl Serial {
    /// Wraps the big-endian magnitude of a positive serial number; leading zero bytes are
    /// dropped.
    pub fn from_be_bytes(bytes: &[u8]) -> Self {
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Self {
            negative: false,
            magnitude: bytes[first..].to_vec(),
        }
    }

    /// Reads the content octets of a DER INTEGER (two's complement, big-endian).
    pub fn from_der_integer(content: &[u8]) -> Self {
        if content.first().is_none_or(|first| first & 0x80 == 0) {
            return Self::from_be_bytes(content);
        }
        // The magnitude of a negative number is its two's complement: invert, add one.
        let mut magnitude: Vec<u8> = content.iter().map(|b| !b).collect();
        for byte in magnitude.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                break;
            }
        }
        Self {
            negative: true,
            ..Self::from_be_bytes(&magnitude)
        }
    }

    /// The big-endian magnitude, without leading zeros.
    pub fn as_bytes(&self) -> &[u8] {
        &self.magnitude
    }

    /// Whether the serial is below zero (which RFC 5280 forbids CAs to issue).
    pub fn is_negative(&self) -> bool {
        self.negative
    }
}

impl fmt::Display for Serial {
    /// Lower-case hex, the way `openssl x509 -serial` prints it (but lower case), with a
    /// minus sign for a negative serial.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        if self.magnitude.is_empty() {
            return f.write_str("00");
        }
        for byte in &self.magnitude {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

impl Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_drops_leading_zeros_and_prints_hex() {
        let serial = Serial::from_be_bytes(&[0, 0, 0x1f, 0xa0]);
        assert_eq!(serial.to_string(), "1fa0");
        assert_eq!(Serial::from_be_bytes(&[0]).to_string(), "00");
    }

    #[test]
    fn negative_serials_keep_their_sign() {
        let minus_one = Serial::from_der_integer(&[0xff]);
        let plus_255 = Serial::from_der_integer(&[0x00, 0xff]);
        assert_eq!(minus_one.to_string(), "-01");
        assert_eq!(plus_255.to_string(), "ff");
        assert_ne!(minus_one, plus_255);
        assert_eq!(Serial::from_der_integer(&[0x80, 0x00]).to_string(), "-8000");
        assert_eq!(Serial::from_der_integer(&[0xfe, 0xff]).to_string(), "-0101");
        assert_eq!(Serial::from_der_integer(&[]).to_string(), "00");
    }

    #[test]
    fn generations_count_up_from_one() {
        assert_eq!(KeyGeneration::FIRST.next().get(), 2);
    }
}
