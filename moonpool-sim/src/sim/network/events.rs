//! Network operations against the running world: borrow the network
//! state and the fault stream, schedule the events an operation returns,
//! wake the tasks it collected; and handle a due network event.

use super::super::world::World;
use super::pipe::{NetFaults, Wakeups};
use super::state::{NetEvent, NetState};

/// Runs a network operation against the world: borrows the network state
/// and the fault stream, schedules the events it returns, then wakes the
/// tasks it collected.
pub(crate) fn with_net<R>(
    w: &World,
    f: impl FnOnce(&mut NetState, &mut Wakeups) -> (R, Vec<(u64, NetEvent)>),
) -> R {
    let mut wake = Wakeups::new();
    let (r, events) = {
        let mut net = w.net.borrow_mut();
        f(&mut net, &mut wake)
    };
    if !events.is_empty() {
        let mut timers = w.timers.borrow_mut();
        for (at, event) in events {
            timers.schedule(at, event);
        }
    }
    for waker in wake {
        waker.wake();
    }
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
