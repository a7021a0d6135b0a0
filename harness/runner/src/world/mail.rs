//! The World's mail system: the embedded SMTP sink, the generator messages draw their
//! randomness from, what the run sent, and mailbox copies that differ from what the sink
//! stored.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use clients::VirtualUser;
use model::{SeededRng, UserName};
use sink::{EmbeddedSink, Limits};

use crate::RunError;
use crate::error::StepError;

/// A mailbox as its client sees it: each message's sink identifier and bytes.
pub(crate) type Inbox = Vec<Delivered>;

/// One delivered message as a client sees it: its number and its bytes.
pub(crate) type Delivered = (sink::MessageId, Arc<[u8]>);

/// One message the run sent, for artifact names.
#[derive(Debug, Clone)]
pub(crate) struct SentMessage {
    /// The sender.
    pub(crate) from: UserName,
    /// The subject.
    pub(crate) subject: String,
    /// The sink's identifier.
    pub(crate) id: sink::MessageId,
    /// The message as the client composed it, kept only when the sink stored other bytes;
    /// otherwise the sender's sent copy is the sink's.
    pub(crate) composed: Option<Arc<[u8]>>,
}

/// The sink and the mailboxes.
#[derive(Debug)]
pub(crate) struct Mail {
    pub(crate) sink: EmbeddedSink,
    /// Randomness for messages: boundaries, content keys, IVs, padding.
    pub(crate) rng: SeededRng,
    pub(crate) sent: Vec<SentMessage>,
    /// Messages a user's mailbox holds in another form than the sink stored (after sectool).
    pub(crate) mailbox_overrides: BTreeMap<(UserName, sink::MessageId), Vec<u8>>,
    /// Delivered messages changed in transit, by mailbox owner and sink identifier; the
    /// sink's own copy stays as it was received.
    pub(crate) altered: BTreeMap<(UserName, sink::MessageId), Vec<u8>>,
    /// Every mailbox copy `alter-message` or `sectool` wrote, in order, for the artifacts: a
    /// tool outside kmlab can then check each read against the copy it read.
    pub(crate) rewrites: Vec<Rewrite>,
}

/// What rewrote a mailbox copy: the security tool, whose copy replaces the sink's, or a
/// change in transit, which leaves the sink's copy as it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RewrittenBy {
    /// `sectool`.
    Sectool,
    /// `alter-message`.
    Transit,
}

/// One mailbox copy a step rewrote.
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    /// The step that wrote it.
    pub(crate) step: usize,
    /// Whose mailbox.
    pub(crate) user: UserName,
    /// The message, by the sink's identifier.
    pub(crate) id: sink::MessageId,
    /// The copy's bytes after the step.
    pub(crate) data: Arc<[u8]>,
}

impl Mail {
    pub(super) fn new(seed: u64, work_dir: &Path) -> Result<Self, RunError> {
        Ok(Self {
            // Message bytes go to a spool file in the work folder: a run's memory does not
            // grow with its mail.
            sink: EmbeddedSink::start_with(
                Limits::default(),
                sink::Store::spooled(&work_dir.join("sink.spool"))?,
            )?,
            rng: SeededRng::new(seed, "messages"),
            sent: Vec::new(),
            mailbox_overrides: BTreeMap::new(),
            altered: BTreeMap::new(),
            rewrites: Vec::new(),
        })
    }

    /// Dates what the sink stores from now on at `now`: the INTERNALDATE the IMAP server shows
    /// is the virtual time of delivery, never the wall clock.
    pub(crate) fn date_deliveries(&self, now: model::Timestamp) {
        let since_epoch = std::time::Duration::from_secs(u64::try_from(now.unix()).unwrap_or(0));
        self.sink
            .store()
            .set_clock(Arc::new(sink::FixedClock(since_epoch)));
    }

    /// Puts `data` in `user`'s mailbox in place of message `id`, as `by` left it, and
    /// remembers the copy for the artifacts.
    pub(crate) fn rewrite(
        &mut self,
        by: RewrittenBy,
        step: usize,
        user: &UserName,
        id: sink::MessageId,
        data: Vec<u8>,
    ) {
        self.rewrites.push(Rewrite {
            step,
            user: user.clone(),
            id,
            data: Arc::from(data.as_slice()),
        });
        let copies = match by {
            RewrittenBy::Sectool => &mut self.mailbox_overrides,
            RewrittenBy::Transit => &mut self.altered,
        };
        copies.insert((user.clone(), id), data);
    }

    /// A user's inbox as their client sees it: what the sink delivered, with any message the
    /// security tool rewrote in its rewritten form.
    pub(crate) fn inbox(&self, client: &VirtualUser) -> Result<Inbox, StepError> {
        self.sink
            .store()
            .mailbox(client.email.as_str())
            .iter()
            .map(|stored| Ok((stored.id, self.as_seen_by(&client.name, stored)?)))
            .collect()
    }

    /// A user's inbox as [`Mail::inbox`] gives it, newest first, each message's bytes read
    /// only when the iteration reaches it: finding a recent message reads no older one.
    pub(crate) fn inbox_newest_first<'m>(
        &'m self,
        client: &'m VirtualUser,
    ) -> impl Iterator<Item = Result<Delivered, StepError>> + 'm {
        self.sink
            .store()
            .mailbox(client.email.as_str())
            .into_iter()
            .rev()
            .map(move |stored| Ok((stored.id, self.as_seen_by(&client.name, &stored)?)))
    }

    /// A delivered message as `user`'s client sees it: as stored, or as the security tool
    /// rewrote it.
    fn as_seen_by(
        &self,
        user: &UserName,
        stored: &sink::StoredMessage,
    ) -> Result<Arc<[u8]>, StepError> {
        match self.mailbox_overrides.get(&(user.clone(), stored.id)) {
            Some(rewritten) => Ok(Arc::from(rewritten.as_slice())),
            None => stored.data().map_err(StepError::io(SPOOL)),
        }
    }

    /// The sender's copy of a sent message: the sink's bytes (or what the client composed,
    /// where the sink stored other bytes).
    pub(crate) fn stored(&self, id: sink::MessageId) -> Result<Arc<[u8]>, StepError> {
        self.sink
            .store()
            .message(id)
            .ok_or_else(|| StepError::Inconsistent(format!("the sink has no message #{id}")))?
            .data()
            .map_err(StepError::io(SPOOL))
    }
}

/// What a failed read of the spool was doing.
pub(crate) const SPOOL: &str = "reading a message from the sink's spool";
