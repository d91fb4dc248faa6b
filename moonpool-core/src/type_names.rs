//! The actor type names this process hosts, so that an [`ActorId`]
//! decoded from the wire shares its type name's static text instead of
//! allocating a copy of it (a call arriving at a node decodes one id).
//!
//! Nodes remember the names of the types they host when they start. A
//! lookup takes no lock: each thread keeps its own copy of the list,
//! refreshed when the list's generation moves (once per new name).
//!
//! [`ActorId`]: crate::ActorId

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sync::lock;

/// Every name remembered so far.
static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Moves each time a name is added to [`NAMES`]; 0 while it is empty.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// A thread's copy of [`NAMES`] and the generation it was taken at.
struct Seen {
    generation: u64,
    names: Vec<&'static str>,
}

thread_local! {
    static SEEN: RefCell<Seen> = const {
        RefCell::new(Seen {
            generation: 0,
            names: Vec::new(),
        })
    };
}

/// Remembers `name` (a hosted type's [`Actor::TYPE_NAME`](crate::Actor::TYPE_NAME)).
pub(crate) fn remember(name: &'static str) {
    let mut names = lock(&NAMES);
    if !names.contains(&name) {
        names.push(name);
        GENERATION.fetch_add(1, Ordering::Release);
    }
}

/// `name` as the static text of a remembered name equal to it, or as a
/// copy of its own when no such name was remembered.
pub(crate) fn intern(name: Cow<'_, str>) -> Cow<'static, str> {
    if let Some(known) = find(&name) {
        return Cow::Borrowed(known);
    }
    Cow::Owned(name.into_owned())
}

/// The remembered name equal to `name`, if any.
fn find(name: &str) -> Option<&'static str> {
    let generation = GENERATION.load(Ordering::Acquire);
    if generation == 0 {
        return None;
    }
    // `try_with`: a thread being torn down has no copy left; it copies.
    SEEN.try_with(|seen| {
        let mut seen = seen.borrow_mut();
        if seen.generation != generation {
            seen.names = lock(&NAMES).clone();
            seen.generation = generation;
        }
        seen.names.iter().copied().find(|known| *known == name)
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_name_is_shared_and_any_other_is_copied() {
        remember("type_names::tests::Remembered");
        let known = intern(Cow::Owned("type_names::tests::Remembered".to_string()));
        assert!(matches!(known, Cow::Borrowed(_)));
        assert_eq!(known, "type_names::tests::Remembered");
        let unknown = intern(Cow::Borrowed("type_names::tests::NeverHosted"));
        assert!(matches!(unknown, Cow::Owned(_)));
        assert_eq!(unknown, "type_names::tests::NeverHosted");
    }

    #[test]
    fn a_name_remembered_later_is_seen_by_a_thread_that_looked_before() {
        remember("type_names::tests::First");
        assert!(find("type_names::tests::First").is_some());
        assert!(find("type_names::tests::Later").is_none());
        remember("type_names::tests::Later");
        assert_eq!(
            find("type_names::tests::Later"),
            Some("type_names::tests::Later")
        );
        // Remembering twice adds nothing (counted in the list itself:
        // other tests remember names meanwhile, moving the generation).
        remember("type_names::tests::Later");
        let copies = lock(&NAMES)
            .iter()
            .filter(|n| **n == "type_names::tests::Later")
            .count();
        assert_eq!(copies, 1);
    }
}
