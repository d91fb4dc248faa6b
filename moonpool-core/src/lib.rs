//! # moonpool-core
//!
//! The home of moonpool's virtual actor runtime (actors, directory,
//! membership, transport, state), written against
//! [`moonpool_sim::Providers`] only so that it runs unchanged on tokio and
//! inside the simulator.
//!
//! The runtime is being built; this crate exports nothing yet.
