//! State storage served over the cluster transport: one storage process
//! (a database, in miniature) holds the records; nodes reach it with
//! [`RemoteStorage`]. In the simulator the storage process has its own disk,
//! so it can crash and restart like any other process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moonpool_sim::{BoxFuture, Providers};
use serde::{Deserialize, Serialize};

use super::storage::{ETag, Record, StateStorage, StorageError};
use crate::id::ActorId;
use crate::transport::{
    Inbound, NodeId, Outgoing, Payload, Responder, Transport, TransportConfig, TransportError,
};

#[derive(Debug, Serialize, Deserialize)]
enum StorageRequest {
    Read {
        id: ActorId,
    },
    Write {
        id: ActorId,
        data: Vec<u8>,
        expected: Option<ETag>,
    },
    Clear {
        id: ActorId,
        expected: Option<ETag>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
enum StorageResponse {
    Read(Result<Option<Record>, StorageError>),
    Written(Result<ETag, StorageError>),
    Cleared(Result<(), StorageError>),
}

struct Serve {
    providers: Providers,
    backend: Arc<dyn StateStorage>,
}

impl Inbound for Serve {
    fn dispatch(&self, _from: NodeId, request: Payload, responder: Responder) {
        let req: StorageRequest = match postcard::from_bytes(&request) {
            Ok(req) => req,
            Err(e) => return responder.fail(format!("undecodable storage request: {e}")),
        };
        let backend = Arc::clone(&self.backend);
        self.providers
            .spawn_detached("storage-request", async move {
                let resp = match req {
                    StorageRequest::Read { id } => StorageResponse::Read(backend.read(&id).await),
                    StorageRequest::Write { id, data, expected } => {
                        StorageResponse::Written(backend.write(&id, data, expected).await)
                    }
                    StorageRequest::Clear { id, expected } => {
                        StorageResponse::Cleared(backend.clear(&id, expected).await)
                    }
                };
                let mut out = Outgoing::new();
                match out.encode(&resp) {
                    Ok(()) => responder.reply(out),
                    Err(e) => responder.fail(format!("cannot encode the response: {e}")),
                }
            });
    }
}

/// Serves a [`StateStorage`] backend to the cluster.
///
/// # Example
///
/// A server over an in-memory backend (a real one keeps a
/// [`DiskStorage`](super::DiskStorage) or PostgreSQL behind it), and a node
/// whose actors' state lives there:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use moonpool_core::state::{InMemoryStorage, RemoteStorage, StateStorage, StorageServer};
/// use moonpool_core::{ActorId, Node};
/// use moonpool_sim::Providers;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let p = Providers::tokio().unwrap();
/// let backend = Arc::new(InMemoryStorage::new());
/// let server = StorageServer::start(p.clone(), "127.0.0.1:0".parse().unwrap(), "bank", backend)
///     .await
///     .unwrap();
/// let storage = RemoteStorage::connect(
///     p,
///     "127.0.0.1:0".parse().unwrap(),
///     server.addr(),
///     "bank",
///     Duration::from_secs(2),
/// )
/// .await
/// .unwrap();
/// let alice = ActorId { type_name: "Account".into(), key: "alice".into() };
/// let nothing_yet = storage.read(&alice).await.unwrap();
/// assert!(nothing_yet.is_none());
/// let node = Node::builder("bank").storage(storage).build().await.unwrap();
/// node.shutdown().await;
/// # });
/// ```
pub struct StorageServer {
    transport: Transport,
}

impl StorageServer {
    /// Listens on `listen` for nodes of `cluster_id`.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn start(
        providers: Providers,
        listen: SocketAddr,
        cluster_id: impl Into<String>,
        backend: Arc<dyn StateStorage>,
    ) -> Result<Self, TransportError> {
        let transport = Transport::start(
            providers.clone(),
            listen,
            TransportConfig::new(cluster_id),
            Arc::new(Serve {
                providers: providers.clone(),
                backend,
            }),
        )
        .await?;
        Ok(Self { transport })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.transport.local().addr
    }
}

struct Refuse;

impl Inbound for Refuse {
    fn dispatch(&self, _from: NodeId, _request: Payload, responder: Responder) {
        responder.fail("a storage client serves nothing");
    }
}

/// A [`StateStorage`] whose records live in a [`StorageServer`].
///
/// A request that fails in transit reports [`StorageError::Io`]; the write
/// may or may not have happened. Etags keep that safe: a retry of a write
/// that did land fails with [`StorageError::Conflict`] rather than applying
/// twice, and the writer reloads.
#[derive(Clone)]
pub struct RemoteStorage {
    transport: Transport,
    server: SocketAddr,
    timeout: Duration,
}

impl RemoteStorage {
    /// A client of the server at `server`, with its own endpoint on `local`
    /// (port 0 picks one).
    ///
    /// # Errors
    ///
    /// When the local endpoint cannot be bound.
    pub async fn connect(
        providers: Providers,
        local: SocketAddr,
        server: SocketAddr,
        cluster_id: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let transport = Transport::start(
            providers,
            local,
            TransportConfig::new(cluster_id),
            Arc::new(Refuse),
        )
        .await?;
        Ok(Self {
            transport,
            server,
            timeout,
        })
    }

    async fn ask(
        &self,
        id: &ActorId,
        req: StorageRequest,
    ) -> Result<StorageResponse, StorageError> {
        let io = |reason: String| StorageError::io(id, reason);
        let mut out = Outgoing::new();
        out.encode(&req).map_err(|e| io(e.to_string()))?;
        let reply = self
            .transport
            .request(self.server, out, self.timeout)
            .await
            .map_err(|e| io(format!("storage server {}: {e}", self.server)))?;
        postcard::from_bytes(&reply).map_err(|e| io(format!("undecodable storage response: {e}")))
    }
}

fn unexpected(id: &ActorId) -> StorageError {
    StorageError::io(id, "unexpected storage response")
}

impl StateStorage for RemoteStorage {
    fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            match this
                .ask(&id, StorageRequest::Read { id: id.clone() })
                .await?
            {
                StorageResponse::Read(r) => r,
                _ => Err(unexpected(&id)),
            }
        })
    }

    fn write(
        &self,
        id: &ActorId,
        data: Vec<u8>,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            let req = StorageRequest::Write {
                id: id.clone(),
                data,
                expected,
            };
            match this.ask(&id, req).await? {
                StorageResponse::Written(r) => r,
                _ => Err(unexpected(&id)),
            }
        })
    }

    fn clear(
        &self,
        id: &ActorId,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<(), StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            match this
                .ask(
                    &id,
                    StorageRequest::Clear {
                        id: id.clone(),
                        expected,
                    },
                )
                .await?
            {
                StorageResponse::Cleared(r) => r,
                _ => Err(unexpected(&id)),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use moonpool_sim::Simulation;
    use moonpool_sim::chaos::FaultConfig;

    use crate::state::memory::InMemoryStorage;
    use crate::state::remote::{Refuse, RemoteStorage, StorageServer};
    use crate::state::storage::StateStorage;
    use crate::transport::{Outgoing, Transport, TransportConfig, TransportError};

    /// A request sent to a storage client (its endpoint only asks) is
    /// refused, saying why, rather than left unanswered.
    #[test]
    fn a_storage_client_refuses_requests() {
        Simulation::new(1)
            .faults(FaultConfig::calm())
            .run(|sim| async move {
                let p = sim.providers();
                let at = |s: &str| s.parse().unwrap();
                let backend = Arc::new(InMemoryStorage::new());
                let server = StorageServer::start(p.clone(), at("10.0.0.1:9000"), "c", backend)
                    .await
                    .unwrap();
                let second = Duration::from_secs(1);
                let client = RemoteStorage::connect(
                    p.clone(),
                    at("10.0.0.1:9001"),
                    server.addr(),
                    "c",
                    second,
                )
                .await
                .unwrap();
                let id = crate::id::ActorId {
                    type_name: "A".into(),
                    key: "k".into(),
                };
                assert_eq!(client.read(&id).await.unwrap(), None);

                let config = TransportConfig::new("c");
                let other = Transport::start(p, at("10.0.0.1:9002"), config, Arc::new(Refuse))
                    .await
                    .unwrap();
                let to = client.transport.local().addr;
                let answer = other.request(to, Outgoing::new(), second).await;
                match answer {
                    Err(TransportError::Remote { message }) => {
                        assert!(
                            message.contains("a storage client serves nothing"),
                            "{message}"
                        );
                    }
                    other => panic!("a storage client answered: {other:?}"),
                }
            })
            .unwrap();
    }
}
