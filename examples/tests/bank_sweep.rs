//! Transfers whose clients died: clients start transfers and are then
//! killed for good, while bank nodes crash and links fail. Nobody asks for
//! those transfers again: the ledger shards' sweep reminders alone must
//! bring every one of them to its end, and the books must balance.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{ACCOUNTS, Backend, OPENING, account, books, conserve_money, start_cluster};
use moonpool::prelude::*;
use moonpool::reminder::{ReminderTable, RingRange, StorageReminderTable};
use moonpool::runtime::state::InMemoryStorage;
use moonpool_examples::bank::{Account, Phase, Transfer, ledger_key};

/// Clients start transfers and are then killed for good, while bank nodes
/// crash and links fail. Nobody asks for those transfers again: the
/// nodes' ledger sweep alone must bring every one of them to its end, and
/// the books must balance.
mod abandoned {
    use super::*;

    #[moonpool::sim_test(seeds = 300, coverage = "strict", coverage_of = ["bank_sweep::abandoned"])]
    async fn transfers_whose_clients_died_are_finished_by_the_sweep(sim: SimContext) {
        let store = InMemoryStorage::new();
        let backend = Backend::Audited(store.clone());
        let cluster = start_cluster(&sim, &backend);
        let p = sim.providers();
        conserve_money(&sim, &store);

        let opener = Node::builder("bank")
            .listen("10.0.0.1:7000".parse().unwrap())
            .providers(p.clone())
            .membership(cluster.table.clone())
            .client_only()
            .call_timeout(Duration::from_secs(3))
            .build()
            .await
            .unwrap();
        while opener.live_members().len() < 4 {
            sim.sleep(Duration::from_millis(50)).await;
        }
        for i in 0..ACCOUNTS {
            let a = opener.actor::<Account>(account(i));
            while !matches!(a.open(OPENING).await, Ok(Ok(_))) {
                sim.sleep(Duration::from_millis(100)).await;
            }
        }

        // Clients in a process of their own: each transfer is tried until
        // it ends — or until the process dies.
        let table = cluster.table.clone();
        let clients = sim.start_process("clients", move |p: Providers| {
            let table = table.clone();
            async move {
                let node = Node::builder("bank")
                    .listen(SocketAddr::new([0, 0, 0, 0].into(), 7000))
                    .providers(p.clone())
                    .membership(table)
                    .client_only()
                    .call_timeout(Duration::from_secs(3))
                    .build()
                    .await
                    .expect("client node starts");
                for c in 0..3u64 {
                    let (node, q) = (node.clone(), p.clone());
                    p.spawn(async move {
                        for k in 0..8u64 {
                            let from = q.random_below(ACCOUNTS as u64) as usize;
                            let to = (from + 1 + q.random_below(ACCOUNTS as u64 - 1) as usize)
                                % ACCOUNTS;
                            let amount = 1 + q.random_below(70) as i64;
                            let t = node.actor::<Transfer>((c * 1000 + k).to_string());
                            while !matches!(
                                t.execute(account(from), account(to), amount).await,
                                Ok(Ok(_))
                            ) {
                                q.sleep(Duration::from_millis(100)).await;
                            }
                        }
                    });
                }
                std::future::pending::<()>().await;
                drop(node);
            }
        });

        // The nemesis: the clients die for good; a bank node may crash or
        // be cut off meanwhile.
        sim.sleep(p.random_duration(Duration::from_millis(100), Duration::from_secs(3)))
            .await;
        match p.random_below(4) {
            0 | 1 => {
                let victim = cluster.node_pids[p.random_below(3) as usize];
                sim.kill_process(victim).unwrap();
                sim.sleep(p.random_duration(Duration::from_millis(100), Duration::from_secs(2)))
                    .await;
                sim.restart_process(victim).unwrap();
            }
            2 => {
                let victim = cluster.node_pids[p.random_below(3) as usize];
                sim.isolate(victim);
                sim.sleep(p.random_duration(Duration::from_millis(500), Duration::from_secs(3)))
                    .await;
                sim.heal_all();
            }
            _ => {}
        }
        sim.kill_process(clients).unwrap();
        let at_death = books(&store);
        let unfinished = at_death
            .transfers
            .values()
            .filter(|t| !matches!(t.phase, Phase::Done | Phase::Rejected))
            .count();
        moonpool::sometimes!(
            unfinished > 0,
            "transfers were left midway when their client died"
        );
        moonpool::sometimes!(
            at_death
                .transfers
                .values()
                .any(|t| t.phase == Phase::Debited),
            "a transfer was left debited but not credited"
        );

        // Heal, restart what fell, and wait: nobody calls the transfers.
        sim.heal_all();
        cluster.restart_the_fallen(&sim);
        let started = sim.now();
        loop {
            let now = books(&store);
            let open_ledger = now.open.len();
            let unended = now
                .transfers
                .values()
                .filter(|t| !matches!(t.phase, Phase::Done | Phase::Rejected))
                .count();
            if open_ledger == 0 && unended == 0 {
                break;
            }
            assert!(
                sim.now() - started < Duration::from_secs(120),
                "after 120 s, {unended} transfers have not ended and {open_ledger} are on the ledger"
            );
            cluster.restart_the_fallen(&sim);
            sim.sleep(Duration::from_millis(500)).await;
        }
        moonpool::sometimes!(
            unfinished > 0,
            "the sweep finished transfers whose client had died"
        );
        // The sweeps were reminders: the shard of every transfer that
        // started has one (registered before its order was written).
        let reminders = StorageReminderTable::new(Arc::new(store.clone()));
        let swept: std::collections::BTreeSet<String> = reminders
            .read_range(RingRange::WHOLE)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.entry.actor.key.to_string())
            .collect();
        for id in books(&store).transfers.keys() {
            assert!(
                swept.contains(&ledger_key(*id)),
                "transfer {id} started, but its ledger shard has no sweep reminder"
            );
        }

        // Exactly once, and nothing moved without a record.
        let end = books(&store);
        for (id, t) in &end.transfers {
            let debit = end.accounts[&t.from].applied.get(id).copied();
            let credit = end.accounts[&t.to].applied.get(id).copied();
            match t.phase {
                Phase::Done => assert_eq!(
                    (debit, credit),
                    (Some(-t.amount), Some(t.amount)),
                    "transfer {id}"
                ),
                Phase::Rejected => assert_eq!((debit, credit), (None, None), "transfer {id}"),
                other => panic!("transfer {id} is still {other:?}"),
            }
        }
        for (key, account) in &end.accounts {
            for id in account.applied.keys() {
                assert!(
                    end.transfers.contains_key(id),
                    "{key} applied transfer {id}, which has no record"
                );
            }
        }
        let total: i64 = end.accounts.values().map(|a| a.balance).sum();
        assert_eq!(total, ACCOUNTS as i64 * OPENING);
    }
}
