//! Locking helpers shared by every layer.

use std::sync::{Mutex, MutexGuard};

/// Locks a std mutex, ignoring poisoning (state is kept consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
