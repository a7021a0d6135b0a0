//! The World's users: each user's client, the engine it does its cryptography with (the
//! run's, or a real implementation seated as that user), and the key generations counted
//! over the whole run.

use std::collections::BTreeMap;
use std::sync::Arc;

use clients::VirtualUser;
use model::{KeyGeneration, UserName};
use scenario::Scenario;
use smime::Engine;
use smime_external::ExternalEngine;

use crate::RunOptions;
use crate::error::{StepError, Thing};

/// Which kind of key a generation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum KeyKind {
    /// A signing key, which clients generate themselves.
    Signing,
    /// An encryption key.
    Encryption,
}

/// The users' clients.
#[derive(Debug)]
pub(crate) struct Clients {
    scenario: Arc<Scenario>,
    pub(crate) users: BTreeMap<UserName, VirtualUser>,
    engine: Arc<dyn Engine>,
    /// The engine every reader also judges each message with, when cross-checking.
    pub(crate) cross_check: Option<Arc<dyn Engine>>,
    /// Users whose seat a real implementation takes, with its engine.
    seated: BTreeMap<UserName, Arc<ExternalEngine>>,
    /// How many keys of each kind each user's clients have been issued: generations keep
    /// counting after a client loses its keys.
    generations: BTreeMap<(UserName, KeyKind), u32>,
}

impl Clients {
    pub(super) fn new(scenario: &Arc<Scenario>, options: &RunOptions) -> Self {
        let topology = &scenario.topology;
        let users = topology
            .users
            .iter()
            .map(|spec| {
                let client = VirtualUser::new(
                    spec.name.clone(),
                    spec.email.clone(),
                    spec.persona,
                    spec.strength,
                );
                (spec.name.clone(), client)
            })
            .collect();
        let mut seated = BTreeMap::new();
        for spec in &topology.users {
            let named = options
                .seats
                .iter()
                .find(|seat| seat.user.as_ref() == Some(&spec.name))
                .map(|seat| seat.adapter.clone());
            let own = spec.seat.as_ref().map(|seat| {
                smime_external::Adapter::new(
                    &seat.name,
                    seat.program.clone(),
                    options.adapter_timeout,
                )
            });
            let everyone = options
                .seats
                .iter()
                .find(|seat| seat.user.is_none())
                .map(|seat| seat.adapter.clone());
            if let Some(adapter) = named.or(own).or(everyone) {
                let engine = ExternalEngine::new(adapter);
                seated.insert(spec.name.clone(), Arc::new(engine));
            }
        }
        Self {
            scenario: Arc::clone(scenario),
            users,
            engine: Arc::clone(&options.engine),
            cross_check: options.cross_check.clone(),
            seated,
            generations: BTreeMap::new(),
        }
    }

    /// The client of `user`.
    pub(crate) fn user(&self, user: &UserName) -> Result<&VirtualUser, StepError> {
        self.users
            .get(user)
            .ok_or_else(|| StepError::missing(Thing::User, user))
    }

    /// The client of `user`, to change.
    pub(crate) fn user_mut(&mut self, user: &UserName) -> Result<&mut VirtualUser, StepError> {
        self.users
            .get_mut(user)
            .ok_or_else(|| StepError::missing(Thing::User, user))
    }

    /// The next generation of a user's `kind` of key, counted over the whole run so that a
    /// client which lost its keys never reuses a number. Nothing is counted until
    /// [`Self::use_generation`] says the key was really issued.
    pub(crate) fn next_generation(&self, user: &UserName, kind: KeyKind) -> KeyGeneration {
        let held = self.users.get(user).map_or(0, |client| {
            let keys = match kind {
                KeyKind::Signing => &client.signing_keys,
                KeyKind::Encryption => &client.encryption_keys,
            };
            keys.iter()
                .map(|key| key.generation.get())
                .max()
                .unwrap_or(0)
        });
        let counted = self
            .generations
            .get(&(user.clone(), kind))
            .copied()
            .unwrap_or(0);
        KeyGeneration::new(counted.max(held) + 1)
    }

    /// Records that generation `generation` of a user's `kind` of key was issued.
    pub(crate) fn use_generation(
        &mut self,
        user: &UserName,
        kind: KeyKind,
        generation: KeyGeneration,
    ) {
        let counter = self.generations.entry((user.clone(), kind)).or_insert(0);
        *counter = (*counter).max(generation.get());
    }

    /// The size in bits of `user`'s RSA keys, as the scenario sets it.
    pub(crate) fn key_bits(&self, user: &UserName) -> usize {
        let bits = self
            .scenario
            .topology
            .user(user)
            .map_or(clients::DEFAULT_KEY_BITS, |spec| spec.key_size);
        bits as usize
    }

    /// The engine `user`'s client does its cryptography with: the implementation seated as
    /// that user, else the run's engine. Each call tells it the time and the authorities.
    pub(crate) fn engine_for(&self, user: &UserName) -> Arc<dyn Engine> {
        match self.seated.get(user) {
            Some(engine) => Arc::clone(engine) as Arc<dyn Engine>,
            None => Arc::clone(&self.engine),
        }
    }

    /// The run's own engine.
    pub(crate) fn run_engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The name of the implementation seated as `user`, if one is.
    pub(crate) fn seated_name(&self, user: &UserName) -> Option<&str> {
        self.seated.get(user).map(|engine| engine.name())
    }
}
