// `r__x_` and `wvbcq` have the same 32-bit FNV-1a hash.
#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn r__x_(&self) {}

    pub async fn wvbcq(&self) {}
}

fn main() {}
