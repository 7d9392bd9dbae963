//! The simulation's engine: making a host's core current, starting a host, one step of the
//! run loop (the loop the module header draws), and the reports a stopped run gives. The
//! harness's configuration and commands (`Sim`'s public methods) are in src/sim/mod.rs.

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

    /// Builds host `i`'s core over a simulation ring and spawns its entry.
    #[track_caller]
    pub(super) fn start(&mut self, i: usize) -> Result<(), SimError> {
        let location = Location::caller();
        let _active = self.activate()?;
        let ring = SimRing::new(self.world.clone(), i);
        let driver = Driver::new(Box::new(ring), crate::driver::sim::features());
        // Every op goes through the ring: no inline syscall on a simulated fd.
        driver.set_inline_per_tick(0);
        let blocking = BlockingPool::new(1, Duration::from_secs(1));
        let core =
            Core::new(driver, crate::DriverKind::Auto, 61, blocking).map_err(SimError::Io)?;
        let core = Rc::new(core);
        {
            self.world.borrow_mut().current_host = i;
            let _enter = context::enter(&core);
            let entry = (self.hosts[i].entry)();
            drop(core.spawn(entry, Some(self.hosts[i].name.clone().into()), location));
            core.driver.flush();
        }
        self.hosts[i].core = Some(core);
        let mut w = self.world.borrow_mut();
        let (now, incarnation) = (w.now, w.hosts[i].incarnation);
        w.trace
            .record(now, i, Kind::Start, i64::from(incarnation), 0);
        Ok(())
    }

    /// One step: run one ready task (host and task picked by the seed), or move the clock
    /// to the next timer or due op (not past `until`) and deliver what is due.
    pub(super) fn step(&mut self, until: Option<Duration>) -> Result<Step, SimError> {
        let ready: Vec<usize> = (0..self.hosts.len())
            .filter(|&i| {
                self.hosts[i]
                    .core
                    .as_ref()
                    .is_some_and(|c| c.executor.has_ready())
            })
            .collect();
        if !ready.is_empty() {
            let pick = self.world.borrow_mut().rng.usize(..ready.len());
            let i = ready[pick];
            let Some(core) = self.hosts[i].core.clone() else {
                return Ok(Step::Ran);
            };
            let ran = {
                self.world.borrow_mut().current_host = i;
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
                w.trace.record(now, i, Kind::Poll, index as i64, n as i64);
            }
            return Ok(Step::Ran);
        }
        let next_timer = self
            .hosts
            .iter()
            .filter_map(|h| h.core.as_ref()?.timers.next_deadline())
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
        for (i, host) in self.hosts.iter().enumerate() {
            let Some(core) = &host.core else { continue };
            let due = core.timers.next_deadline().is_some_and(|t| t <= now);
            let cqes = std::mem::take(&mut self.world.borrow_mut().hosts[i].has_cqes);
            if due || cqes {
                self.world.borrow_mut().current_host = i;
                let _enter = context::enter(core);
                if due {
                    core.timers.fire(now);
                }
                settle(core);
            }
        }
        Ok(Step::Advanced)
    }

    pub(super) fn report(&self) -> String {
        let mut out = String::new();
        for host in &self.hosts {
            match &host.core {
                None => out.push_str(&format!("host {:?}: crashed\n", host.name)),
                Some(core) => {
                    let tasks = core.executor.describe_tasks();
                    out.push_str(&format!(
                        "host {:?}: {} live tasks, {} ops in flight, {}\n",
                        host.name,
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
}

/// Stops a host's core: cancels its tasks and ops (the core must not be current).
pub(super) fn stop(core: &Rc<Core>) {
    let _enter = context::enter(core);
    core.shutdown();
}
