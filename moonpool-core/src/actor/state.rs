//! An actor's persisted state, loaded for its activation: the activation
//! is the state's owner (it runs no further turn while the state is
//! unsure).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::ActorContext;
use crate::state::{Persisted, StorageError};

impl<S: Serialize + DeserializeOwned + Default> Persisted<S> {
    /// Loads the activation's state (the default when nothing is stored).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotConfigured`] without storage; the storage's error
    /// otherwise (the activation then fails, and its caller is told).
    pub async fn load(ctx: &ActorContext) -> Result<Self, StorageError> {
        let storage = ctx
            .runtime()
            .and_then(|rt| rt.storage())
            .ok_or(StorageError::NotConfigured)?;
        let state = Self::load_from(ctx.id().clone(), storage).await?;
        Ok(state.owned_by(ctx.state_owner()))
    }
}
