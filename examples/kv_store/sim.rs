//! The `sim` subcommand (feature `sim`): the unmodified server and checking workload on
//! simulated hosts (`ringcore::sim`), one seed per run.
//!
//! Each seed builds a `db` host running `server::serve` (data in `/data`, listening on
//! port 5432, compacting every 4 KiB of log so compaction is exercised) and a `client`
//! host running three checking clients (`workload::run_client` against `db:5432`, 60
//! operations each over 4 keys, then `workload::check_all`). Meanwhile the harness, with
//! choices drawn from the seed, lets the simulation run 5-200 ms at a time and then
//! either crashes the server (losing or tearing what it had not synced) and restarts it
//! 0-100 ms later, or cuts the network between the hosts for 10-300 ms, or does nothing.
//! A seed fails when a client reports a violation of the contract (an acknowledged write
//! lost, a read gone back in time, a value never written), when the workload does not
//! finish within 10 virtual minutes, or when the simulation itself fails (a deadlock).
//!
//! ```text
//! kv_store sim --seeds N [--bug B]   runs seeds 0..N; ends with
//!                                    `seeds N, failed F, first failing seed S, trace hash H`
//! kv_store sim --seed S [--bug B]    replays seed S: `seed S, failed true|false, trace hash H`
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ringcore::sim::{Sim, run_seeds};

use super::app::check::Model;
use super::app::server::{Bug, Config};
use super::app::{server, workload};

/// Checking clients, operations per client and keys per client.
const CLIENTS: u32 = 3;
const OPS: u64 = 60;
const SLOTS: u32 = 4;

/// How long a seed may take in virtual time before it counts as failed.
const BUDGET: Duration = Duration::from_secs(600);

/// `sim --seeds N [--bug B]` or `sim --seed S [--bug B]`.
pub(crate) fn command(args: &[String], usage: fn() -> !) {
    let (mut seeds, mut seed, mut bug) = (None, None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--seeds" => seeds = Some(value.parse::<u64>().unwrap_or_else(|_| usage())),
            "--seed" => seed = Some(value.parse::<u64>().unwrap_or_else(|_| usage())),
            "--bug" => bug = Some(Bug::parse(value).unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    match (seeds, seed) {
        (Some(n), None) => {
            let report = run_seeds(0..n, |sim| scenario(sim, bug));
            if let Some((seed, why)) = &report.first_failure {
                println!("seed {seed} failed: {why}");
                let flag = bug.map_or(String::new(), |b| format!(" --bug {}", bug_name(b)));
                println!(
                    "replay: cargo run --release --features sim --example kv_store -- sim --seed {seed}{flag}"
                );
            }
            println!("{report}");
        }
        (None, Some(seed)) => {
            let mut sim = Sim::new(seed);
            let result = scenario(&mut sim, bug);
            if let Err(why) = &result {
                println!("seed {seed} failed: {why}");
            }
            println!(
                "seed {seed}, failed {}, trace hash {:016x}",
                result.is_err(),
                sim.trace_hash()
            );
        }
        _ => usage(),
    }
}

/// The `--bug` argument that plants `bug`.
fn bug_name(bug: Bug) -> &'static str {
    match bug {
        Bug::AckBeforeFsync => "ack-before-fsync",
        Bug::ApplyBeforeLog => "apply-before-log",
    }
}

/// One seed: see the module docs.
fn scenario(sim: &mut Sim, bug: Option<Bug>) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::new("/data", "0.0.0.0:5432");
    config.bug = bug;
    config.compact_bytes = 4096;
    sim.host("db", move || {
        let config = config.clone();
        async move {
            // A storage failure stops the server (exit status 1 in a real process).
            let _ = server::serve(config).await;
        }
    })?;
    let outcome = Rc::new(RefCell::new(None));
    let out = outcome.clone();
    sim.host("client", move || {
        let out = out.clone();
        async move {
            let model = RefCell::new(Model::new("k"));
            let runs = (0..CLIENTS).map(|c| {
                let model = &model;
                async move {
                    let mut rng = ringcore::sim::rng();
                    let mut random = move || rng.u64(..);
                    workload::run_client("db:5432", c, CLIENTS, SLOTS, OPS, model, &mut random)
                        .await
                }
            });
            let mut result = Ok(());
            for r in ringcore::future::join_all(runs).await {
                if let Err(v) = r {
                    result = Err(v.to_string());
                }
            }
            if result.is_ok()
                && let Err(v) = workload::check_all("db:5432", &model).await
            {
                result = Err(v.to_string());
            }
            *out.borrow_mut() = Some(result);
        }
    })?;
    let mut random = xorshift(sim.seed());
    loop {
        sim.run_for(Duration::from_millis(5 + random() % 195))?;
        if let Some(result) = outcome.borrow_mut().take() {
            return result.map_err(Into::into);
        }
        if sim.elapsed() > BUDGET {
            return Err(format!("the workload did not finish in {BUDGET:?} (virtual)").into());
        }
        match random() % 4 {
            0 => {
                sim.crash("db")?;
                sim.run_for(Duration::from_millis(random() % 100))?;
                sim.restart("db")?;
            }
            1 => {
                sim.partition(&["client"], &["db"])?;
                sim.run_for(Duration::from_millis(10 + random() % 290))?;
                sim.heal();
            }
            _ => {}
        }
    }
}

/// The harness's own choices, a xorshift64* stream seeded by the simulation's seed.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}
