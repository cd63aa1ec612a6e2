//! The attempts of one probe as its family's builder adds them: each gets the id
//! `<probe>#<index>`, the stage its expectation and kind call for, its timeout and a fresh nonce,
//! drawn in the order the attempts are added (the plan is reproducible from the nonce source).

use bottle_probes::catalogue::{Expect, ProbeSpec};
use bottle_probes::wire::{AttemptKind, AttemptSpec, Stage};

use super::model::{Delivery, PlannedAttempt};
use crate::target::Target;

/// The attempts of one probe while they are planned.
pub(super) struct Attempts<'n> {
    spec: &'static ProbeSpec,
    /// The timeout of this probe's attempts: the controls' or the denies' (see `plan_probe`).
    timeout_ms: u32,
    /// A positive control's timeout, which the proxy attempts always get.
    control_ms: u32,
    /// The nonce drawn for this probe before any of its attempts: a DNS attempt carries it in
    /// its query name, which is built before the attempt.
    qname_nonce: String,
    nonce: &'n mut dyn FnMut() -> String,
    list: Vec<PlannedAttempt>,
}

impl<'n> Attempts<'n> {
    pub(super) fn new(
        spec: &'static ProbeSpec,
        timeout_ms: u32,
        control_ms: u32,
        qname_nonce: String,
        nonce: &'n mut dyn FnMut() -> String,
    ) -> Self {
        Self {
            spec,
            timeout_ms,
            control_ms,
            qname_nonce,
            nonce,
            list: Vec::new(),
        }
    }

    /// The probe being planned.
    pub(super) fn spec(&self) -> &'static ProbeSpec {
        self.spec
    }

    /// The nonce for this probe's query names.
    pub(super) fn qname_nonce(&self) -> &str {
        &self.qname_nonce
    }

    /// Adds an attempt with the probe's timeout.
    pub(super) fn add(&mut self, kind: AttemptKind, target: Option<Target>, destination: String) {
        self.add_timed(kind, target, destination, self.timeout_ms);
    }

    /// Adds a deny attempt whose nonce may arrive at `delivery`'s place without being reach.
    pub(super) fn add_delivered(
        &mut self,
        kind: AttemptKind,
        target: Target,
        destination: String,
        delivery: Delivery,
    ) {
        self.add(kind, Some(target), destination);
        self.list.last_mut().expect("just added").delivery = delivery;
    }

    /// Adds an attempt whose query name carries the probe's qname nonce, which becomes the
    /// attempt's nonce too. The attempt still draws (and drops) a nonce of its own, as every
    /// attempt does, so that the nonces of later attempts stay where they were.
    pub(super) fn add_carrying_qname_nonce(
        &mut self,
        kind: AttemptKind,
        target: Option<Target>,
        destination: String,
    ) {
        self.add(kind, target, destination);
        let last = self.list.last_mut().expect("just added");
        last.spec.nonce = self.qname_nonce.clone();
    }

    /// Adds an attempt whose request is built from its own nonce (a name carrying it): the
    /// nonce is drawn first, in the attempt's place in the order, and handed to `build`.
    pub(super) fn add_naming(
        &mut self,
        target: Option<Target>,
        build: impl FnOnce(&str) -> (AttemptKind, String),
    ) {
        let nonce = (self.nonce)();
        let (kind, destination) = build(&nonce);
        self.push(kind, target, destination, self.timeout_ms, nonce);
    }

    /// Adds an attempt with its own timeout (a sweep's budget).
    pub(super) fn add_timed(
        &mut self,
        kind: AttemptKind,
        target: Option<Target>,
        destination: String,
        timeout_ms: u32,
    ) {
        let nonce = (self.nonce)();
        self.push(kind, target, destination, timeout_ms, nonce);
    }

    fn push(
        &mut self,
        kind: AttemptKind,
        target: Option<Target>,
        destination: String,
        timeout_ms: u32,
        nonce: String,
    ) {
        let id = format!("{}#{}", self.spec.id, self.list.len());
        let stage = stage_of(self.spec.expect, &kind);
        // Only pipelock's 403 denies a proxy attempt, and a loaded machine can make it
        // slow: a proxy denial waits as long as a control would.
        let timeout_ms = if kind.through_proxy() {
            self.control_ms
        } else {
            timeout_ms
        };
        self.list.push(PlannedAttempt {
            spec: AttemptSpec {
                id,
                kind,
                nonce,
                timeout_ms,
                stage,
            },
            target,
            destination,
            delivery: Delivery::Nowhere,
        });
    }

    pub(super) fn into_vec(self) -> Vec<PlannedAttempt> {
        self.list
    }
}

/// When an attempt runs in the probe exec: positive controls first; a sweep (its own budget)
/// and proxy denials (only pipelock's 403 denies, so they wait as long as a control) with fixed
/// timeouts from the start; every other deny with the timeout the controls' round trip sets.
fn stage_of(expect: Expect, kind: &AttemptKind) -> Stage {
    match (expect, kind) {
        (Expect::Allow, _) => Stage::Control,
        (_, AttemptKind::Sweep { .. }) => Stage::Fixed,
        (_, kind) if kind.through_proxy() => Stage::Fixed,
        _ => Stage::Adaptive,
    }
}
