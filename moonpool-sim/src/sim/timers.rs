//! The simulator's event queue: timers and network events ordered by
//! (time, sequence), so entries due at the same instant fire in the order
//! they were scheduled.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::task::Waker;

use slab::Slab;

use super::network::state::NetEvent;

/// Identifies one armed timer. Stale ids (fired and collected, or cancelled)
/// are recognised by their sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerId {
    slot: usize,
    seq: u64,
}

#[derive(PartialEq, Eq)]
struct Scheduled {
    at: u64,
    seq: u64,
    slot: usize,
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct TimerSlot {
    seq: u64,
    kind: SlotKind,
}

enum SlotKind {
    Timer { waker: Option<Waker>, fired: bool },
    Event(NetEvent),
}

/// What became due.
pub(crate) enum Due {
    /// A timer: wake its task.
    Timer(Option<Waker>),
    /// A network event to process.
    Event(NetEvent),
}

/// A due entry, handed to the executor.
pub(crate) struct Fired {
    pub(crate) at: u64,
    pub(crate) seq: u64,
    pub(crate) due: Due,
}

#[derive(Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<Scheduled>>,
    slots: Slab<TimerSlot>,
    next_seq: u64,
}

impl TimerQueue {
    /// Arms a timer for `at` (nanoseconds since the epoch).
    pub(crate) fn insert(&mut self, at: u64, waker: Waker) -> TimerId {
        let kind = SlotKind::Timer {
            waker: Some(waker),
            fired: false,
        };
        self.push(at, kind)
    }

    /// Schedules a network event for `at`.
    pub(crate) fn schedule(&mut self, at: u64, event: NetEvent) {
        self.push(at, SlotKind::Event(event));
    }

    fn push(&mut self, at: u64, kind: SlotKind) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.slots.insert(TimerSlot { seq, kind });
        self.heap.push(Reverse(Scheduled { at, seq, slot }));
        TimerId { slot, seq }
    }

    fn slot_mut(&mut self, id: TimerId) -> Option<&mut TimerSlot> {
        self.slots.get_mut(id.slot).filter(|s| s.seq == id.seq)
    }

    /// `Some(true)` once the timer fired; `None` for an unknown id.
    pub(crate) fn fired(&mut self, id: TimerId) -> Option<bool> {
        match self.slot_mut(id).map(|s| &s.kind) {
            Some(SlotKind::Timer { fired, .. }) => Some(*fired),
            _ => None,
        }
    }

    /// Replaces the waker to call when the timer fires.
    pub(crate) fn set_waker(&mut self, id: TimerId, waker: &Waker) {
        if let Some(SlotKind::Timer { waker: slot, .. }) = self.slot_mut(id).map(|s| &mut s.kind) {
            match slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
    }

    /// Forgets a timer (fired or not). Its heap entry becomes stale and is
    /// skipped when reached.
    pub(crate) fn remove(&mut self, id: TimerId) {
        if self.slot_mut(id).is_some() {
            self.slots.remove(id.slot);
        }
    }

    /// Fires the earliest live entry, if any.
    pub(crate) fn pop_next(&mut self) -> Option<Fired> {
        while let Some(Reverse(top)) = self.heap.pop() {
            let Some(slot) = self.slots.get_mut(top.slot).filter(|s| s.seq == top.seq) else {
                continue;
            };
            let due = match &mut slot.kind {
                SlotKind::Timer { waker, fired } => {
                    *fired = true;
                    Due::Timer(waker.take())
                }
                SlotKind::Event(_) => match self.slots.remove(top.slot).kind {
                    SlotKind::Event(event) => Due::Event(event),
                    SlotKind::Timer { .. } => continue,
                },
            };
            return Some(Fired {
                at: top.at,
                seq: top.seq,
                due,
            });
        }
        None
    }

    /// Number of armed, unfired timers (network events not counted).
    pub(crate) fn pending(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| matches!(s.kind, SlotKind::Timer { fired: false, .. }))
            .count()
    }

    /// Drops every timer and its waker.
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_time_then_sequence_order_and_skips_removed() {
        let mut q = TimerQueue::default();
        let w = Waker::noop();
        let a = q.insert(20, w.clone());
        let b = q.insert(10, w.clone());
        let c = q.insert(10, w.clone());
        let d = q.insert(5, w.clone());
        q.remove(d);
        assert_eq!(q.pending(), 3);
        q.schedule(
            15,
            NetEvent::HalfOpenReset {
                conn: 0,
                generation: 0,
            },
        );
        let order: Vec<(u64, u64, bool)> = std::iter::from_fn(|| q.pop_next())
            .map(|f| (f.at, f.seq, matches!(f.due, Due::Event(_))))
            .collect();
        assert_eq!(
            order,
            vec![
                (10, b.seq, false),
                (10, c.seq, false),
                (15, d.seq + 1, true),
                (20, a.seq, false)
            ]
        );
        assert_eq!(q.fired(a), Some(true));
        assert_eq!(q.fired(d), None);
        q.remove(a);
        assert_eq!(q.fired(a), None);
    }
}
