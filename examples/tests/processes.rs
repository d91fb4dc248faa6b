//! The bank as a user runs it: separate OS processes on 127.0.0.1 ports (a
//! storage service, three nodes, clients), killed with SIGKILL.
//!
//! - A non-primary node killed mid-run and restarted: the client's books
//!   balance and it exits 0.
//! - The primary killed: every surviving node and a running client say the
//!   membership primary is unreachable and exit non-zero, within a bound.
//! - The embedded demo (what a new user runs first) ends with balanced
//!   books and nothing in its log at warn or error.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tests fail loudly by design
// Real OS processes: real threads read their output, on wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::process::Command;
use std::time::{Duration, Instant};

mod procs;
use procs::{Proc, START, args, bank_account, free_port};

/// A storage service on `listen` keeping its records under `data`, once
/// it serves.
fn start_storage(name: &str, listen: &str, data: &std::path::Path) -> Proc {
    let data = data.to_string_lossy();
    let storage = Proc::start(
        name,
        &args(&["storage", "--listen", listen, "--data", &data]),
    );
    storage.wait_for("serving", START);
    storage
}

#[test]
fn the_bank_survives_a_killed_node_and_says_when_its_primary_is_gone() {
    let data = std::env::temp_dir().join(format!("moonpool-processes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (storage_addr, a, b, c) = (free_port(), free_port(), free_port(), free_port());
    let [storage_addr, a, b, c] = [storage_addr, a, b, c].map(|x| x.to_string());
    let storage = start_storage("storage", &storage_addr, &data);
    let node_args = |listen: &str, seed: Option<&str>| {
        let mut v = args(&["node", "--listen", listen, "--storage", &storage_addr]);
        if let Some(seed) = seed {
            v.extend(args(&["--seed", seed]));
        }
        v
    };
    let node_a = Proc::start("node a (primary)", &node_args(&a, None));
    node_a.wait_for("serving", START);
    let node_b = Proc::start("node b", &node_args(&b, Some(&a)));
    node_b.wait_for("serving", START);
    // The third node knows only b, which is not the primary.
    let mut node_c = Proc::start("node c", &node_args(&c, Some(&b)));
    node_c.wait_for("serving", START);

    // 0. A node whose storage service is another one is refused: its
    // accounts would fork from the cluster's.
    let other_data = data.join("other");
    let other_addr = free_port().to_string();
    let other = start_storage("other storage", &other_addr, &other_data);
    let stray_addr = free_port().to_string();
    let mut stray = Proc::start(
        "node on another storage",
        &args(&[
            "node",
            "--listen",
            &stray_addr,
            "--seed",
            &a,
            "--storage",
            &other_addr,
        ]),
    );
    let status = stray.exit_within(START);
    let out = stray.output();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("this node's state storage is not the cluster's"),
        "{out}"
    );
    drop(other);

    // 1. A non-primary node dies mid-run and comes back.
    let mut client = Proc::start(
        "client",
        &args(&["client", "--seed", &b, "--transfers", "60"]),
    );
    std::thread::sleep(Duration::from_millis(800));
    node_c.kill();
    std::thread::sleep(Duration::from_millis(1500));
    let mut node_c = Proc::start("node c (restarted)", &node_args(&c, Some(&b)));
    node_c.wait_for("serving", START);
    let status = client.exit_within(Duration::from_secs(120));
    let out = client.output();
    assert!(status.success(), "the client failed:\n{out}");
    assert!(out.contains("the books balance"), "{out}");

    // 2. The primary dies while a client runs: everybody says so, and
    // exits non-zero, within the bound.
    let mut client = Proc::start(
        "client 2",
        &args(&["client", "--seed", &c, "--transfers", "2000"]),
    );
    // Its accounts open and its transfers start (they take far longer than
    // this to end).
    std::thread::sleep(Duration::from_millis(1500));
    let mut node_a = node_a;
    node_a.kill();
    let killed = Instant::now();
    // Lease (2 × 300 ms + 500 ms), a read's timeout (1 s), a probe
    // interval, and process start-up slack.
    let bound = Duration::from_secs(5);
    let expected = format!(
        "membership primary {a} is unreachable; this development membership has no other copy"
    );
    let mut node_b = node_b;
    for p in [&mut node_b, &mut node_c, &mut client] {
        let left = bound.saturating_sub(killed.elapsed());
        let status = p.exit_within(left.max(Duration::from_millis(1)));
        let out = p.output();
        assert!(!status.success(), "{} exited 0:\n{out}", p.name);
        assert!(
            out.lines()
                .any(|l| l.starts_with("stderr: bank_account: ") && l.contains(&expected)),
            "{} did not say {expected:?}:\n{out}",
            p.name
        );
    }
    drop(storage);
    let _ = std::fs::remove_dir_all(&data);
}

/// Runs the example with `args` to its end: exit code, stdout, stderr.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    // A tester's RUST_LOG must not change what the binary prints (a
    // `RUST_LOG=error` would hide the warnings a test looks for).
    let out = Command::new(bank_account())
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The main example as a new user first runs it (embedded: three nodes in
/// one process, one of them leaving mid-run): its books balance, it exits
/// 0, and nothing in its log warns — shutting down included.
#[test]
fn the_embedded_demo_balances_its_books_and_warns_of_nothing() {
    for transfers in ["0", "30"] {
        let (code, stdout, stderr) = run(&["--transfers", transfers]);
        let all = format!("{stdout}{stderr}");
        assert_eq!(code, Some(0), "--transfers {transfers}:\n{all}");
        assert!(stdout.contains("the books balance"), "{all}");
        let loud = all
            .lines()
            .any(|l| l.contains(" WARN ") || l.contains(" ERROR "));
        assert!(!loud, "--transfers {transfers} warned:\n{all}");
    }
}

#[test]
fn the_command_line_helps_and_refuses_bad_input_in_one_line() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("Usage:") && out.contains("client"), "{out}");
    let (code, out, _) = run(&["node", "-h"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--storage <ADDR>"), "{out}");

    let file = std::env::temp_dir().join(format!("moonpool-cli-file-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let file = file.to_string_lossy().to_string();
    let refused: [(&[&str], &str); 5] = [
        (
            &[
                "node",
                "--listen",
                "127.0.0.1:1",
                "--listen",
                "127.0.0.1:2",
                "--storage",
                "127.0.0.1:3",
            ],
            "cannot be used multiple times",
        ),
        (
            &["storage", "--listen", "127.0.0.1:1", "--data", &file],
            "not a directory",
        ),
        (&["client", "--seed", "no-such-host.invalid:4000"], "--seed"),
        (&["client", "--seed", "127.0.0.1"], "--seed"),
        (&["--transfers", "many"], "--transfers"),
    ];
    for (args, says) in refused {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line:\n{err}");
        assert!(
            err.starts_with("bank_account: ") && err.contains(says),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_file(&file);

    // A host name is an address.
    let (code, _, err) = run(&[
        "node",
        "--listen",
        "localhost:0",
        "--storage",
        "localhost:1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot use the node's state storage"), "{err}");
}
