//! How a reading becomes a record. The words are `clients::read::Reading::describe`'s, the
//! one place a reading is put in words (the engine-neutral lines the cross-check compares
//! come from the same walk); here they only become the record's details and outcome, with
//! certificates named by the run's [`CertificateBook`]. The runner's `read` step and
//! `kmlab inspect` both describe readings here, so a message inspected later reads exactly as
//! it did in the run.

use clients::read::{Problem, Reading, ReadingDetail};
use model::CertifiedKey;
use report::{Detail, Record};

use crate::book::CertificateBook;

pub(crate) use clients::read::{algorithm_text, cipher_text};

/// Turns a reading into details and sets the record's outcome: `error` when the message could
/// not be read or a signature failed its cryptography, `warning` when the cryptography held
/// but the client's trust policy did not; left as it was otherwise.
pub fn describe_reading(
    book: &CertificateBook,
    keys: &[CertifiedKey],
    reading: &Reading,
    record: &mut Record,
) {
    let description = reading.describe(book, keys);
    record
        .details
        .extend(description.details.into_iter().map(|detail| match detail {
            ReadingDetail::Text { key, value } => Detail::text(key, value),
            ReadingDetail::List { key, items } => Detail::list(key, items),
        }));
    if let Some(Problem { outcome, reason }) = description.problem {
        record.outcome = outcome;
        record.reason = Some(reason.to_owned());
    }
}
