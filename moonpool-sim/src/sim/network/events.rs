//! Network operations against the running world: borrow the network
//! state and the fault stream, schedule the events an operation returns,
//! wake the tasks it collected; and handle a due network event.

use super::super::world::World;
use super::pipe::{NetFaults, Wakeups};
use super::state::{NetEvent, NetState};

/// Runs a network operation against the world: borrows the network state
/// and the fault stream, schedules the events it returns, then wakes the
/// tasks it collected.
/// The operation returns its events as any list: a `Vec`, or an `Option`
/// for the one a write schedules (no allocation on the hot path).
pub(crate) fn with_net<R, E: IntoIterator<Item = (u64, NetEvent)>>(
    w: &World,
    f: impl FnOnce(&mut NetState, &mut Wakeups) -> (R, E),
) -> R {
    let (r, events, mut wake) = {
        let mut net = w.net.borrow_mut();
        let mut wake = std::mem::take(&mut net.spare_wakeups);
        let (r, events) = f(&mut net, &mut wake);
        (r, events, wake)
    };
    let mut events = events.into_iter().peekable();
    if events.peek().is_some() {
        let mut timers = w.timers.borrow_mut();
        for (at, event) in events {
            timers.schedule(at, event);
        }
    }
    // Most operations wake nobody: no drain to set up then.
    if !wake.is_empty() {
        for waker in wake.drain(..) {
            waker.wake();
        }
    }
    // Lent back for its capacity (a wake that ran a network operation in
    // between found it taken and used a fresh one).
    w.net.borrow_mut().spare_wakeups = wake;
    r
}

/// Handles a due network event on `w`.
pub(crate) fn handle_event(w: &World, event: NetEvent) {
    let faults = w.chaos.faults;
    let config = (
        w.net.borrow().config.random_close_probability,
        w.net.borrow().config.bit_flip_probability,
    );
    let mut rng = w.chaos.rng.borrow_mut();
    let mut net_faults = NetFaults {
        random_close: faults.random_close.then_some(config.0),
        bit_flip: faults.bit_flips.then_some(config.1),
        rng: &mut rng,
    };
    with_net(w, |net, wake| {
        net.handle(event, &mut net_faults, wake);
        ((), Vec::new())
    });
}
