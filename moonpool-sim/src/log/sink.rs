//! This thread's capture: where the layer puts each line while one runs.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

/// This thread's capture, while one runs.
pub(crate) struct Sink {
    pub(crate) keep: usize,
    pub(crate) last: VecDeque<String>,
    pub(crate) total: u64,
    pub(crate) file: Option<(PathBuf, BufWriter<File>)>,
    pub(crate) file_error: Option<(PathBuf, String)>,
}

thread_local! {
    pub(crate) static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
    pub(crate) static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Whether a capture runs on this thread (cheap: the layer asks first).
pub(crate) fn active() -> bool {
    ACTIVE.with(Cell::get)
}

/// Keeps one formatted line.
pub(crate) fn push(line: String) {
    SINK.with(|sink| {
        let Ok(mut sink) = sink.try_borrow_mut() else {
            return;
        };
        let Some(sink) = sink.as_mut() else { return };
        sink.total += 1;
        if let Some((path, file)) = &mut sink.file
            && let Err(e) = writeln!(file, "{line}")
        {
            sink.file_error = Some((path.clone(), e.to_string()));
            sink.file = None;
        }
        if sink.keep > 0 {
            if sink.last.len() == sink.keep {
                sink.last.pop_front();
            }
            sink.last.push_back(line);
        }
    });
}
