use moonpool::ActorContext;
use moonpool::reminder::{ReminderTick, TickStatus};

#[moonpool::actor]
#[derive(Default)]
pub struct Loan {
    ticks: Vec<ReminderTick>,
}

#[moonpool::actor_impl]
impl Loan {
    pub async fn ticks(&self) -> usize {
        self.ticks.len()
    }

    async fn on_reminder(&mut self, _ctx: &ActorContext, tick: ReminderTick) {
        if let TickStatus::Late { by } = tick.status {
            let _ = by;
        }
        self.ticks.push(tick);
    }
}

fn main() {}
