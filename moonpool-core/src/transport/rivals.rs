//! Which of two connections to one peer survives: the rule both ends of a
//! node pair apply on their own, and agree on, when a connection is
//! established while another usable one to the same peer exists.

use super::wire::NodeId;

/// Who a connection is with and who dialed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ends {
    pub(crate) peer: NodeId,
    pub(crate) dialer: NodeId,
}

/// What to do with an existing usable connection when a new one to the
/// same peer address is established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Close the existing connection and use the new one: the peer
    /// restarted (the old one leads to a process that is gone), or the
    /// same side dialed both (it dials only when it has no usable
    /// connection, so it gave the old one up, perhaps without the close
    /// ever arriving).
    CloseExisting,
    /// Each side dialed one at once and the existing one wins: keep it and
    /// retire the new one.
    RetireNew,
    /// Each side dialed one at once and the new one wins: retire the
    /// existing one and use the new.
    RetireExisting,
}

/// The rule for a new connection `new` meeting a usable `existing` one to
/// the same peer address. In a dialing race the connection dialed by the
/// lower address wins, so both ends keep the same one.
pub(crate) fn settle(existing: Ends, new: Ends) -> Settle {
    if existing.peer != new.peer || existing.dialer == new.dialer {
        Settle::CloseExisting
    } else if existing.dialer.addr <= new.dialer.addr {
        Settle::RetireNew
    } else {
        Settle::RetireExisting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(last: u8, incarnation: u64) -> NodeId {
        NodeId {
            addr: ([10, 0, 0, last], 5000).into(),
            incarnation,
        }
    }

    #[test]
    fn a_restarted_peer_replaces_its_old_connection_whoever_dialed() {
        let (a, old_b, new_b) = (node(2, 1), node(3, 1), node(3, 2));
        // We dialed the old life; the new life dials us (its address is
        // higher, so a race rule would have kept the old connection).
        let existing = Ends {
            peer: old_b,
            dialer: a,
        };
        let new = Ends {
            peer: new_b,
            dialer: new_b,
        };
        assert_eq!(settle(existing, new), Settle::CloseExisting);
        // The old life dialed us; we dial the new one.
        let existing = Ends {
            peer: old_b,
            dialer: old_b,
        };
        let new = Ends {
            peer: new_b,
            dialer: a,
        };
        assert_eq!(settle(existing, new), Settle::CloseExisting);
    }

    #[test]
    fn a_peer_dialing_again_replaces_the_connection_it_gave_up() {
        let (a, b) = (node(2, 1), node(3, 1));
        // b dialed both: a keeps the new one, though b's address is higher.
        let ends = Ends { peer: b, dialer: b };
        assert_eq!(settle(ends, ends), Settle::CloseExisting);
        // a dialed both: the same.
        let ends = Ends { peer: b, dialer: a };
        assert_eq!(settle(ends, ends), Settle::CloseExisting);
    }

    #[test]
    fn in_a_dialing_race_both_ends_keep_the_one_the_lower_address_dialed() {
        let (a, b) = (node(2, 1), node(3, 1));
        // On a: its own connection (dialed by a) and b's (dialed by b).
        let a_mine = Ends { peer: b, dialer: a };
        let a_theirs = Ends { peer: b, dialer: b };
        // On b: the same two, seen from b.
        let b_mine = Ends { peer: a, dialer: b };
        let b_theirs = Ends { peer: a, dialer: a };
        // Whichever is established first, a keeps the one a dialed...
        assert_eq!(settle(a_mine, a_theirs), Settle::RetireNew);
        assert_eq!(settle(a_theirs, a_mine), Settle::RetireExisting);
        // ...and so does b.
        assert_eq!(settle(b_mine, b_theirs), Settle::RetireExisting);
        assert_eq!(settle(b_theirs, b_mine), Settle::RetireNew);
    }
}
