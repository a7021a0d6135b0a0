//! How a reading becomes a record. The words are `clients::read::Reading::describe`'s, the
//! one place a reading is put in words (the engine-neutral lines the cross-check compares
//! come from the same walk); here they only become the record's details and outcome, with
//! certificates named by the run's [`CertificateBook`]. The runner's `read` step and
//! `kmlab inspect` both describe readings here, so a message inspected later reads exactly as
//! it did in the run.

use clients::RecordDetail;
use clients::read::{Problem, Reading};
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
        .extend(description.details.into_iter().map(record_detail));
    if let Some(Problem { outcome, reason }) = description.problem {
        record.outcome = outcome;
        record.reason = Some(reason.to_owned());
    }
}

/// A detail `clients` worked out (a reading's, a send plan's) as the report keeps it.
pub(crate) fn record_detail(detail: RecordDetail) -> Detail {
    match detail {
        RecordDetail::Text { key, value } => Detail::text(key, value),
        RecordDetail::List { key, items } => Detail::list(key, items),
    }
}
