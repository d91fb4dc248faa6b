//! Call chains: the activations a call is nested in, and the check that
//! refuses a call that would wait on one of them (a deadlock).

use serde::{Deserialize, Serialize};

use super::error::CallError;
use crate::id::ActorId;

/// One activation waiting in a call chain, and whether its turn is shared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The waiting activation.
    pub actor: ActorId,
    /// Whether it waits in a shared (reentrant) turn.
    pub shared: bool,
}

/// The activations a call is nested in, outermost first.
pub type CallChain = Vec<ChainLink>;

/// Refuses a call that would wait on an activation already waiting in its
/// chain, unless both that wait and this call are shared turns.
pub(crate) fn check_cycle(
    id: &ActorId,
    shared: bool,
    chain: &[ChainLink],
) -> Result<(), CallError> {
    let deadlock = chain
        .iter()
        .any(|l| l.actor == *id && !(l.shared && shared));
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
        ChainLink {
            actor: ActorId {
                type_name: "T".into(),
                key: key.into(),
            },
            shared,
        }
    }

    #[test]
    fn only_shared_into_shared_may_reenter() {
        let a = link("a", false).actor;
        let chain_excl = vec![link("a", false), link("b", false)];
        let chain_shared = vec![link("a", true), link("b", false)];
        assert!(matches!(
            check_cycle(&a, false, &chain_excl),
            Err(CallError::CallCycle { .. })
        ));
        assert!(matches!(
            check_cycle(&a, true, &chain_excl),
            Err(CallError::CallCycle { .. })
        ));
        assert!(matches!(
            check_cycle(&a, false, &chain_shared),
            Err(CallError::CallCycle { .. })
        ));
        assert!(check_cycle(&a, true, &chain_shared).is_ok());
        assert!(check_cycle(&link("c", false).actor, false, &chain_excl).is_ok());
        let err = check_cycle(&a, false, &chain_excl).unwrap_err();
        assert_eq!(
            err.to_string(),
            "call cycle: `T/a` is already waiting in this call chain (T/a -> T/b)"
        );
    }
}
