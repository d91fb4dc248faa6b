//! What the example binaries share on their command lines: `clap` parsing
//! whose errors are one line, addresses that may be host names, and
//! checked data directories.
//!
//! ```
//! use clap::Parser;
//! use moonpool_examples::cli::{parse_or_exit, socket_addr};
//!
//! #[derive(Parser)]
//! struct Args {
//!     #[arg(long, value_parser = socket_addr)]
//!     listen: std::net::SocketAddr,
//! }
//! let args: Args = parse_or_exit("demo", ["demo", "--listen", "localhost:4000"]);
//! assert!(args.listen.ip().is_loopback());
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::Parser;
use clap::error::ErrorKind;

/// Installs a subscriber that prints `tracing` events to stderr, chosen
/// by `RUST_LOG` (any `tracing` filter, e.g. `debug` or
/// `warn,moonpool_core::node=debug`), `default` when it is unset. A
/// malformed `RUST_LOG` prints one line naming it and exits 2.
///
/// ```
/// moonpool_examples::cli::log_or_exit("demo", "info");
/// tracing::info!("printed to stderr unless RUST_LOG says otherwise");
/// ```
pub fn log_or_exit(program: &str, default: &str) {
    match log_filter(std::env::var("RUST_LOG").ok().as_deref(), default) {
        Ok(filter) => {
            // Another subscriber already installed (a test's): keep it.
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_target(true)
                .try_init();
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::exit(2);
        }
    }
}

/// The filter `RUST_LOG` (`value`, if set and not blank) asks for, or
/// `default`.
///
/// # Errors
///
/// A message naming `RUST_LOG` and what was wrong with it.
///
/// ```
/// use moonpool_examples::cli::log_filter;
///
/// assert!(log_filter(None, "info").is_ok());
/// assert!(log_filter(Some("warn,moonpool_core=debug"), "info").is_ok());
/// let e = log_filter(Some("info,[oops"), "info").unwrap_err();
/// assert!(e.starts_with("RUST_LOG=\"info,[oops\" is not a tracing filter"), "{e}");
/// ```
pub fn log_filter(
    value: Option<&str>,
    default: &str,
) -> Result<tracing_subscriber::EnvFilter, String> {
    let text = value.filter(|v| !v.trim().is_empty()).unwrap_or(default);
    tracing_subscriber::EnvFilter::builder()
        .parse(text.trim())
        .map_err(|e| {
            format!(
                "RUST_LOG={text:?} is not a tracing filter (try `info`, `debug`, or `warn,moonpool_core::node=debug`): {e}"
            )
        })
}

/// Parses `args` (the program name first) into `T`. `--help` and
/// `--version` print and exit 0; any other error prints one line, naming
/// `program`, and exits 2.
pub fn parse_or_exit<T: Parser, I, S>(program: &str, args: I) -> T
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    match T::try_parse_from(args) {
        Ok(parsed) => parsed,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            print!("{e}");
            std::process::exit(0);
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{e}");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("{program}: {} (see --help)", one_line(&e));
            std::process::exit(2);
        }
    }
}

/// A clap error as one line: its message and what it lists, without the
/// usage and tips that follow.
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() || line.starts_with("tip:") {
            continue;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line).to_string());
    }
    parts.join(" ")
}

/// An address given as `HOST:PORT`, where the host is an IP address or a
/// name (`localhost:4200`); a name that resolves to several addresses
/// gives its first IPv4 one, if any.
///
/// # Errors
///
/// The address has no port, or the name does not resolve.
pub fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let resolved: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("not an address like 127.0.0.1:4000 or localhost:4000 ({e})"))?
        .collect();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// A data directory that can be used: it exists (or is created, with its
/// parents) and is a directory this process can write in.
///
/// # Errors
///
/// What is wrong with it, with the operating system's error.
pub fn data_dir(text: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(text);
    if text.is_empty() {
        return Err("the directory name is empty".to_string());
    }
    match std::fs::metadata(&dir) {
        Ok(meta) if !meta.is_dir() => return Err("it exists and is not a directory".to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create it: {e}"))?;
        }
        Err(e) => return Err(format!("cannot read it: {e}")),
    }
    let probe = dir.join(format!(".moonpool-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("cannot write in it: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    struct Args {
        #[arg(long, value_parser = socket_addr)]
        listen: SocketAddr,
    }

    #[test]
    fn host_names_resolve_and_nonsense_is_refused() {
        assert_eq!(
            socket_addr("127.0.0.1:4200"),
            Ok("127.0.0.1:4200".parse().unwrap_or_else(|_| unreachable!()))
        );
        let local = socket_addr("localhost:4200");
        assert!(local.is_ok_and(|a| a.ip().is_loopback() && a.port() == 4200));
        assert!(socket_addr("localhost").is_err(), "no port");
        assert!(socket_addr("127.0.0.1:99999").is_err());
    }

    #[test]
    fn a_repeated_option_is_an_error_of_one_line() {
        let e =
            Args::try_parse_from(["x", "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2"]).err();
        let e = e.map(|e| one_line(&e)).unwrap_or_default();
        assert!(e.contains("cannot be used multiple times"), "{e}");
        assert!(!e.contains('\n'));
        let missing = Args::try_parse_from(["x"]).err();
        let missing = missing.map(|e| one_line(&e)).unwrap_or_default();
        assert!(missing.contains("--listen"), "{missing}");
    }

    #[test]
    fn a_data_directory_must_be_a_writable_directory() {
        let base = std::env::temp_dir().join(format!("moonpool-cli-test-{}", std::process::id()));
        let nested = base.join("a/b");
        let nested_text = nested.to_string_lossy().to_string();
        assert_eq!(data_dir(&nested_text), Ok(nested.clone()));
        let file = base.join("file");
        let _ = std::fs::write(&file, b"x");
        let err = data_dir(&file.to_string_lossy()).err().unwrap_or_default();
        assert!(err.contains("not a directory"), "{err}");
        let under_file = file.join("sub");
        let err = data_dir(&under_file.to_string_lossy())
            .err()
            .unwrap_or_default();
        assert!(err.contains("cannot"), "{err}");
        assert!(data_dir("").is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
