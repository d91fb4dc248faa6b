//! Call chains: the activations a call is nested in, and the check that
//! refuses a call that would wait on one of them (a deadlock).

use serde::{Deserialize, Serialize};

use super::error::CallError;
use crate::id::ActorId;

/// How a turn holds its activation: alone (an exclusive turn, a `&mut self`
/// handler), or alongside other shared turns (a `&self` handler of a
/// [`SharedHandler`](super::SharedHandler); "reentrant" in `#[actor]`'s
/// words). The one name for this idea everywhere in the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TurnKind {
    /// Alone: no other turn of the activation runs meanwhile.
    Exclusive,
    /// Alongside other shared turns (never alongside an exclusive one).
    Shared,
}

/// One activation waiting in a call chain, and how its turn holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The waiting activation.
    pub actor: ActorId,
    /// How the turn it waits in holds it.
    pub turn: TurnKind,
}

/// The activations a call is nested in, outermost first.
pub type CallChain = Vec<ChainLink>;

/// Refuses a call that would wait on an activation already waiting in its
/// chain, unless both that wait and this call are shared turns.
pub(crate) fn check_cycle(
    id: &ActorId,
    turn: TurnKind,
    chain: &[ChainLink],
) -> Result<(), CallError> {
    let both_shared = |l: &ChainLink| l.turn == TurnKind::Shared && turn == TurnKind::Shared;
    let deadlock = chain.iter().any(|l| l.actor == *id && !both_shared(l));
    if deadlock {
        return Err(CallError::CallCycle {
            actor: id.clone(),
            chain: chain.iter().map(|l| l.actor.clone()).collect(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(key: &str, shared: bool) -> ChainLink {
        let turn = if shared {
            TurnKind::Shared
        } else {
            TurnKind::Exclusive
        };
        ChainLink {
            actor: ActorId {
                type_name: "T".into(),
                key: key.into(),
            },
            turn,
        }
    }

    #[test]
    fn only_shared_into_shared_may_reenter() {
        let a = link("a", false).actor;
        let chain_excl = vec![link("a", false), link("b", false)];
        let chain_shared = vec![link("a", true), link("b", false)];
        assert!(matches!(
            check_cycle(&a, TurnKind::Exclusive, &chain_excl),
            Err(CallError::CallCycle { .. })
        ));
        assert!(matches!(
            check_cycle(&a, TurnKind::Shared, &chain_excl),
            Err(CallError::CallCycle { .. })
        ));
        assert!(matches!(
            check_cycle(&a, TurnKind::Exclusive, &chain_shared),
            Err(CallError::CallCycle { .. })
        ));
        assert!(check_cycle(&a, TurnKind::Shared, &chain_shared).is_ok());
        assert!(check_cycle(&link("c", false).actor, TurnKind::Exclusive, &chain_excl).is_ok());
        let err = check_cycle(&a, TurnKind::Exclusive, &chain_excl).unwrap_err();
        assert_eq!(
            err.to_string(),
            "call cycle: `T/a` is already waiting in this call chain (T/a -> T/b)"
        );
    }
}
