#[moonpool::actor]
pub enum A {
    One,
}

fn main() {}
