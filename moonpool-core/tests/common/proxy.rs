// A TCP proxy to the test database that a test can cut or silence
// (included by the PostgreSQL outage tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const OPEN: u8 = 0;
/// Connections are dropped, new ones closed at once.
pub const CUT: u8 = 1;
/// Nothing passes, nothing closes: the database seems to hang.
pub const SILENT: u8 = 2;

/// A TCP proxy to the database, on its own thread and runtime.
pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Self {
        let mode = Arc::new(AtomicU8::new(OPEN));
        let (tx, rx) = std::sync::mpsc::channel();
        let m = Arc::clone(&mode);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    if m.load(Ordering::SeqCst) == CUT {
                        continue; // dropped: closed at once
                    }
                    let m = Arc::clone(&m);
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        tokio::spawn(pipe(cr, sw, Arc::clone(&m)));
                        pipe(sr, cw, m).await;
                    });
                }
            });
        });
        Self {
            addr: rx.recv().unwrap(),
            mode,
        }
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` while the proxy is open; holds while it is
/// silent; stops (closing both) when it is cut.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            biased;
            read = from.read(&mut buf) => match read { Ok(0) | Err(_) => return, Ok(n) => n },
            () = tokio::time::sleep(Duration::from_millis(20)) => 0,
        };
        loop {
            match mode.load(Ordering::SeqCst) {
                CUT => return,
                SILENT => tokio::time::sleep(Duration::from_millis(10)).await,
                _ => break,
            }
        }
        if n > 0 && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The URL of the database behind `proxy`, and where the database is.
pub fn through(url: &str, proxy: SocketAddr) -> Option<(String, SocketAddr)> {
    let config: tokio_postgres::Config = url.parse().ok()?;
    let host = match config.get_hosts().first()? {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        _ => return None, // a Unix socket: nothing to proxy
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .ok()?
        .next()?;
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or(user);
    let mut proxied = format!(
        "host={} port={} user={user} dbname={db}",
        proxy.ip(),
        proxy.port()
    );
    if let Some(pw) = config.get_password() {
        proxied.push_str(&format!(" password={}", String::from_utf8_lossy(pw)));
    }
    Some((proxied, upstream))
}

