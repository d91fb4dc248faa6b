//! Every membership table keeps the same contract (`node::conformance`):
//! PostgreSQL's here (feature `postgres`, against the server named by
//! `MOONPOOL_POSTGRES_URL`); the in-memory table's is a unit test beside
//! it (`node::membership`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
#![cfg(feature = "postgres")]

use std::sync::Arc;

use moonpool_core::node::MembershipTable;
use moonpool_core::node::conformance::check_membership;
use moonpool_sim::BoxFuture;

mod postgres {
    use super::*;
    use moonpool_core::node::PostgresMembership;
    use moonpool_core::postgres::{Postgres, PostgresConfig};
    use std::sync::Mutex;

    #[test]
    fn postgres_membership_keeps_the_contract() {
        let Some(url) = common::postgres_url() else {
            return;
        };
        // Each case gets a schema of its own (an empty table), dropped after.
        let schemas: Arc<Mutex<Vec<String>>> = Arc::default();
        let (u, s) = (url.clone(), Arc::clone(&schemas));
        common::with_schema(&url, "membership", move |_db| async move {
            let make = move || -> BoxFuture<'static, Arc<dyn MembershipTable>> {
                let (url, schemas) = (u.clone(), Arc::clone(&s));
                Box::pin(async move {
                    let n = schemas.lock().unwrap().len();
                    let schema = format!("{}_{n}", common::scratch_schema("m"));
                    schemas.lock().unwrap().push(schema.clone());
                    let config = PostgresConfig::new(url, "tests").schema(schema);
                    let db = Postgres::connect(moonpool_sim::Providers::tokio().unwrap(), config)
                        .await
                        .unwrap();
                    Arc::new(PostgresMembership::new(&db)) as Arc<dyn MembershipTable>
                })
            };
            check_membership(&make).await.unwrap();
        });
        for schema in schemas.lock().unwrap().iter() {
            common::drop_schema(&url, schema);
        }
    }

    // Real connections, outside any simulation: real time and tasks.
    #[allow(dead_code, clippy::disallowed_methods)]
    mod common {
        include!("common/postgres.rs");
    }
}
