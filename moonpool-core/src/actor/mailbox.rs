//! An activation's mailbox: an unbounded queue that costs next to nothing
//! while it is empty.
//!
//! tokio's unbounded channel allocates a block of 32 slots up front, which
//! for an envelope is kilobytes per idle activation. This queue holds no
//! buffer until a message arrives, keeps one slot once a burst has
//! drained, and wakes its one consumer through the waker it left (checked
//! and stored under the same lock as the queue, so no message is missed).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::transport::lock;

/// Slots an empty queue keeps from its last burst: one, so a steady stream
/// of one message at a time never reallocates.
const KEEP_SLOTS: usize = 1;

struct Shared<T> {
    queue: Mutex<Queue<T>>,
}

struct Queue<T> {
    items: VecDeque<T>,
    closed: bool,
    /// The consumer, when it waits for an item.
    waiting: Option<Waker>,
}

/// The sending side; cheap to clone.
pub(crate) struct MailboxTx<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side (the activation's task).
pub(crate) struct MailboxRx<T> {
    shared: Arc<Shared<T>>,
    /// Items received in a row without waiting (see `recv`).
    streak: u32,
}

/// Items received in a row before `recv` yields once, so a flooded
/// activation cannot hog its worker thread.
const YIELD_EVERY: u32 = 64;

/// A mailbox: its two ends.
pub(crate) fn mailbox<T>() -> (MailboxTx<T>, MailboxRx<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            closed: false,
            waiting: None,
        }),
    });
    (
        MailboxTx {
            shared: Arc::clone(&shared),
        },
        MailboxRx { shared, streak: 0 },
    )
}

impl<T> Clone for MailboxTx<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> MailboxTx<T> {
    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.shared.queue).items.is_empty()
    }

    /// Queues `item`; gives it back if the mailbox is closed.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        let waiting = {
            let mut q = lock(&self.shared.queue);
            if q.closed {
                return Err(item);
            }
            q.items.push_back(item);
            q.waiting.take()
        };
        if let Some(w) = waiting {
            w.wake();
        }
        Ok(())
    }
}

impl<T> MailboxRx<T> {
    /// The next item, waiting for one; `None` once the mailbox is closed
    /// and drained.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next item (see [`MailboxRx::recv`]). Cancel-safe: an
    /// item is only taken when it is returned.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.streak >= YIELD_EVERY {
            self.streak = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut q = lock(&self.shared.queue);
        if let Some(item) = q.items.pop_front() {
            if q.items.is_empty() && q.items.capacity() > KEEP_SLOTS {
                q.items.shrink_to(KEEP_SLOTS);
            }
            self.streak += 1;
            return Poll::Ready(Some(item));
        }
        if q.closed {
            return Poll::Ready(None);
        }
        self.streak = 0;
        match &q.waiting {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => q.waiting = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Ready once an item is queued or the mailbox is closed, without
    /// taking anything (see [`MailboxRx::try_recv`]).
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut q = lock(&self.shared.queue);
        if !q.items.is_empty() || q.closed {
            return Poll::Ready(());
        }
        match &q.waiting {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => q.waiting = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The next item if one is queued: `Ok(None)` when the mailbox is
    /// closed and drained, `Err(())` when it is merely empty.
    pub(crate) fn try_recv(&mut self) -> Result<Option<T>, ()> {
        let mut q = lock(&self.shared.queue);
        match q.items.pop_front() {
            Some(item) => {
                if q.items.is_empty() && q.items.capacity() > KEEP_SLOTS {
                    q.items.shrink_to(KEEP_SLOTS);
                }
                Ok(Some(item))
            }
            None if q.closed => Ok(None),
            None => Err(()),
        }
    }

    /// Refuses further items; those already queued can still be received.
    pub(crate) fn close(&mut self) {
        lock(&self.shared.queue).closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_in_order_then_refuses_after_close() {
        moonpool_sim::Simulation::new(1)
            .run(|sim| async move {
                let (tx, mut rx) = mailbox::<u32>();
                let p = sim.providers();
                let sender = tx.clone();
                let producer = p.spawn(async move {
                    for i in 0..100 {
                        sender.send(i).unwrap();
                        if i % 7 == 0 {
                            moonpool_sim::yield_now().await;
                        }
                    }
                });
                let mut got = Vec::new();
                while got.len() < 100 {
                    got.push(rx.recv().await.unwrap());
                }
                producer.await.unwrap();
                assert_eq!(got, (0..100).collect::<Vec<_>>());
                tx.send(100).unwrap();
                rx.close();
                assert_eq!(tx.send(101), Err(101));
                assert_eq!(rx.recv().await, Some(100));
                assert_eq!(rx.recv().await, None);
            })
            .unwrap();
    }

    #[test]
    fn an_idle_mailbox_keeps_at_most_a_few_slots() {
        moonpool_sim::Simulation::new(2)
            .run(|_| async move {
                let (tx, mut rx) = mailbox::<[u8; 64]>();
                assert_eq!(lock(&tx.shared.queue).items.capacity(), 0);
                for _ in 0..1000 {
                    tx.send([0; 64]).unwrap();
                }
                while !lock(&tx.shared.queue).items.is_empty() {
                    rx.recv().await.unwrap();
                }
                assert!(lock(&tx.shared.queue).items.capacity() <= KEEP_SLOTS);
            })
            .unwrap();
    }
}
