//! A named fact for a step's record, as the report shows them: what `clients` decides and
//! sees (a send's plan, a reading's description) in the report's two shapes, since `clients`
//! does not know the report; the runner converts.

/// One detail of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordDetail {
    /// One line of text.
    Text {
        /// The name, in kebab case.
        key: &'static str,
        /// The text.
        value: String,
    },
    /// Several items.
    List {
        /// The name, in kebab case.
        key: &'static str,
        /// The items, in order.
        items: Vec<String>,
    },
}
