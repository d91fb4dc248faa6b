//! Captures panics raised inside a simulation: their message and location go
//! into the failure report instead of being printed by the default hook.
//!
//! The hook is installed once per process and chains to the previous hook for
//! every thread that is not currently running a simulation.

use std::cell::RefCell;
use std::panic::PanicHookInfo;
use std::sync::Once;

/// A panic seen by the hook.
#[derive(Clone, Debug)]
pub(crate) struct CapturedPanic {
    pub(crate) message: String,
    pub(crate) location: Option<String>,
}

thread_local! {
    /// `Some` while this thread captures; holds the latest panic.
    static CAPTURE: RefCell<Option<Option<CapturedPanic>>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let captured = CAPTURE
                .try_with(|c| match c.try_borrow_mut() {
                    Ok(mut slot) => match slot.as_mut() {
                        Some(latest) => {
                            *latest = Some(CapturedPanic {
                                message: payload_message(info.payload()),
                                location: info.location().map(|l| l.to_string()),
                            });
                            true
                        }
                        None => false,
                    },
                    Err(_) => false,
                })
                .unwrap_or(false);
            if !captured {
                previous(info);
            }
        }));
    });
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Captures panics on this thread until dropped.
pub(crate) struct CaptureGuard {
    _private: (),
}

impl CaptureGuard {
    pub(crate) fn start() -> Self {
        install_hook();
        CAPTURE.with(|c| *c.borrow_mut() = Some(None));
        Self { _private: () }
    }

    /// The latest captured panic, if any.
    pub(crate) fn take(&self) -> Option<CapturedPanic> {
        CAPTURE.with(|c| c.borrow_mut().as_mut().and_then(Option::take))
    }
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let _ = CAPTURE.try_with(|c| {
            if let Ok(mut slot) = c.try_borrow_mut() {
                *slot = None;
            }
        });
    }
}
