fn main() {
    let balance = 10;
    moonpool::always!(balance >= 0);
    moonpool::sometimes!(balance > 5);
    moonpool::always_eq!(balance, 10);
}
