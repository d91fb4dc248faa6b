//! Scenarios shared by the runnable examples (`examples/*.rs`) and their
//! simulation tests (`tests/*.rs`).

pub mod bank;
pub mod books;
pub mod cli;
pub mod hello;
pub mod overdraft;
