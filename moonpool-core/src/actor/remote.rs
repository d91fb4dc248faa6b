//! Calls between nodes, as the actor layer sees them: what a remote call
//! carries, how it is answered, and where the answer goes.

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::chain::{CallChain, ChainLink, TurnKind};
use super::error::CallError;
use crate::id::ActorId;
use crate::transport::{Outgoing, Payload, Responder};

/// A call to an actor on another node: its header and the message.
#[derive(Debug, Clone)]
pub(crate) struct CallRequest {
    /// Who is called, how, from where.
    pub(crate) head: CallHead,
    /// The message, encoded (once: it travels as it is, after the header).
    pub(crate) body: Payload,
}

/// What a call carries besides the message: its routing header on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CallHead {
    /// The actor called.
    pub(crate) target: ActorId,
    /// The method's [`method_id`](super::method_id).
    pub(crate) method: u32,
    /// The activations the call is nested in.
    pub(crate) chain: CallChain,
    /// How the method's turn holds the activation.
    pub(crate) turn: TurnKind,
    /// The call's number on the calling node (its `call` span field), so
    /// the two sides' logs of one call can be matched.
    pub(crate) call: u64,
    /// Which try this is: a call is sent again only when it certainly did
    /// not leave (at most once), each time with the next number from 1.
    pub(crate) attempt: u32,
}

/// A [`CallHead`] borrowed, to encode without copying the id or the chain:
/// serializes exactly as the `CallHead` it stands for (same fields, same
/// order).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename = "CallHead")]
pub(crate) struct CallHeadRef<'a> {
    /// [`CallHead::target`].
    pub(crate) target: &'a ActorId,
    /// [`CallHead::method`].
    pub(crate) method: u32,
    /// [`CallHead::chain`].
    pub(crate) chain: &'a [ChainLink],
    /// [`CallHead::turn`].
    pub(crate) turn: TurnKind,
    /// [`CallHead::call`].
    pub(crate) call: u64,
    /// [`CallHead::attempt`].
    pub(crate) attempt: u32,
}

/// Who made a call that arrived as bytes, and which: what the serving
/// side's span shows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallTag {
    /// The calling node.
    pub(crate) caller: crate::transport::NodeId,
    /// The call's number there ([`CallHead::call`]).
    pub(crate) call: u64,
    /// Which try ([`CallHead::attempt`]).
    pub(crate) attempt: u32,
}

impl CallTag {
    /// The tag of `head`, sent by `caller`.
    pub(crate) fn of(caller: crate::transport::NodeId, head: &CallHead) -> Self {
        Self {
            caller,
            call: head.call,
            attempt: head.attempt,
        }
    }
}

/// How the node called answers a [`CallRequest`].
#[derive(Debug)]
pub(crate) enum CallAnswer {
    /// The handler ran; its reply, encoded.
    Reply(Payload),
    /// The call failed (it may or may not have run, as the error says).
    Failed(CallError),
    /// The actor is not (or no longer) here, and the call did not run:
    /// the caller routes again.
    NotHere,
}

/// A [`CallAnswer`] on the wire, in front of the reply's bytes (which
/// follow `Reply` raw, as the handler's reply encoded them).
#[derive(Serialize, Deserialize)]
enum AnswerHead<E> {
    Reply,
    Failed(E),
    NotHere,
}

impl CallAnswer {
    /// The wire form of the answer (a reply's bytes stay in their buffer).
    pub(crate) fn encode(self) -> Result<Outgoing, String> {
        match self {
            CallAnswer::Reply(bytes) => Ok(Outgoing::in_front_of(&REPLY_HEAD, bytes.into_vec())),
            CallAnswer::Failed(e) => head_frame(&AnswerHead::Failed(&e)),
            CallAnswer::NotHere => head_frame(&AnswerHead::<&CallError>::NotHere),
        }
    }

    /// The answer in `payload`.
    pub(crate) fn decode(mut payload: Payload) -> Result<CallAnswer, postcard::Error> {
        Ok(match payload.take::<AnswerHead<CallError>>()? {
            AnswerHead::Reply => CallAnswer::Reply(payload),
            AnswerHead::Failed(e) => CallAnswer::Failed(e),
            AnswerHead::NotHere => CallAnswer::NotHere,
        })
    }
}

/// [`AnswerHead::Reply`], encoded: a unit variant, its index (see the test
/// `the_reply_head_is_the_encoded_reply_variant`).
pub(crate) const REPLY_HEAD: [u8; 1] = [0];

/// The wire form of an answer without a reply.
fn head_frame(head: &AnswerHead<&CallError>) -> Result<Outgoing, String> {
    let mut out = Outgoing::new();
    out.encode(head)
        .map_err(|e| format!("cannot encode the answer to a call: {e}"))?;
    Ok(out)
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
            Some(ReplyTo::Wire(responder)) => responder.send(match result {
                // In the reply's own buffer: `encode_reply` leaves room.
                Ok(bytes) => Ok(Outgoing::in_front_of(&REPLY_HEAD, bytes)),
                Err(e) => head_frame(&AnswerHead::Failed(&e)),
            }),
            None => {}
        }
    }
}

impl Drop for RemoteReply {
    fn drop(&mut self) {
        // A task sees its sender dropped; the wire needs to be told.
        if let Some(ReplyTo::Wire(responder)) = self.to.take() {
            responder.send(CallAnswer::NotHere.encode());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn the_reply_head_is_the_encoded_reply_variant() {
        let encoded = postcard::to_allocvec(&AnswerHead::<&CallError>::Reply).unwrap();
        assert_eq!(encoded, REPLY_HEAD);
        let answer = CallAnswer::decode(Payload::from(vec![REPLY_HEAD[0], 7])).unwrap();
        assert!(matches!(answer, CallAnswer::Reply(bytes) if bytes == [7]));
        // And an answer's wire form decodes to the same answer.
        let wire = |answer: CallAnswer| Payload::from(answer.encode().unwrap().payload().to_vec());
        let reply = CallAnswer::decode(wire(CallAnswer::Reply(Payload::from(vec![1, 2])))).unwrap();
        assert!(matches!(reply, CallAnswer::Reply(bytes) if bytes == [1, 2]));
        let not_here = CallAnswer::decode(wire(CallAnswer::NotHere)).unwrap();
        assert!(matches!(not_here, CallAnswer::NotHere));
        let failed = CallAnswer::decode(wire(CallAnswer::Failed(CallError::ShuttingDown))).unwrap();
        assert!(matches!(
            failed,
            CallAnswer::Failed(CallError::ShuttingDown)
        ));
    }

    #[test]
    fn a_borrowed_head_encodes_as_the_head_it_stands_for() {
        let head = CallHead {
            target: ActorId {
                type_name: "Account".into(),
                key: "alice".into(),
            },
            method: 0xdead_beef,
            chain: vec![ChainLink {
                actor: ActorId {
                    type_name: "Bank".into(),
                    key: "b".into(),
                },
                turn: TurnKind::Shared,
            }],
            turn: TurnKind::Exclusive,
            call: 300,
            attempt: 2,
        };
        let borrowed = CallHeadRef {
            target: &head.target,
            method: head.method,
            chain: &head.chain,
            turn: head.turn,
            call: head.call,
            attempt: head.attempt,
        };
        let bytes = postcard::to_allocvec(&borrowed).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&head).unwrap());
        let back: CallHead = postcard::from_bytes(&bytes).unwrap();
        assert_eq!((back.target, back.attempt), (head.target, 2));
    }
}
