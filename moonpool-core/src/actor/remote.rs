//! Calls between nodes, as the actor layer sees them: what a remote call
//! carries, how it is answered, and where the answer goes.

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::chain::{CallChain, TurnKind};
use super::error::CallError;
use crate::id::ActorId;
use crate::transport::Responder;

/// A call to an actor on another node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CallRequest {
    /// The actor called.
    pub(crate) target: ActorId,
    /// The method's [`method_id`](super::method_id).
    pub(crate) method: u32,
    /// The message, encoded.
    pub(crate) body: Vec<u8>,
    /// The activations the call is nested in.
    pub(crate) chain: CallChain,
    /// How the method's turn holds the activation.
    pub(crate) turn: TurnKind,
}

/// How the node called answers a [`CallRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum CallAnswer {
    /// The handler ran; its reply, encoded.
    Reply(Vec<u8>),
    /// The call failed (it may or may not have run, as the error says).
    Failed(CallError),
    /// The actor is not (or no longer) here, and the call did not run:
    /// the caller routes again.
    NotHere,
}

/// The wire form of `answer` (the text of the failure if it cannot be
/// encoded).
pub(crate) fn encode_answer(answer: &CallAnswer) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(answer).map_err(|e| format!("cannot encode the answer to a call: {e}"))
}

/// Where the reply to a call that arrived as bytes goes: to a task waiting
/// for it, or straight back onto the connection it came in on. Dropped
/// without a reply (the activation stopped before running the call), it
/// tells the caller to route again.
pub(crate) struct RemoteReply {
    to: Option<ReplyTo>,
}

enum ReplyTo {
    Task(oneshot::Sender<Result<Vec<u8>, CallError>>),
    Wire(Responder),
}

impl RemoteReply {
    /// A reply to the task holding the receiver.
    pub(crate) fn to_task() -> (Self, oneshot::Receiver<Result<Vec<u8>, CallError>>) {
        let (tx, rx) = oneshot::channel();
        (
            Self {
                to: Some(ReplyTo::Task(tx)),
            },
            rx,
        )
    }

    /// A reply straight onto the requesting connection.
    pub(crate) fn to_wire(responder: Responder) -> Self {
        Self {
            to: Some(ReplyTo::Wire(responder)),
        }
    }

    pub(crate) fn send(mut self, result: Result<Vec<u8>, CallError>) {
        match self.to.take() {
            Some(ReplyTo::Task(tx)) => {
                let _ = tx.send(result);
            }
            Some(ReplyTo::Wire(responder)) => {
                responder.send(encode_answer(&match result {
                    Ok(bytes) => CallAnswer::Reply(bytes),
                    Err(e) => CallAnswer::Failed(e),
                }));
            }
            None => {}
        }
    }
}

impl Drop for RemoteReply {
    fn drop(&mut self) {
        // A task sees its sender dropped; the wire needs to be told.
        if let Some(ReplyTo::Wire(responder)) = self.to.take() {
            responder.send(encode_answer(&CallAnswer::NotHere));
        }
    }
}
