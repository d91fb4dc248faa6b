fn main() {
    let name = String::from("limit");
    moonpool::always_lt!(1, 2, name);
}
