//! The README gives users the `clippy.toml` that keeps their simulated code
//! deterministic; it must be the list moonpool itself is checked with.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

/// The `disallowed-methods` and `disallowed-types` lists of a clippy.toml
/// text: from the first list to the end of the last.
fn lists(text: &str) -> String {
    let start = text
        .find("disallowed-methods = [")
        .expect("a disallowed-methods list");
    let tail = &text[start..];
    let types = tail
        .find("disallowed-types = [")
        .expect("a disallowed-types list");
    let end = types + tail[types..].find("\n]").expect("the list ends") + 2;
    tail[..end].to_string()
}

#[test]
fn the_readme_s_clippy_toml_is_the_workspace_s() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let section = &readme[readme
        .find("### Determinism in your own crates")
        .expect("the README's section on the lints")..];
    let block = &section[section.find("```toml\n").expect("its clippy.toml") + 8..];
    let block = &block[..block.find("```").unwrap()];
    let ours = std::fs::read_to_string(format!("{root}/clippy.toml")).unwrap();
    assert_eq!(
        lists(block),
        lists(&ours),
        "the README's clippy.toml differs from the workspace's: copy the lists over"
    );
}
