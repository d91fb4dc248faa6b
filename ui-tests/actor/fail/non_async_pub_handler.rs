#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub fn sync_handler(&self) -> u8 {
        1
    }
}

fn main() {}
