//! The usual choice for remote calls, as a baseline: a `tonic` gRPC unary
//! echo over HTTP/2, carrying the raw echo's payload as it is (a codec
//! that passes the bytes through, so no protobuf schema or code
//! generation is needed and no encoding cost is added or left out).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service, http};
use tonic::{Request, Response, Status};

/// The codec: a message is its bytes.
#[derive(Clone, Copy, Default)]
struct Raw;

struct RawCoder;

impl Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

/// The one method: replies with what it was sent.
struct EchoMethod;

impl tonic::server::UnaryService<Vec<u8>> for EchoMethod {
    type Response = Vec<u8>;
    type Future = std::future::Ready<Result<Response<Vec<u8>>, Status>>;
    fn call(&mut self, request: Request<Vec<u8>>) -> Self::Future {
        std::future::ready(Ok(Response::new(request.into_inner())))
    }
}

/// The server: what `tonic-build` generates for a one-method service,
/// minus the routing (every path is the echo).
#[derive(Clone)]
struct EchoServer;

impl Service<http::Request<tonic::body::Body>> for EchoServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            Ok(tonic::server::Grpc::new(Raw)
                .unary(EchoMethod, request)
                .await)
        })
    }
}

/// Starts the echo server on a free loopback port; its address.
pub async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(EchoServer, incoming));
    addr
}

/// A client of the server at `addr`: one HTTP/2 connection, which clones
/// share (as callers of one gRPC service usually do).
pub async fn connect(addr: SocketAddr) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .tcp_nodelay(true)
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

/// One unary call: `body` there and back.
pub async fn echo(client: &mut tonic::client::Grpc<tonic::transport::Channel>, body: &[u8]) {
    client.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/bench.Echo/Echo");
    let back = client
        .unary(Request::new(body.to_vec()), path, Raw)
        .await
        .unwrap();
    assert_eq!(back.get_ref().len(), body.len());
}
