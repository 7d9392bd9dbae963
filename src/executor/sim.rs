//! The simulation's hook into the executor (feature `sim`): run one ready task chosen by
//! the simulation's seeded generator instead of the oldest (src/sim/, "The simulation
//! driver" in docs/architecture.md). Not used by a real runtime's tick.

use super::Executor;

impl Executor {
    /// Moves the remote queue into the local one, then runs the ready task at the index
    /// `pick(n)` returns for `n` ready tasks (deferred ones included; `pick` must return
    /// less than `n`). Returns `(index, n)`, or `None` when no task was ready.
    ///
    /// Jobs from other cores (`submit_to`, `spawn_on`: the only unregistered runnables
    /// queued here) keep their order, as a real core's FIFO keeps it: a pick that lands
    /// on a job runs the oldest queued job instead, and a job is never moved ahead of
    /// another.
    pub(crate) fn run_one_picked(
        &self,
        pick: impl FnOnce(usize) -> usize,
    ) -> Option<(usize, usize)> {
        self.remote.drain_into(&mut self.local.borrow_mut());
        self.release_deferred();
        let (runnable, index, n) = {
            let mut local = self.local.borrow_mut();
            let n = local.len();
            if n == 0 {
                return None;
            }
            let is_job = |r: &async_task::Runnable<super::TaskMeta>| r.metadata().key().is_none();
            let mut index = pick(n).min(n - 1);
            if is_job(&local[index]) {
                index = local.iter().position(is_job).unwrap_or(index);
            }
            let runnable = if local.back().is_some_and(is_job) {
                // Order-preserving: the last task is a job that must not overtake one.
                local.remove(index)?
            } else {
                // The last ready task takes the picked one's place: O(1), and as good a
                // queue for a seeded pick as any other order.
                local.swap_remove_back(index)?
            };
            (runnable, index, n)
        };
        self.run(runnable);
        Some((index, n))
    }

    /// True when a task is ready here or in the remote queue.
    pub(crate) fn has_ready(&self) -> bool {
        self.has_local() || self.remote.maybe_has_items()
    }

    /// Names and spawn locations of the live tasks, oldest slot first (a deadlock report).
    pub(crate) fn describe_tasks(&self) -> Vec<String> {
        self.registry.map_tasks(|_, meta| {
            format!(
                "task {:?} spawned at {}",
                meta.name().unwrap_or("<unnamed>"),
                meta.location()
            )
        })
    }
}
