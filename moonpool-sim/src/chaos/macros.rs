//! The chaos macros. Each use creates a [`Site`](super::Site) registered at
//! link time, and evaluates cheaply at run time.
//!
//! The message must be a string literal: it is the site's stable name in
//! coverage tables and failure reports.

/// Creates a site and registers it. Internal.
#[doc(hidden)]
#[macro_export]
macro_rules! __chaos_site {
    ($kind:ident, $msg:literal) => {{
        static __MOONPOOL_SITE: $crate::chaos::Site = $crate::chaos::Site::new(
            $crate::chaos::SiteKind::$kind,
            $msg,
            ::core::file!(),
            ::core::line!(),
            ::core::column!(),
            ::core::module_path!(),
        );
        $crate::__inventory::submit! { $crate::chaos::SiteRef(&__MOONPOOL_SITE) }
        &__MOONPOOL_SITE
    }};
}

/// A fault injection point: `true` when the simulation decides to inject a
/// fault here.
///
/// Each site is switched on or off once per seed; while on, it fires with
/// probability `p` (default 0.25) each time it is evaluated. Always `false`
/// outside a simulation, so production code pays one branch.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// fn retry_delay() -> Duration {
///     if moonpool_sim::buggify!(0.1) {
///         Duration::from_secs(30) // a rare, long stall
///     } else {
///         Duration::from_millis(50)
///     }
/// }
/// assert_eq!(retry_delay(), Duration::from_millis(50)); // not simulated
/// ```
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::chaos::__buggify($crate::__chaos_site!(Buggify, "buggify"), 0.25)
    };
    ($p:expr) => {
        $crate::chaos::__buggify($crate::__chaos_site!(Buggify, "buggify"), $p)
    };
}

/// Asserts `cond` every time it is evaluated, and that it is evaluated at
/// least once over a test's seeds.
///
/// In a simulation a false condition fails the seed at once with the
/// message and location. Outside one it behaves like `debug_assert!`.
///
/// # Example
///
/// ```
/// let balance = 10;
/// moonpool_sim::always!(balance >= 0, "balances never go negative");
/// ```
#[macro_export]
macro_rules! always {
    ($cond:expr, $msg:literal $(,)?) => {
        $crate::chaos::__always(
            $crate::__chaos_site!(Always, $msg),
            $cond,
            ::core::cfg!(debug_assertions),
        )
    };
    ($cond:expr, $($rest:tt)*) => {
        ::core::compile_error!(
            "the message of always! must be a string literal: it is the site's stable name"
        )
    };
    ($($rest:tt)*) => {
        ::core::compile_error!(
            "always! needs a condition and a message: always!(condition, \"what must hold\"); the message is required, it is the site's stable name"
        )
    };
}

/// Like [`always!`], but the site may never be reached.
///
/// # Example
///
/// ```
/// let retries = 0;
/// if retries > 3 {
///     moonpool_sim::always_or_unreachable!(retries <= 10, "retries are bounded");
/// }
/// ```
#[macro_export]
macro_rules! always_or_unreachable {
    ($cond:expr, $msg:literal $(,)?) => {
        $crate::chaos::__always(
            $crate::__chaos_site!(AlwaysOrUnreachable, $msg),
            $cond,
            ::core::cfg!(debug_assertions),
        )
    };
    ($cond:expr, $($rest:tt)*) => {
        ::core::compile_error!(
            "the message of always_or_unreachable! must be a string literal: it is the site's stable name"
        )
    };
    ($($rest:tt)*) => {
        ::core::compile_error!(
            "always_or_unreachable! needs a condition and a message: always_or_unreachable!(condition, \"what must hold\"); the message is required, it is the site's stable name"
        )
    };
}

/// Records whether `cond` holds; over a test's seeds it must hold at least
/// once, or the coverage table reports a gap. Never fails a seed.
///
/// # Example
///
/// ```
/// let retried = false;
/// moonpool_sim::sometimes!(retried, "a request is retried");
/// ```
#[macro_export]
macro_rules! sometimes {
    ($cond:expr, $msg:literal $(,)?) => {
        $crate::chaos::__sometimes($crate::__chaos_site!(Sometimes, $msg), $cond)
    };
    ($cond:expr, $($rest:tt)*) => {
        ::core::compile_error!(
            "the message of sometimes! must be a string literal: it is the site's stable name"
        )
    };
    ($($rest:tt)*) => {
        ::core::compile_error!(
            "sometimes! needs a condition and a message: sometimes!(condition, \"what should happen\"); the message is required, it is the site's stable name"
        )
    };
}

/// Records that this point was reached; over a test's seeds it must be
/// reached at least once, or the coverage table reports a gap.
///
/// # Example
///
/// ```
/// fn on_reconnect() {
///     moonpool_sim::reachable!("a connection is re-established");
/// }
/// on_reconnect();
/// ```
#[macro_export]
macro_rules! reachable {
    ($msg:literal $(,)?) => {
        $crate::chaos::__sometimes($crate::__chaos_site!(Reachable, $msg), true)
    };
    ($($rest:tt)*) => {
        ::core::compile_error!(
            "the message of reachable! must be a string literal: it is the site's stable name"
        )
    };
}

/// Asserts that this point is never reached: in a simulation reaching it
/// fails the seed; outside one it behaves like `debug_assert!(false)`.
///
/// Not in any prelude, so it never shadows `std`'s `unreachable!`: call it
/// as `moonpool_sim::unreachable!("…")` (or `moonpool::sim::unreachable!`).
///
/// # Example
///
/// ```
/// fn apply(op: u8) -> u8 {
///     match op {
///         0..=9 => op,
///         _ => {
///             moonpool_sim::unreachable!("ops are validated before apply");
///             0
///         }
///     }
/// }
/// assert_eq!(apply(3), 3);
/// ```
#[macro_export]
macro_rules! unreachable {
    ($msg:literal $(,)?) => {
        $crate::chaos::__always(
            $crate::__chaos_site!(Unreachable, $msg),
            false,
            ::core::cfg!(debug_assertions),
        )
    };
    ($($rest:tt)*) => {
        ::core::compile_error!(
            "the message of unreachable! must be a string literal: it is the site's stable name"
        )
    };
}

/// Numeric `always` forms. Internal.
#[doc(hidden)]
#[macro_export]
macro_rules! __chaos_cmp_always {
    ($op:tt, $a:expr, $b:expr, $msg:literal) => {{
        let (__a, __b) = (&$a, &$b);
        $crate::chaos::__always_with(
            $crate::__chaos_site!(Always, $msg),
            *__a $op *__b,
            ::core::cfg!(debug_assertions),
            || {
                ::std::format!(
                    "{} {} {} failed: left = {:?}, right = {:?}",
                    ::core::stringify!($a),
                    ::core::stringify!($op),
                    ::core::stringify!($b),
                    __a,
                    __b
                )
            },
        )
    }};
}

/// Numeric `sometimes` forms. Internal.
#[doc(hidden)]
#[macro_export]
macro_rules! __chaos_cmp_sometimes {
    ($op:tt, $a:expr, $b:expr, $msg:literal) => {{
        let (__a, __b) = (&$a, &$b);
        $crate::chaos::__sometimes($crate::__chaos_site!(Sometimes, $msg), *__a $op *__b)
    }};
}

/// Generates one numeric assertion macro.
macro_rules! numeric_form {
    ($d:tt $name:ident, $helper:ident, $op:tt, $args:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// The message must be a string literal; for `always` forms both
        /// values appear in the failure report.
        ///
        /// # Example
        ///
        /// ```
        #[doc = concat!("moonpool_sim::", stringify!($name), "!(", $args, ", \"an example\");")]
        /// ```
        #[macro_export]
        macro_rules! $name {
                            ($d a:expr, $d b:expr, $d msg:literal $d(,)?) => {
                                $crate::$helper!($op, $d a, $d b, $d msg)
                            };
                            ($d a:expr, $d b:expr, $d ($d rest:tt)*) => {
                                ::core::compile_error!(concat!(
                                    "the message of ", stringify!($name),
                                    "! must be a string literal: it is the site's stable name"
                                ))
                            };
                            ($d ($d rest:tt)*) => {
                                ::core::compile_error!(concat!(
                                    stringify!($name), "! needs two values and a message: ",
                                    stringify!($name), "!(a, b, \"what must hold\"); ",
                                    "the message is required, it is the site's stable name"
                                ))
                            };
                        }
    };
}

numeric_form!($ always_lt, __chaos_cmp_always, <, "1, 2", "Asserts `a < b` every time (an `always!` site).");
numeric_form!($ always_le, __chaos_cmp_always, <=, "2, 2", "Asserts `a <= b` every time (an `always!` site).");
numeric_form!($ always_gt, __chaos_cmp_always, >, "3, 2", "Asserts `a > b` every time (an `always!` site).");
numeric_form!($ always_ge, __chaos_cmp_always, >=, "2, 2", "Asserts `a >= b` every time (an `always!` site).");
numeric_form!($ always_eq, __chaos_cmp_always, ==, "2, 2", "Asserts `a == b` every time (an `always!` site).");
numeric_form!($ always_ne, __chaos_cmp_always, !=, "1, 2", "Asserts `a != b` every time (an `always!` site).");
numeric_form!($ sometimes_lt, __chaos_cmp_sometimes, <, "1, 2", "Records whether `a < b` (a `sometimes!` site).");
numeric_form!($ sometimes_le, __chaos_cmp_sometimes, <=, "2, 2", "Records whether `a <= b` (a `sometimes!` site).");
numeric_form!($ sometimes_gt, __chaos_cmp_sometimes, >, "3, 2", "Records whether `a > b` (a `sometimes!` site).");
numeric_form!($ sometimes_ge, __chaos_cmp_sometimes, >=, "2, 2", "Records whether `a >= b` (a `sometimes!` site).");
numeric_form!($ sometimes_eq, __chaos_cmp_sometimes, ==, "2, 2", "Records whether `a == b` (a `sometimes!` site).");
numeric_form!($ sometimes_ne, __chaos_cmp_sometimes, !=, "1, 2", "Records whether `a != b` (a `sometimes!` site).");
