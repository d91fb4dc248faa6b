// A handler's argument and reply types may have the names of the methods:
// `deposit(Deposit) -> Receipt` next to `receipt() -> Receipt`, and a
// `Statement` returned by `statement()`. The generated messages must not
// shadow them.
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Deposit {
    pub amount: u64,
}

#[derive(Serialize, Deserialize, Default, Clone)]
pub struct Receipt {
    pub total: u64,
}

#[derive(Serialize, Deserialize)]
pub struct Statement(pub Vec<u64>);

#[moonpool::actor]
#[derive(Default)]
pub struct Account {
    last: Receipt,
    seen: Vec<u64>,
}

#[moonpool::actor_impl]
impl Account {
    pub async fn deposit(&mut self, deposit: Deposit) -> Receipt {
        self.last.total += deposit.amount;
        self.seen.push(deposit.amount);
        self.last.clone()
    }

    pub async fn receipt(&self) -> Receipt {
        self.last.clone()
    }

    pub async fn statement(&self) -> Statement {
        Statement(self.seen.clone())
    }
}

fn main() {
    let _ = |a: AccountRef| async move {
        let r: Receipt = a.deposit(Deposit { amount: 1 }).await.unwrap();
        let s: Statement = a.statement().await.unwrap();
        let _ = (r.total, s.0, a.receipt().await);
    };
}
