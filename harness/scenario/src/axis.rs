//! A setting (a path set to one value, and where that was written) and an axis (a path with
//! every value it takes): the data level one reads from a scenario's `[matrix]` ([`file`]) and
//! [`settings`] applies, kept apart from both so that each depends on it alone.
//!
//! [`file`]: crate::file
//! [`settings`]: crate::settings

use std::ops::Range;

/// Where a setting was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// In the scenario file's `[matrix]` table: the key's and the value's byte ranges.
    File {
        /// Where the setting's path is written.
        key: Range<usize>,
        /// Where this value is written.
        value: Range<usize>,
    },
    /// On the command line, as the `index`th `--vary` value (from 0).
    Argument(usize),
}

/// One key set to one value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Setting {
    /// The path, e.g. `km.KM1.mode`.
    pub key: String,
    /// The value as text; integers and flags in their TOML spelling.
    pub value: String,
    /// Where it was written.
    pub origin: Origin,
}

/// One key with every value it takes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    /// The path.
    pub key: String,
    /// Its values.
    pub values: Vec<Setting>,
}
