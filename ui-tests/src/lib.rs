//! Compile-pass and compile-fail cases for moonpool's macros, checked with
//! `trybuild` (`cargo test -p ui-tests`). Each `.stderr` file pins the exact
//! error a user sees; refresh them with `TRYBUILD=overwrite` after a
//! deliberate change and review the diff.
