//! The running event-trace hash: every task poll, spawn and timer firing is
//! folded in, so two runs with the same hash processed the same events in the
//! same order.

use std::cell::Cell;

use crate::providers::random::mix64;

/// What kind of event is folded into the trace.
#[derive(Clone, Copy)]
#[repr(u64)]
pub(crate) enum TraceEvent {
    Poll = 1,
    Spawn = 2,
    Timer = 3,
    Kill = 4,
    /// A process's clock was drawn.
    Clock = 5,
}

/// A running 64-bit hash of the simulation's events.
#[derive(Default)]
pub(crate) struct TraceHash {
    state: Cell<u64>,
}

impl TraceHash {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            state: Cell::new(mix64(seed)),
        }
    }

    pub(crate) fn record(&self, event: TraceEvent, a: u64, b: u64) {
        let h = self.state.get();
        let x = h
            .rotate_left(7)
            .wrapping_add(event as u64)
            .wrapping_mul(0x0000_0100_0000_01B3)
            ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ b.rotate_left(32);
        self.state.set(mix64(x));
    }

    pub(crate) fn get(&self) -> u64 {
        self.state.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_matters() {
        let a = TraceHash::new(1);
        a.record(TraceEvent::Poll, 1, 0);
        a.record(TraceEvent::Poll, 2, 0);
        let b = TraceHash::new(1);
        b.record(TraceEvent::Poll, 2, 0);
        b.record(TraceEvent::Poll, 1, 0);
        assert_ne!(a.get(), b.get());
    }

    #[test]
    fn event_kind_matters() {
        let a = TraceHash::new(1);
        a.record(TraceEvent::Poll, 5, 0);
        let b = TraceHash::new(1);
        b.record(TraceEvent::Timer, 5, 0);
        assert_ne!(a.get(), b.get());
    }
}
