//! Closed vocabularies that scenario files spell by name.

/// A type whose every value has a name used in scenario files and transcripts.
pub trait Named: Copy + Sized + 'static {
    /// Every value, in the order documentation lists them.
    const ALL: &'static [Self];

    /// The value's name.
    fn name(self) -> &'static str;

    /// The value with this name.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|value| value.name() == name)
    }

    /// Every name, comma-separated, for messages.
    fn names() -> String {
        Self::ALL
            .iter()
            .map(|value| value.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Implements [`Named`] for a fieldless enum from `Variant => "name"` pairs.
#[macro_export]
macro_rules! named {
    ($type:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $crate::Named for $type {
            const ALL: &'static [Self] = &[$(<$type>::$variant),+];

            fn name(self) -> &'static str {
                match self {
                    $(<$type>::$variant => $name),+
                }
            }
        }
    };
}
