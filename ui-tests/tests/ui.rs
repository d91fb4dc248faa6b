//! Every macro error message is pinned here.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[test]
fn sim_test() {
    let t = trybuild::TestCases::new();
    t.pass("sim_test/pass/*.rs");
    t.compile_fail("sim_test/fail/*.rs");
}

#[test]
fn chaos() {
    let t = trybuild::TestCases::new();
    t.pass("chaos/pass/*.rs");
    t.compile_fail("chaos/fail/*.rs");
}

#[test]
fn actor() {
    let t = trybuild::TestCases::new();
    t.pass("actor/pass/*.rs");
    t.compile_fail("actor/fail/*.rs");
}
