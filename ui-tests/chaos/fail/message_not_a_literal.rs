fn main() {
    let msg = "computed";
    moonpool::always!(true, msg);
}
