//! Every macro error message is pinned here.

#[test]
fn sim_test() {
    let t = trybuild::TestCases::new();
    t.pass("sim_test/pass/*.rs");
    t.compile_fail("sim_test/fail/*.rs");
}
