//! What a test does to its simulated cluster: start processes, kill and
//! restart them, partition and heal the network.

use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;

use super::config::ProcessId;
use super::network::{process_ip, with_net};
use super::trace::TraceEvent;
use super::world::{StartFn, World, with_world};
use super::{SimContext, SimError};

impl SimContext {
    /// Starts a process named `name` running `start` with the process's own
    /// providers (its tasks, its network address, its disk). `start` runs
    /// again on each [`SimContext::restart_process`].
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool::Simulation;
    /// use moonpool::sim::io::{AsyncReadExt, AsyncWriteExt};
    /// use std::net::SocketAddr;
    ///
    /// Simulation::new(1)
    ///     .run(|sim| async move {
    ///         let server = sim.start_process("echo", |p| async move {
    ///             let mut listener = p.bind("0.0.0.0:7000".parse().unwrap()).await.unwrap();
    ///             while let Ok((mut stream, _)) = listener.accept().await {
    ///                 p.spawn(async move {
    ///                     let mut buf = [0u8; 5];
    ///                     if stream.read_exact(&mut buf).await.is_ok() {
    ///                         let _ = stream.write_all(&buf).await;
    ///                     }
    ///                 });
    ///             }
    ///         });
    ///         sim.sleep(std::time::Duration::from_millis(1)).await;
    ///         let addr = SocketAddr::new(sim.ip_of(server), 7000);
    ///         let mut stream = sim.providers().connect(addr).await.unwrap();
    ///         stream.write_all(b"hello").await.unwrap();
    ///         let mut back = [0u8; 5];
    ///         stream.read_exact(&mut back).await.unwrap();
    ///         assert_eq!(&back, b"hello");
    ///     })
    ///     .unwrap();
    /// ```
    pub fn start_process<F, Fut>(&self, name: impl Into<String>, start: F) -> ProcessId
    where
        F: Fn(crate::Providers) -> Fut + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let start: StartFn = Rc::new(move |p| Box::pin(start(p)));
        let name = name.into();
        let pid = with_world(self.world_id, |w| {
            w.push_process(name, Some(Rc::clone(&start)))
        });
        self.run_start(pid, &start);
        pid
    }

    fn run_start(&self, pid: ProcessId, start: &StartFn) {
        let providers = self.providers_for(pid);
        let future = start(providers);
        self.spawn_in(pid, "start", future);
    }

    /// The simulated IP address of `process` (`10.0.x.y`).
    pub fn ip_of(&self, process: ProcessId) -> IpAddr {
        process_ip(process)
    }

    /// Kills `process` as a crash would: its tasks are dropped (their join
    /// handles report cancelled), its listeners close, its connections are
    /// reset (or, with the `half_open` fault family, left half-open for the
    /// peer to discover later), and its disk loses what was not synced.
    /// Returns how many tasks were dropped.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownProcess`] for an id this simulation never issued;
    /// [`SimError::CannotKillMain`] for [`ProcessId::MAIN`].
    pub fn kill_process(&self, process: ProcessId) -> Result<usize, SimError> {
        if process == ProcessId::MAIN {
            return Err(SimError::CannotKillMain);
        }
        let dropped = with_world(self.world_id, |w| {
            {
                let mut processes = w.processes.borrow_mut();
                let info = processes
                    .get_mut(process.0 as usize)
                    .ok_or(SimError::UnknownProcess(process))?;
                info.alive = false;
            }
            w.trace.record(TraceEvent::Kill, u64::from(process.0), 0);
            kill_network(w, process);
            w.crash_disk(process, false);
            Ok(w.tasks.borrow_mut().remove_process(process))
        })?;
        let count = dropped.len();
        // Dropped outside every borrow: destructors may reach the world.
        drop(dropped);
        Ok(count)
    }

    /// Restarts `process`: kills it if it is running, then runs its start
    /// function again with its disk as it survived the crash (synced data
    /// only).
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownProcess`]; [`SimError::NoStartFunction`] for a
    /// process made with [`SimContext::add_process`];
    /// [`SimError::CannotKillMain`] for the main process.
    pub fn restart_process(&self, process: ProcessId) -> Result<(), SimError> {
        let start = with_world(self.world_id, |w| {
            w.processes
                .borrow()
                .get(process.0 as usize)
                .map(|p| p.start.clone())
                .ok_or(SimError::UnknownProcess(process))
        })?
        .ok_or(SimError::NoStartFunction(process))?;
        if self.is_alive(process) {
            self.kill_process(process)?;
        }
        with_world(self.world_id, |w| {
            if let Some(info) = w.processes.borrow_mut().get_mut(process.0 as usize) {
                info.alive = true;
                info.incarnation += 1;
            }
            w.trace.record(TraceEvent::Spawn, u64::from(process.0), 1);
        });
        self.run_start(process, &start);
        Ok(())
    }

    /// Kills `process` and erases its disk entirely (a replaced machine).
    /// Restart it with [`SimContext::restart_process`].
    ///
    /// # Errors
    ///
    /// As [`SimContext::kill_process`].
    pub fn crash_and_wipe(&self, process: ProcessId) -> Result<usize, SimError> {
        let dropped = if self.is_alive(process) {
            self.kill_process(process)?
        } else {
            0
        };
        with_world(self.world_id, |w| w.crash_disk(process, true));
        Ok(dropped)
    }

    /// How many times `process` was restarted.
    pub fn incarnation(&self, process: ProcessId) -> Option<u32> {
        with_world(self.world_id, |w| {
            w.processes
                .borrow()
                .get(process.0 as usize)
                .map(|p| p.incarnation)
        })
    }

    /// Cuts the network between `a` and `b` in both directions. Bytes
    /// already sent wait, and flow again after [`SimContext::heal`];
    /// connects time out.
    pub fn partition(&self, a: ProcessId, b: ProcessId) {
        let (a, b) = (process_ip(a), process_ip(b));
        self.net(|w| {
            let mut net = w.net.borrow_mut();
            net.block(a, b);
            net.block(b, a);
        });
    }

    /// Cuts traffic from `from` to `to` only: `to` can still reach `from`.
    pub fn partition_one_way(&self, from: ProcessId, to: ProcessId) {
        let (from, to) = (process_ip(from), process_ip(to));
        self.net(|w| w.net.borrow_mut().block(from, to));
    }

    /// Cuts `process` off from every other process.
    pub fn isolate(&self, process: ProcessId) {
        let ip = process_ip(process);
        self.net(|w| w.net.borrow_mut().isolate(ip));
    }

    /// Restores traffic between `a` and `b` (both directions, and any
    /// isolation of either).
    pub fn heal(&self, a: ProcessId, b: ProcessId) {
        let (a, b) = (process_ip(a), process_ip(b));
        self.unblock(move |from, to| match to {
            Some(to) => (from == a && to == b) || (from == b && to == a),
            None => from == a || from == b,
        });
    }

    /// From now on, each disk operation of every process fails with this
    /// chance (clamped to `0.0..=1.0`; not a number counts as `0.0`), when
    /// the seed's `disk_errors` fault family is on: a disk that degrades
    /// mid-run, or a test that needs many failures. Starts as
    /// [`DiskConfig::error_probability`](crate::DiskConfig::error_probability).
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool::{Simulation, chaos::FaultConfig};
    ///
    /// let failures = Simulation::new(1)
    ///     .faults(FaultConfig { disk_errors: true, ..FaultConfig::calm() })
    ///     .run(|sim| async move {
    ///         sim.set_disk_error_probability(1.0);
    ///         let p = sim.providers();
    ///         p.write_atomically("f", b"x").await.is_err()
    ///     })
    ///     .unwrap()
    ///     .output;
    /// assert!(failures);
    /// ```
    pub fn set_disk_error_probability(&self, probability: f64) {
        let p = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        with_world(self.world_id, |w| w.disk_error_probability.set(p));
    }

    /// The number of simulated connections whose two ends both still
    /// exist (useful to check connection reuse).
    pub fn open_connections(&self) -> usize {
        with_world(self.world_id, |w| w.net.borrow().open_connections())
    }

    /// Restores every link.
    pub fn heal_all(&self) {
        self.unblock(|_, _| true);
    }

    fn unblock(&self, remove: impl FnMut(IpAddr, Option<IpAddr>) -> bool) {
        with_world(self.world_id, |w| {
            let now = w.now.get();
            with_net(w, |net, _wake| ((), net.unblock(remove, now)));
        });
    }

    fn net(&self, f: impl FnOnce(&World)) {
        with_world(self.world_id, f);
    }
}

/// The network side of a crash.
fn kill_network(w: &World, process: ProcessId) {
    let now = w.now.get();
    let (p, linger_max) = {
        let net = w.net.borrow();
        let max = u64::try_from(net.config.half_open_timeout_max.as_nanos()).unwrap_or(u64::MAX);
        (net.config.half_open_probability, max)
    };
    let half_open = w.chaos.faults.half_open;
    let mut rng = w.chaos.rng.borrow_mut();
    let decide = || (half_open && rng.chance(p)).then(|| 1_000_000 + rng.below(linger_max.max(1)));
    with_net(w, |net, wake| {
        ((), net.kill_process(process, decide, now, wake))
    });
}
