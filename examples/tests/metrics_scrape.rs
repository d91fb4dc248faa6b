//! The bank node's `--metrics`: a Prometheus scrape of a node that served
//! transfers shows its calls, activations, transport and membership, and
//! a port already taken is refused in words.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
// Real OS processes and a real HTTP scrape, on wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod procs;
use procs::{Proc, START, args, free_port};

/// The body of `GET /metrics` on `addr`.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the sample `series` (name and labels, exactly as
/// exported), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn a_node_s_metrics_can_be_scraped() {
    let data = std::env::temp_dir().join(format!("moonpool-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let [storage, node, metrics] = [free_port(), free_port(), free_port()].map(|a| a.to_string());
    let store = Proc::start(
        "storage",
        &args(&[
            "storage",
            "--listen",
            &storage,
            "--data",
            &data.to_string_lossy(),
        ]),
    );
    store.wait_for("serving", START);
    let n = Proc::start(
        "node",
        &args(&[
            "node",
            "--listen",
            &node,
            "--storage",
            &storage,
            "--metrics",
            &metrics,
        ]),
    );
    n.wait_for("serving", START);
    let mut client = Proc::start(
        "client",
        &args(&["client", "--seed", &node, "--transfers", "12"]),
    );
    let status = client.exit_within(Duration::from_secs(120));
    assert!(status.success(), "{}", client.output());

    let body = scrape(&metrics);
    // Every transfer ran on this node (the only host): its activation,
    // its order opened and closed on the ledger.
    let transfers = sample(
        &body,
        r#"moonpool_activations_created_total{actor_type="Transfer"}"#,
    );
    assert_eq!(transfers, Some(12.0), "{body}");
    let opened = sample(
        &body,
        r#"moonpool_calls_total{actor_type="Ledger",method="open",outcome="ok"}"#,
    );
    assert!(opened.is_some_and(|n| n >= 12.0), "{body}");
    assert!(
        body.contains("moonpool_call_duration_seconds{actor_type=\"Account\",method=\"apply\""),
        "{body}"
    );
    assert!(
        sample(&body, r#"moonpool_activations{actor_type="Account"}"#).is_some_and(|n| n >= 1.0)
    );
    assert!(sample(&body, "moonpool_transport_frames_received_total").is_some_and(|n| n > 24.0));
    assert!(sample(&body, "moonpool_transport_connections_total").is_some_and(|n| n >= 1.0));
    assert!(
        sample(
            &body,
            r#"moonpool_membership_changes_total{status="alive"}"#
        )
        .is_some_and(|n| n >= 1.0)
    );

    // A second node asking for the same metrics port is refused, in words.
    let other = free_port().to_string();
    let mut second = Proc::start(
        "node on a taken metrics port",
        &args(&[
            "node",
            "--listen",
            &other,
            "--seed",
            &node,
            "--storage",
            &storage,
            "--metrics",
            &metrics,
        ]),
    );
    let status = second.exit_within(START);
    let out = second.output();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains(&format!("cannot serve metrics on {metrics}")),
        "{out}"
    );
    drop((n, store));
    let _ = std::fs::remove_dir_all(&data);
}
