fn main() {
    moonpool::reachable!(42);
}
