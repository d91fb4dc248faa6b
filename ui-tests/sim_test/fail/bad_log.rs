// The log options: a filter in a string, a whole number of lines.
#[moonpool::sim_test(log = debug)]
async fn filter_not_a_string() {}

#[moonpool::sim_test(log = "  ")]
async fn empty_filter() {}

#[moonpool::sim_test(log_lines = "many")]
async fn lines_not_a_number() {}

#[moonpool::sim_test(log = "info", log = "debug")]
async fn twice() {}

fn main() {}
