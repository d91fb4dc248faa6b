#[moonpool::actor(placement = "nearest")]
#[derive(Default)]
pub struct A;

fn main() {}
