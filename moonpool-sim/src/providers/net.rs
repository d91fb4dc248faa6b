//! Networking: the [`NetworkProvider`] trait (TCP-like streams between
//! addresses) and its tokio implementation.
//!
//! Streams implement tokio's [`AsyncRead`] and [`AsyncWrite`], so framing
//! code written with `tokio::io` runs unchanged on real sockets and on the
//! simulated network.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncWrite};

use super::task::BoxFuture;

/// A byte stream to a peer: a TCP connection, real or simulated.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The address of the other end.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
    /// The address of this end.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// The stream as a reading half and a writing half, for a reader and
    /// a writer that run apart. The default shares the stream between
    /// them behind a lock ([`tokio::io::split`]); a stream whose halves
    /// need none overrides it (tokio's TCP stream: its `into_split`).
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_sim::{AsyncStream, NetStream};
    /// use std::{io, net::SocketAddr, pin::Pin, task::{Context, Poll}};
    /// use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    ///
    /// /// A stream that is always at its end and takes every byte.
    /// struct Sink;
    /// impl AsyncRead for Sink {
    ///     fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    /// }
    /// impl AsyncWrite for Sink {
    ///     fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
    ///         Poll::Ready(Ok(b.len()))
    ///     }
    ///     fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    ///     fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    /// }
    /// impl AsyncStream for Sink {
    ///     fn peer_addr(&self) -> io::Result<SocketAddr> { Ok(([10, 0, 0, 2], 1).into()) }
    ///     fn local_addr(&self) -> io::Result<SocketAddr> { Ok(([10, 0, 0, 1], 1).into()) }
    /// }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let stream: NetStream = Box::new(Sink);
    /// let (mut read, mut write) = stream.into_halves();
    /// assert_eq!(write.write(b"hi").await.unwrap(), 2);
    /// assert_eq!(read.read(&mut [0; 4]).await.unwrap(), 0);
    /// # });
    /// ```
    fn into_halves(self: Box<Self>) -> (NetReadHalf, NetWriteHalf) {
        let (read, write) = tokio::io::split(self);
        (Box::new(read), Box::new(write))
    }
}

/// The reading half of a stream (see [`AsyncStream::into_halves`]).
pub type NetReadHalf = Box<dyn AsyncRead + Unpin + Send>;

/// The writing half of a stream (see [`AsyncStream::into_halves`]).
pub type NetWriteHalf = Box<dyn AsyncWrite + Unpin + Send>;

/// A boxed stream, as providers hand them out. `Box<dyn AsyncStream>`
/// implements `AsyncRead + AsyncWrite`, so `tokio::io::AsyncReadExt` and
/// friends work on it directly.
pub type NetStream = Box<dyn AsyncStream>;

/// A bound listening socket.
pub trait NetListener: Send + 'static {
    /// Waits for the next incoming connection.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(NetStream, SocketAddr)>>;
    /// The address this listener is bound to (with the real port when bound
    /// to port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Opens listeners and connections, as the runtime sees it.
///
/// Use it through [`Providers::bind`](crate::Providers::bind) and
/// [`Providers::connect`](crate::Providers::connect). The tokio
/// implementation uses real TCP (with `TCP_NODELAY`); the simulated one
/// moves bytes between simulated processes as events with a latency model
/// and the seed's network faults.
///
/// # Example
///
/// ```
/// use moonpool_sim::{BoxFuture, NetListener, NetStream, NetworkProvider};
/// use std::{io, net::SocketAddr};
///
/// /// A network where every address refuses connections.
/// struct Offline;
/// impl NetworkProvider for Offline {
///     fn bind(&self, _: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn NetListener>>> {
///         Box::pin(async { Err(io::ErrorKind::PermissionDenied.into()) })
///     }
///     fn connect(&self, _: SocketAddr) -> BoxFuture<'static, io::Result<NetStream>> {
///         Box::pin(async { Err(io::ErrorKind::ConnectionRefused.into()) })
///     }
/// }
/// # let _ = Offline;
/// ```
pub trait NetworkProvider: Send + Sync + 'static {
    /// Starts listening on `addr` (port 0 picks a free port).
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn NetListener>>>;
    /// Opens a connection to `addr`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<NetStream>>;

    /// The address to listen on when none was chosen: loopback
    /// (`127.0.0.1`) by default and on tokio; a simulated process's own
    /// address in the simulation, where each process is a machine.
    fn default_ip(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
}

pub(crate) mod tokio_net {
    //! Real TCP through tokio.

    use super::*;

    pub(crate) struct TokioNetwork;

    impl AsyncStream for tokio::net::TcpStream {
        fn peer_addr(&self) -> io::Result<SocketAddr> {
            tokio::net::TcpStream::peer_addr(self)
        }
        fn local_addr(&self) -> io::Result<SocketAddr> {
            tokio::net::TcpStream::local_addr(self)
        }

        fn into_halves(self: Box<Self>) -> (NetReadHalf, NetWriteHalf) {
            // Halves that share the socket without a lock.
            let (read, write) = (*self).into_split();
            (Box::new(read), Box::new(write))
        }
    }

    struct TokioListener(tokio::net::TcpListener);

    impl NetListener for TokioListener {
        fn accept(&mut self) -> BoxFuture<'_, io::Result<(NetStream, SocketAddr)>> {
            Box::pin(async move {
                let (stream, peer) = self.0.accept().await?;
                stream.set_nodelay(true)?;
                Ok((Box::new(stream) as NetStream, peer))
            })
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            self.0.local_addr()
        }
    }

    impl NetworkProvider for TokioNetwork {
        fn bind(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn NetListener>>> {
            Box::pin(async move {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                Ok(Box::new(TokioListener(listener)) as Box<dyn NetListener>)
            })
        }

        fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<NetStream>> {
            Box::pin(async move {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream) as NetStream)
            })
        }
    }
}
