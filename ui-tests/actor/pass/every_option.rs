use moonpool::prelude::*;

#[moonpool::actor(name = "Wire", placement = "prefer_local", idle_timeout = "90s")]
#[derive(Default)]
pub struct Named {
    n: u64,
}

#[moonpool::actor_impl]
impl Named {
    /// Docs are carried over.
    pub async fn bump(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }

    #[one_way]
    pub async fn poke(&mut self) {}

    #[reentrant]
    pub async fn peek(&self) -> u64 {
        self.n
    }

    pub async fn with_ctx(&self, ctx: &ActorContext) -> String {
        ctx.id().key.to_string()
    }

    pub async fn unit(&self) {}

    pub async fn explicit_unit(&self) -> () {}

    fn private_helper(&self) -> u64 {
        self.n
    }

    pub fn associated() -> u8 {
        7
    }

    async fn on_activate(&mut self, _ctx: &ActorContext) {}

    async fn on_deactivate(&mut self, _ctx: &ActorContext) {}
}

#[moonpool::actor(placement = "least_loaded")]
#[derive(Default)]
struct Private;

#[moonpool::actor_impl]
impl Private {
    pub async fn ping(&self) -> bool {
        true
    }
}

#[moonpool::actor(placement = "consistent_hash", reentrant)]
#[derive(Default)]
pub struct Reentrant;

#[moonpool::actor_impl]
impl Reentrant {
    pub async fn read(&self, keys: Vec<String>) -> Option<String> {
        keys.into_iter().next()
    }

    pub async fn write(&mut self, _value: (u8, String)) {}
}

#[moonpool::actor(state, placement = "random")]
pub struct Stored {
    #[state]
    total: Persisted<Vec<u32>>,
    scratch: String,
}

#[moonpool::actor_impl]
impl Stored {
    pub async fn push(&mut self, v: u32) -> Result<usize, String> {
        self.total.push(v);
        self.scratch.clear();
        self.total.save().await.map_err(|e| e.to_string())?;
        Ok(self.total.len())
    }
}

/// The generated reference has one typed method per handler.
#[allow(dead_code)]
async fn use_refs(n: NamedRef, r: ReentrantRef, s: StoredRef, p: PrivateRef) -> Result<(), CallError> {
    let _: u64 = n.bump(1).await?;
    n.poke().await?;
    let _: u64 = n.peek().await?;
    let _: String = n.with_ctx().await?;
    n.unit().await?;
    n.explicit_unit().await?;
    let _: Option<String> = r.read(vec!["k".to_string()]).await?;
    r.write((1, "v".to_string())).await?;
    let _: Result<usize, String> = s.push(3).await?;
    let _: bool = p.ping().await?;
    Ok(())
}

fn main() {
    assert_eq!(Named::associated(), 7);
    assert_eq!(<Named as Actor>::TYPE_NAME, "Wire");
    assert_eq!(<Private as Actor>::TYPE_NAME, "Private");
}
