//! The module graph of moonpool-core and moonpool-sim, read from their
//! sources: which file's code names which other file's items (`use
//! crate::…`, `super::…`, and paths in code). Lower layers must not reach
//! upper ones, and files must not import each other in a loop.
//!
//! Neither crate has a loop: a new one fails the build, naming its files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every module file of the crate at `src`, by module path (the crate
/// root is `[]`).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(src).unwrap().with_extension("");
            let mut m: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            if matches!(m.last().map(String::as_str), Some("mod" | "lib")) {
                m.pop();
            }
            (m, f)
        })
        .collect()
}

/// Source text without whole-line comments (doc examples name the crate
/// by its public name, not `crate::`).
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths of a use tree starting at `s` (after `crate::` or `super::`):
/// `a::b::{c, d::e}` gives `[a, b, c]` and `[a, b, d, e]`.
fn use_tree(s: &[u8], i: &mut usize, prefix: &Module, out: &mut Vec<Module>) {
    let mut path = prefix.clone();
    loop {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
        if *i < s.len() && s[*i] == b'{' {
            *i += 1;
            loop {
                use_tree(s, i, &path, out);
                while *i < s.len() && s[*i].is_ascii_whitespace() {
                    *i += 1;
                }
                match s.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b'}') => {
                        *i += 1;
                        return;
                    }
                    _ => return,
                }
                while *i < s.len() && s[*i].is_ascii_whitespace() {
                    *i += 1;
                }
                if s.get(*i) == Some(&b'}') {
                    *i += 1;
                    return;
                }
            }
        }
        let start = *i;
        while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
            *i += 1;
        }
        if *i == start {
            break;
        }
        path.push(String::from_utf8_lossy(&s[start..*i]).to_string());
        if s[*i..].starts_with(b"::") {
            *i += 2;
        } else {
            break;
        }
    }
    if path.len() > prefix.len() {
        out.push(path);
    }
}

/// The absolute paths `text` (the code of module `me`, whose child
/// modules are `children`) names through `crate::`, `super::`, `self::`,
/// or a child module's name.
fn named_paths(me: &Module, children: &[String], text: &str) -> Vec<Module> {
    let s = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let boundary =
            i == 0 || !(s[i - 1].is_ascii_alphanumeric() || s[i - 1] == b'_' || s[i - 1] == b':');
        let names_child = boundary
            && children
                .iter()
                .any(|c| s[i..].starts_with(format!("{c}::").as_bytes()));
        if names_child {
            use_tree(s, &mut i, me, &mut out);
        } else if boundary && s[i..].starts_with(b"self::") {
            i += "self::".len();
            use_tree(s, &mut i, me, &mut out);
        } else if boundary && s[i..].starts_with(b"crate::") {
            i += "crate::".len();
            use_tree(s, &mut i, &Vec::new(), &mut out);
        } else if boundary && s[i..].starts_with(b"super::") {
            // A module's `super` is the module that declares it (for
            // `node/mod.rs`, the crate root; for `node/watch.rs`, `node`).
            let mut base = me.clone();
            base.pop();
            i += "super::".len();
            while s[i..].starts_with(b"super::") {
                base.pop();
                i += "super::".len();
            }
            use_tree(s, &mut i, &base, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// The root's re-exports: item name → the module it comes from.
fn root_reexports(root: &str, mods: &BTreeMap<Module, PathBuf>) -> BTreeMap<String, Module> {
    let mut out = BTreeMap::new();
    for line in code(root).split(';') {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("pub use ") else {
            continue;
        };
        let mut paths = Vec::new();
        let mut i = 0;
        use_tree(rest.as_bytes(), &mut i, &Vec::new(), &mut paths);
        for p in paths {
            let owner = longest_module(&p, mods);
            if let (Some(name), false) = (p.last(), owner.is_empty()) {
                out.insert(name.clone(), owner);
            }
        }
    }
    out
}

fn longest_module(path: &Module, mods: &BTreeMap<Module, PathBuf>) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| mods.contains_key(p))
        .unwrap_or_default()
}

fn name(m: &Module) -> String {
    m.join("/")
}

/// Edges between the non-root module files of the crate at `src`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let root = std::fs::read_to_string(&mods[&Vec::new()]).unwrap();
    let reexports = root_reexports(&root, &mods);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, file) in &mods {
        if m.is_empty() {
            continue;
        }
        let text = code(&std::fs::read_to_string(file).unwrap());
        let children: Vec<String> = mods
            .keys()
            .filter(|c| c.len() == m.len() + 1 && c.starts_with(m))
            .filter_map(|c| c.last().cloned())
            .collect();
        let entry = edges.entry(name(m)).or_default();
        for p in named_paths(m, &children, &text) {
            let mut target = longest_module(&p, &mods);
            if target.is_empty() {
                match p.first().and_then(|first| reexports.get(first)) {
                    Some(owner) => target = owner.clone(),
                    None => continue,
                }
            }
            if target != *m && !target.is_empty() {
                entry.insert(name(&target));
            }
        }
    }
    edges
}

/// The loops of the graph: its strongly connected components of more than
/// one file (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(st: &mut State<'a>, v: &'a str) {
        let n = st.index.len();
        st.index.insert(v, n);
        st.low.insert(v, n);
        st.stack.push(v);
        st.on_stack.insert(v);
        let edges = st.edges;
        for w in edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !st.index.contains_key(w) {
                visit(st, w);
                let low = st.low[w].min(st.low[v]);
                st.low.insert(v, low);
            } else if st.on_stack.contains(w) {
                let low = st.index[w].min(st.low[v]);
                st.low.insert(v, low);
            }
        }
        if st.low[v] == st.index[v] {
            let mut scc = BTreeSet::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                scc.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                st.out.push(scc);
            }
        }
    }
    let mut st = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !st.index.contains_key(v.as_str()) {
            visit(&mut st, v);
        }
    }
    st.out.sort();
    st.out
}

fn src(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

/// Checks the loops of `krate` against `known` (each a list of files that
/// form one loop today): no loop may be new or larger, and a loop that
/// shrank or went must be updated here.
fn check(krate: &str, known: &[&[&str]]) {
    let edges = graph(&src(krate));
    let found = cycles(&edges);
    let known: Vec<BTreeSet<String>> = known
        .iter()
        .map(|c| c.iter().map(|s| (*s).to_string()).collect())
        .collect();
    let describe = |c: &BTreeSet<String>| c.iter().cloned().collect::<Vec<_>>().join(", ");
    for c in &found {
        assert!(
            known.iter().any(|k| c.is_subset(k)),
            "{krate}: a new or larger import loop: [{}]\n(the module graph: {edges:#?})",
            describe(c)
        );
    }
    for k in &known {
        assert!(
            found.contains(k),
            "{krate}: the import loop [{}] is now {:?}: update the list in this test (it only shrinks)",
            describe(k),
            found
                .iter()
                .filter(|c| c.is_subset(k))
                .map(describe)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_parser_follows_use_trees_and_super() {
    let paths = named_paths(
        &vec!["node".into(), "watch".into()],
        &[],
        "use crate::{actor::{ActorId, CallError}, transport::lock};\nuse super::ring::Ring;\nfn f() { super::super::x::y(); }",
    );
    let paths: Vec<String> = paths.iter().map(name).collect();
    assert_eq!(
        paths,
        [
            "actor/ActorId",
            "actor/CallError",
            "transport/lock",
            "node/ring/Ring",
            "x/y"
        ]
    );
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    edges.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    edges.insert("d".to_string(), BTreeSet::from(["a".to_string()]));
    let found = cycles(&edges);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].len(), 3);
}

#[test]
fn moonpool_core_has_no_import_loop() {
    check("moonpool-core", &[]);
}

#[test]
fn moonpool_sim_has_no_import_loop() {
    check("moonpool-sim", &[]);
}

/// Lower layers of moonpool-core do not name upper ones: the transport
/// knows nothing of actors, state or nodes; storage knows nothing of
/// actors (beyond their ids, in `id.rs`) or nodes; the database client
/// (`postgres/`) serves the backends and names none of them; actors reach their node
/// only through the `Runtime` trait they define; the simulation cluster
/// helper (`sim_cluster.rs`) uses nodes and is used by none of the layers
/// (only by the crate's own tests of its services, `service_tests/`, which
/// sit on top of everything).
#[test]
fn lower_layers_do_not_reach_upper_ones() {
    let edges = graph(&src("moonpool-core"));
    let upward: BTreeSet<String> = edges
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
        .filter(|(from, to)| {
            let (from, to) = (from.as_str(), to.as_str());
            (["transport", "postgres"]
                .iter()
                .any(|l| from.starts_with(l))
                && ["actor", "state", "node"].iter().any(|u| to.starts_with(u)))
                || (from.starts_with("state")
                    && ["actor", "node"].iter().any(|u| to.starts_with(u)))
                || (from.starts_with("actor") && to.starts_with("node"))
                // The simulation cluster helper sits on top: nothing names it.
                || (to.starts_with("sim_cluster")
                    && !from.starts_with("sim_cluster")
                    && !from.starts_with("service_tests"))
        })
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(upward.is_empty(), "upward imports: {upward:?}");
}

/// moonpool-sim's parts stay apart: the providers (the interface and its
/// tokio implementation) know nothing of the simulator, chaos or the
/// runner; chaos reaches a running simulation only through the hook the
/// simulator installs (`chaos/hook.rs`); the simulator knows nothing of
/// the runner.
#[test]
fn moonpool_sim_parts_stay_apart() {
    let edges = graph(&src("moonpool-sim"));
    let upward: BTreeSet<String> = edges
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from, to)))
        .filter(|(from, to)| {
            let (from, to) = (from.as_str(), to.as_str());
            (from.starts_with("providers")
                && ["sim", "chaos", "runner"].iter().any(|u| to.starts_with(u)))
                || (from.starts_with("chaos")
                    && ["sim", "runner"].iter().any(|u| to.starts_with(u)))
                || (from.starts_with("sim") && to.starts_with("runner"))
        })
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(upward.is_empty(), "upward imports: {upward:?}");
}
