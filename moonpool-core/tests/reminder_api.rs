//! The reminder API as a user meets it: registering from an actor and
//! from a node (a client-only one included), replacing, listing and
//! removing; bad input and a node without a table refused in words; a
//! hook that panics keeps its reminder; a type without a hook is warned
//! about, not broken.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::cell::RefCell;
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::reminder::{
    InMemoryReminderTable, MAX_NAME_BYTES, ReminderError, ReminderTable, ReminderTick,
};
use moonpool::runtime::actor::Reminder;
use moonpool::runtime::node::InMemoryMembership;

thread_local! {
    // One simulation per thread: (actor, reminder, due) of each handled tick.
    static TICKS: RefCell<Vec<(String, String, WallTime)>> = const { RefCell::new(Vec::new()) };
}

fn ticks_of(actor: &str, name: &str) -> usize {
    TICKS.with(|t| {
        t.borrow()
            .iter()
            .filter(|(a, n, _)| a == actor && n == name)
            .count()
    })
}

/// Registers its own reminders; a tick named `boom` panics.
#[moonpool::actor]
#[derive(Default)]
pub struct Probe;

#[moonpool::actor_impl]
impl Probe {
    /// Registers (or replaces) reminder `name` of this actor.
    pub async fn remind(
        &self,
        ctx: &ActorContext,
        name: String,
        due: Duration,
        period: Duration,
    ) -> Result<(WallTime, Duration), ReminderError> {
        let r = ctx.register_reminder(&name, due, period).await?;
        Ok((r.first_due, r.period))
    }

    /// Removes reminder `name`; whether it existed.
    pub async fn forget(&self, ctx: &ActorContext, name: String) -> Result<bool, ReminderError> {
        ctx.unregister_reminder(&name).await
    }

    /// This actor's reminders' names and periods.
    pub async fn list(&self, ctx: &ActorContext) -> Result<Vec<(String, Duration)>, ReminderError> {
        Ok(ctx
            .reminders()
            .await?
            .into_iter()
            .map(|r| (r.name, r.period))
            .collect())
    }

    async fn on_reminder(&mut self, ctx: &ActorContext, tick: ReminderTick) {
        TICKS.with(|t| {
            t.borrow_mut()
                .push((ctx.id().key.to_string(), tick.name.clone(), tick.due))
        });
        assert!(tick.name != "boom", "the boom reminder's hook fails");
    }
}

/// An actor type without an `on_reminder` hook.
#[moonpool::actor]
#[derive(Default)]
pub struct Hookless;

#[moonpool::actor_impl]
impl Hookless {
    /// Answers.
    pub async fn ping(&self) -> bool {
        true
    }
}

async fn node(
    sim: &SimContext,
    addr: &str,
    m: &InMemoryMembership,
    t: Option<&InMemoryReminderTable>,
    client: bool,
) -> Node {
    let mut b = Node::builder("api")
        .listen(addr.parse().unwrap())
        .providers(sim.providers())
        .membership(m.clone());
    if let Some(t) = t {
        b = b.reminders(t.clone());
    }
    if client {
        b = b.client_only();
    } else {
        b = b.host::<Probe>().host::<Hookless>();
    }
    b.build().await.unwrap()
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn the_reminder_api_works_and_refuses_bad_input_in_words(sim: SimContext) {
    TICKS.with(|t| t.borrow_mut().clear());
    let m = InMemoryMembership::new();
    let table = InMemoryReminderTable::new();
    let host = node(&sim, "10.0.0.1:7000", &m, Some(&table), false).await;
    let probe = host.actor::<Probe>("p");
    let sec = Duration::from_secs(1);

    // Bad input, refused in words, nothing written.
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    for (name, due, period, words) in [
        ("", sec, sec, "empty"),
        (long.as_str(), sec, sec, "bytes long"),
        ("tab\there", sec, sec, "control"),
        ("zero", sec, Duration::ZERO, "at least 1s"),
        ("fast", sec, Duration::from_millis(999), "at least 1s"),
        ("slow", sec, Duration::from_secs(400 * 86_400), "at most"),
        ("far", Duration::from_secs(400 * 86_400), sec, "within"),
    ] {
        let e = probe
            .remind(name.to_string(), due, period)
            .await
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains(words), "{name:?}: {e}");
    }
    assert!(table.snapshot().is_empty());

    // Registered from the actor: the tick comes, then again every period.
    let (first_due, period) = probe
        .remind("every-2s".into(), sec, 2 * sec)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(period, 2 * sec);
    sim.sleep(first_due - sim.providers().wall_now() + 5 * sec + Duration::from_millis(500))
        .await;
    assert_eq!(ticks_of("p", "every-2s"), 3, "ticks at +1 s, +3 s, +5 s");

    // Registering again replaces the schedule.
    probe
        .remind("every-2s".into(), sec, 3 * sec)
        .await
        .unwrap()
        .unwrap();
    let listed = probe.list().await.unwrap().unwrap();
    assert_eq!(listed, vec![("every-2s".to_string(), 3 * sec)]);

    // A hook that panics keeps its reminder: the next due time comes.
    probe
        .remind("boom".into(), Duration::ZERO, sec)
        .await
        .unwrap()
        .unwrap();
    sim.sleep(3 * sec + Duration::from_millis(500)).await;
    assert!(ticks_of("p", "boom") >= 3, "{}", ticks_of("p", "boom"));
    assert_eq!(probe.list().await.unwrap().unwrap().len(), 2);

    // Removing: true once, then false; the ticks stop.
    assert!(probe.forget("boom".into()).await.unwrap().unwrap());
    assert!(!probe.forget("boom".into()).await.unwrap().unwrap());
    sim.sleep(sec).await;
    let after = ticks_of("p", "boom");
    sim.sleep(5 * sec).await;
    assert_eq!(ticks_of("p", "boom"), after, "a removed reminder ticked");

    // A client-only node with the table registers for any actor; the
    // hosting node fires it.
    let client = node(&sim, "10.0.0.1:7001", &m, Some(&table), true).await;
    let r: Reminder = client
        .register_reminder::<Probe>("q", "from-client", Duration::ZERO, sec)
        .await
        .unwrap();
    assert_eq!(r.next_due, r.first_due);
    sim.sleep(2 * sec + Duration::from_millis(500)).await;
    assert!(ticks_of("q", "from-client") >= 2);
    let of_q = client
        .reminders_of(&ActorId::of::<Probe>("q"))
        .await
        .unwrap();
    assert!(of_q[0].delivered_through.is_some(), "{of_q:?}");

    // A type without a hook: its ticks are dropped with a warning, the
    // reminder stays and nothing breaks.
    client
        .register_reminder::<Hookless>("h", "unheard", Duration::ZERO, sec)
        .await
        .unwrap();
    sim.sleep(3 * sec).await;
    let hookless = client
        .reminders_of(&ActorId::of::<Hookless>("h"))
        .await
        .unwrap();
    assert!(hookless[0].delivered_through.is_some(), "{hookless:?}");
    assert!(host.actor::<Hookless>("h").ping().await.unwrap());
    assert_eq!(host.reminders_fired_here(), 3);

    // A node without a reminder table says so, in words.
    let bare = node(&sim, "10.0.0.1:7002", &m, None, true).await;
    let e = bare
        .register_reminder::<Probe>("p", "x", sec, sec)
        .await
        .unwrap_err();
    assert_eq!(e, ReminderError::NotConfigured);
    assert!(e.to_string().contains("NodeBuilder::reminders"), "{e}");
    assert_eq!(
        bare.reminders_of(&ActorId::of::<Probe>("p"))
            .await
            .unwrap_err(),
        ReminderError::NotConfigured
    );
    // The table is the truth: what was registered is there.
    let rows = table.read_actor(&ActorId::of::<Probe>("p")).await.unwrap();
    assert_eq!(rows.len(), 1);
}
