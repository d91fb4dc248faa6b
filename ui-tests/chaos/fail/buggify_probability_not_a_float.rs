fn main() {
    let _ = moonpool::buggify!("often");
}
