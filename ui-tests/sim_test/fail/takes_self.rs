struct S;

impl S {
    #[moonpool::sim_test]
    async fn method(&self) {}
}

fn main() {}
