fn main() {
    let node = 3;
    moonpool::sometimes!(node > 1, "node {} is up", node);
}
