//! Scenarios shared by the runnable examples (`examples/*.rs`) and their
//! simulation tests (`tests/*.rs`).

pub mod bank;
pub mod hello;
pub mod overdraft;
