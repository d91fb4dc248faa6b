//! Chaos sites and the link-time registry of all of them.
//!
//! Every `buggify!` and assertion expands to a `static` [`Site`] plus an
//! `inventory::submit!` of a reference to it, so the registry knows every
//! site linked into the binary, including those no seed ever reaches.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a site is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SiteKind {
    /// `buggify!`: a fault injection point.
    Buggify,
    /// `always!` and its numeric forms: must hold every time, and be reached.
    Always,
    /// `always_or_unreachable!`: must hold whenever reached; may never be.
    AlwaysOrUnreachable,
    /// `sometimes!` and its numeric forms: must hold at least once.
    Sometimes,
    /// `reachable!`: must be reached at least once.
    Reachable,
    /// `unreachable!`: must never be reached.
    Unreachable,
}

impl SiteKind {
    /// The macro that creates this kind of site.
    pub fn macro_name(self) -> &'static str {
        match self {
            SiteKind::Buggify => "buggify!",
            SiteKind::Always => "always!",
            SiteKind::AlwaysOrUnreachable => "always_or_unreachable!",
            SiteKind::Sometimes => "sometimes!",
            SiteKind::Reachable => "reachable!",
            SiteKind::Unreachable => "unreachable!",
        }
    }
}

const UNASSIGNED: usize = usize::MAX;

/// One chaos site: its kind, its message (the site's stable name) and where
/// it is. Created by the chaos macros; not meant to be built by hand.
#[derive(Debug)]
pub struct Site {
    /// What the site is.
    pub kind: SiteKind,
    /// The message given to the macro.
    pub message: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Source line.
    pub line: u32,
    /// Source column.
    pub column: u32,
    /// `module_path!()` where the macro was used.
    pub module: &'static str,
    index: AtomicUsize,
}

impl Site {
    #[doc(hidden)]
    pub const fn new(
        kind: SiteKind,
        message: &'static str,
        file: &'static str,
        line: u32,
        column: u32,
        module: &'static str,
    ) -> Self {
        Self {
            kind,
            message,
            file,
            line,
            column,
            module,
            index: AtomicUsize::new(UNASSIGNED),
        }
    }

    /// The crate the site is in (first segment of its module path).
    pub fn crate_name(&self) -> &'static str {
        self.module.split("::").next().unwrap_or(self.module)
    }

    /// The site's position in [`sites()`]; `None` for a site that is not in
    /// the registry (never the case for macro-made sites).
    pub(crate) fn index(&self) -> Option<usize> {
        match self.index.load(Ordering::Relaxed) {
            UNASSIGNED => {
                sites();
                match self.index.load(Ordering::Relaxed) {
                    UNASSIGNED => None,
                    i => Some(i),
                }
            }
            i => Some(i),
        }
    }

    /// A stable identity for per-seed decisions: depends on where the site
    /// is, not on the order sites are first evaluated.
    pub(crate) fn identity(&self) -> u64 {
        let h = crate::providers::random::fnv1a(self.file.as_bytes());
        crate::providers::random::mix64(h ^ (u64::from(self.line) << 32) ^ u64::from(self.column))
    }
}

/// Sites are compared by identity: each macro use is one site.
impl PartialEq for Site {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Site {}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(\"{}\") at {}:{}:{}",
            self.kind.macro_name(),
            self.message,
            self.file,
            self.line,
            self.column
        )
    }
}

#[doc(hidden)]
pub struct SiteRef(pub &'static Site);

inventory::collect!(SiteRef);

/// Every chaos site linked into this binary, sorted by location.
///
/// # Example
///
/// ```
/// fn flaky_path() -> bool {
///     moonpool_sim::buggify!()
/// }
/// let listed = moonpool_sim::chaos::sites()
///     .iter()
///     .any(|s| s.kind == moonpool_sim::chaos::SiteKind::Buggify && s.file.ends_with(".rs"));
/// assert!(listed);
/// # let _ = flaky_path;
/// ```
pub fn sites() -> &'static [&'static Site] {
    static SITES: OnceLock<Vec<&'static Site>> = OnceLock::new();
    SITES.get_or_init(|| {
        let mut all: Vec<&'static Site> = inventory::iter::<SiteRef>
            .into_iter()
            .map(|r| r.0)
            .collect();
        all.sort_by(|a, b| {
            (a.file, a.line, a.column, a.message).cmp(&(b.file, b.line, b.column, b.message))
        });
        all.dedup_by(|a, b| std::ptr::eq(*a, *b));
        for (i, site) in all.iter().enumerate() {
            site.index.store(i, Ordering::Relaxed);
        }
        all
    })
}
