fn main() {
    let why = "oops";
    moonpool::sim::unreachable!(why);
}
