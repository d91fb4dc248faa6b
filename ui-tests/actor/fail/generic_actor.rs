#[moonpool::actor]
#[derive(Default)]
pub struct Holder<T> {
    value: T,
}

fn main() {}
