//! The simulation's engine: making a host's core current, starting a host (all its
//! cores), one step of the run loop (the loop docs/architecture.md draws, "The simulation
//! driver"), and the reports a stopped run gives. The harness's configuration and commands
//! (`Sim`'s public methods) are in src/sim/mod.rs.

use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use super::trace::Kind;
use super::world::{Active, Event};
use super::{Sim, SimError, Step};
use crate::driver::Driver;
use crate::driver::sim::{SimRing, perform};
use crate::runtime::blocking::BlockingPool;
use crate::runtime::context;
use crate::runtime::core::Core;

impl Sim {
    pub(super) fn activate(&self) -> Result<Active, SimError> {
        if context::is_set() {
            return Err(SimError::Nested);
        }
        Ok(Active::enter(&self.world))
    }

    /// Builds host `i`'s cores, each over a simulation ring of its own, ties them
    /// together (`CoreId`s and the peer table) and spawns its entry on core 0.
    #[track_caller]
    pub(super) fn start(&mut self, i: usize) -> Result<(), SimError> {
        let location = Location::caller();
        let _active = self.activate()?;
        let n = self.hosts[i].cores;
        self.world.borrow_mut().hosts[i].cores = n;
        let cores: Vec<Rc<Core>> = (0..n)
            .map(|k| {
                let ring = SimRing::new(self.world.clone(), i, k);
                let driver = Driver::new(Box::new(ring), crate::driver::sim::features());
                // Every op goes through the ring: no inline syscall on a simulated fd.
                driver.set_inline_per_tick(0);
                let blocking = BlockingPool::new(1, Duration::from_secs(1));
                Rc::new(Core::simulated(driver, blocking))
            })
            .collect();
        crate::runtime::cores::place_simulated(&cores);
        {
            self.enter_core(i, 0);
            let _enter = context::enter(&cores[0]);
            let entry = (self.hosts[i].entry)();
            drop(cores[0].spawn(entry, Some(self.hosts[i].name.clone().into()), location));
            cores[0].driver.flush();
        }
        self.hosts[i].running = cores;
        let mut w = self.world.borrow_mut();
        let (now, incarnation) = (w.now, w.hosts[i].incarnation);
        w.trace
            .record(now, i, Kind::Start, i64::from(incarnation), 0);
        Ok(())
    }

    /// Tells the world which core is about to be made current.
    fn enter_core(&self, host: usize, core: usize) {
        let mut w = self.world.borrow_mut();
        w.current_host = host;
        w.current_core = core;
    }

    /// One step: run one ready task (host, core and task picked by the seed), or move the
    /// clock to the next timer or due op (not past `until`) and deliver what is due.
    pub(super) fn step(&mut self, until: Option<Duration>) -> Result<Step, SimError> {
        // The (host, core) pairs with a ready task, counted and then indexed: no `Vec`
        // allocated per step.
        let hosts = &self.hosts;
        let ready_pairs = || {
            hosts.iter().enumerate().flat_map(|(i, h)| {
                h.running
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.executor.has_ready())
                    .map(move |(k, _)| (i, k))
            })
        };
        let ready = ready_pairs().count();
        if ready > 0 {
            let pick = self.world.borrow_mut().rng.usize(..ready);
            let Some((i, k)) = ready_pairs().nth(pick) else {
                return Ok(Step::Ran);
            };
            let Some(core) = self.hosts[i].running.get(k).cloned() else {
                return Ok(Step::Ran);
            };
            let ran = {
                self.enter_core(i, k);
                let _enter = context::enter(&core);
                let world = &self.world;
                let ran = core
                    .executor
                    .run_one_picked(|n| world.borrow_mut().rng.usize(..n));
                settle(&core);
                ran
            };
            if let Some((index, n)) = ran {
                let mut w = self.world.borrow_mut();
                let now = w.now;
                if self.hosts[i].cores > 1 {
                    w.trace.record(now, i, Kind::Core, k as i64, 0);
                }
                w.trace.record(now, i, Kind::Poll, index as i64, n as i64);
            }
            // The task may have completed ops of the host's other cores (or of other
            // hosts) at once, without a clock move: their drivers take the CQEs now.
            self.settle_flagged(None);
            return Ok(Step::Ran);
        }
        let next_timer = self
            .hosts
            .iter()
            .flat_map(|h| h.running.iter())
            .filter_map(|c| c.timers.next_deadline())
            .min();
        let next_chaos = self.chaos.iter().map(|c| c.next).min();
        let next = {
            let w = self.world.borrow();
            let timer = next_timer.map(|t| w.since_start(t));
            [timer, w.next_due(), next_chaos]
                .into_iter()
                .flatten()
                .min()
        };
        let Some(next) = next else {
            return Ok(Step::Idle);
        };
        if until.is_some_and(|end| next > end) {
            return Ok(Step::Idle);
        }
        if next > self.time_limit {
            return Err(self.time_error());
        }
        if next_chaos == Some(next) {
            self.world.borrow_mut().advance(next);
            self.chaos_due()?;
            return Ok(Step::Advanced);
        }
        let now = {
            let mut w = self.world.borrow_mut();
            w.advance(next);
            while let Some(event) = w.pop_due() {
                match event {
                    Event::Sqe(p) => {
                        if p.incarnation != w.hosts[p.host].incarnation {
                            continue;
                        }
                        match perform(&mut w, p.host, &p.sqe) {
                            Some(res) => w.complete(p.host, p.sqe.user_data, res),
                            None => w.park(p.host, p.sqe),
                        }
                    }
                    Event::Net(packet) => crate::driver::sim::net::deliver(&mut w, packet),
                }
            }
            w.instant()
        };
        self.settle_flagged(Some(now));
        Ok(Step::Advanced)
    }

    /// For each host (by index) and each of its cores (in order): with `now`, fires the
    /// timers due by then; if the host has CQEs queued, or a timer fired, flushes and
    /// dispatches the core's driver.
    fn settle_flagged(&self, now: Option<std::time::Instant>) {
        if now.is_none() && !self.world.borrow().hosts.iter().any(|h| h.has_cqes) {
            return;
        }
        for (i, host) in self.hosts.iter().enumerate() {
            let cqes = {
                let mut w = self.world.borrow_mut();
                match w.hosts.get_mut(i) {
                    Some(h) => std::mem::take(&mut h.has_cqes),
                    None => false,
                }
            };
            for (k, core) in host.running.iter().enumerate() {
                let due =
                    now.is_some_and(|now| core.timers.next_deadline().is_some_and(|t| t <= now));
                if due || cqes {
                    self.enter_core(i, k);
                    let _enter = context::enter(core);
                    if let (true, Some(now)) = (due, now) {
                        core.timers.fire(now);
                    }
                    settle(core);
                }
            }
        }
    }

    /// What every host still holds: per core, its live tasks, ops in flight and timers.
    pub(super) fn report(&self) -> String {
        let mut out = String::new();
        for host in &self.hosts {
            if host.running.is_empty() {
                out.push_str(&format!("host {:?}: crashed\n", host.name));
                continue;
            }
            for (k, core) in host.running.iter().enumerate() {
                let tasks = core.executor.describe_tasks();
                let which = if host.cores > 1 {
                    format!("host {:?} core {k}", host.name)
                } else {
                    format!("host {:?}", host.name)
                };
                out.push_str(&format!(
                    "{which}: {} live tasks, {} ops in flight, {}\n",
                    tasks.len(),
                    core.driver.in_flight(),
                    if core.timers.is_empty() {
                        "no timer"
                    } else {
                        "timers set"
                    }
                ));
                for t in tasks {
                    out.push_str(&format!("  {t}: waiting\n"));
                }
            }
        }
        out
    }

    pub(super) fn time_error(&self) -> SimError {
        SimError::TimeLimit {
            seed: self.seed(),
            limit: self.time_limit,
        }
    }

    pub(super) fn step_error(&self) -> SimError {
        SimError::StepLimit {
            seed: self.seed(),
            steps: self.step_limit,
        }
    }
}

/// After a task ran or something was delivered: submit what the core queued, take its
/// completions and wake their tasks.
pub(super) fn settle(core: &Core) {
    core.driver.flush();
    core.driver.dispatch();
    // What `dispatch` ran may have queued SQEs (a send queue's continuation starts the next
    // send): submit them now, as a real core's next enter would, or nothing would.
    core.driver.flush();
}

/// Stops a host's cores, core 0 first: cancels their tasks and ops (no core may be
/// current), then closes their remote queues, so a late job or wake from a sibling (a
/// task dropped on one core holding a waker of another) is dropped, not queued.
pub(super) fn stop(cores: &[Rc<Core>]) {
    for core in cores {
        let _enter = context::enter(core);
        core.shutdown();
    }
    for core in cores {
        core.executor.remote().close();
    }
}

#[cfg(test)]
mod tests {
    use super::super::Sim;
    use crate::CoreId;

    /// Wakes and jobs between the cores of a host go through their remote queues and
    /// never unpark (a real runtime's unpark writes an eventfd; a simulated core has none).
    #[test]
    fn cross_core_wakes_never_unpark() {
        let mut sim = Sim::new(4);
        sim.host_cores("h", 3, || async {}).unwrap();
        let sum = sim
            .run_until("h", async {
                let (tx, mut rx) = crate::channel::channel::<u32>(1);
                for core in 1..3 {
                    let tx = tx.clone();
                    drop(crate::spawn_on(CoreId::new(core), move || async move {
                        for i in 0..50 {
                            tx.send(i).await.unwrap();
                        }
                    }));
                }
                drop(tx);
                let mut sum = 0;
                while let Some(i) = rx.recv().await {
                    sum += i;
                }
                sum
            })
            .unwrap();
        assert_eq!(sum, 2 * (0..50).sum::<u32>());
        for core in &sim.hosts[0].running {
            assert_eq!(core.executor.remote().unparks(), 0);
        }
    }
}
