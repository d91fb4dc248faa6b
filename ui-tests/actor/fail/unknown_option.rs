#[moonpool::actor(colour = "blue", idle_timeout = "soon")]
#[derive(Default)]
pub struct A;

fn main() {}
