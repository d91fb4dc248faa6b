#[moonpool::actor(state)]
pub struct A {
    total: u64,
}

fn main() {}
