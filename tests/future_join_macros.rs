//! `join!`, `try_join!`, `select!` and `future::join`/`join3`: futures of different types
//! without boxing or `'static`, fail-fast drops, patterns, `else`, `biased;`, fairness,
//! losers dropped, panics reaching the `JoinHandle`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::net::{TcpListener, TcpStream};
use ringcore::time::{sleep, timeout};

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A future that never completes and sets `flag` when it is dropped.
async fn pending_with_flag(flag: Rc<Cell<bool>>) -> u32 {
    let _guard = DropFlag(flag);
    std::future::pending::<u32>().await
}

/// A connected TCP pair on loopback.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, connected) = ringcore::join!(listener.accept(), TcpStream::connect(addr));
    (accepted.unwrap().0, connected.unwrap())
}

#[test]
fn join_macro_awaits_a_sleep_a_timeout_and_a_socket_read_together() {
    ringcore::block_on(async {
        let (server, client) = tcp_pair().await;
        let started = Instant::now();
        let (slept, timed, (read, buf)) = ringcore::join!(
            async {
                sleep(Duration::from_millis(30)).await;
                "slept"
            },
            timeout(Duration::from_secs(5), async {
                sleep(Duration::from_millis(30)).await;
                let (res, _) = client.write_all(b"ping" as &'static [u8]).await;
                res.map(|()| 4usize)
            }),
            server.read(vec![0u8; 16]),
        );
        // Concurrent, not one after the other.
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(slept, "slept");
        assert_eq!(timed.unwrap().unwrap(), 4);
        let n = read.unwrap();
        assert_eq!(&buf[..n], b"ping");
    });
}

#[test]
fn join_macro_borrows_locals() {
    ringcore::block_on(async {
        let mut total = 0u32;
        let words = ["a".to_string(), "bb".to_string()];
        let (first, lens) = ringcore::join!(
            async {
                total += 1; // a mutable borrow of a local
                &words[0]
            },
            async { words.iter().map(String::len).sum::<usize>() },
        );
        assert_eq!((first.as_str(), lens, total), ("a", 3, 1));
        let single: (u8,) = ringcore::join!(async { 5 });
        assert_eq!(single, (5,));
    });
}

#[test]
fn try_join_macro_returns_all_values_in_order() {
    ringcore::block_on(async {
        let out = ringcore::try_join!(
            async {
                sleep(Duration::from_millis(10)).await;
                Ok::<_, String>(1u8)
            },
            async { Ok("two") },
            async {
                let v = timeout(Duration::from_secs(5), async { 3.0 }).await;
                v.map_err(|e| e.to_string())
            },
        );
        assert_eq!(out, Ok((1, "two", 3.0)));
    });
}

#[test]
fn try_join_macro_drops_the_rest_on_the_first_error() {
    ringcore::block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let started = Instant::now();
        let out = ringcore::try_join!(
            async {
                pending_with_flag(dropped.clone()).await;
                Ok(())
            },
            async {
                sleep(Duration::from_millis(5)).await;
                Err::<(), _>("refused")
            },
        );
        assert_eq!(out, Err("refused"));
        // Dropped before try_join! returned, not when the test ends.
        assert!(dropped.get());
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn join_functions_return_named_futures() {
    ringcore::block_on(async {
        let local = String::from("x");
        let fut: ringcore::future::Join<_, _> =
            ringcore::future::join(async { local.len() }, sleep(Duration::from_millis(1)));
        assert_eq!(fut.await, (1, ()));
        let three = ringcore::future::join3(async { 1 }, async { 'b' }, async { "c" }).await;
        assert_eq!(three, (1, 'b', "c"));
    });
}

#[test]
fn select_macro_runs_the_first_branch_and_drops_the_losers() {
    ringcore::block_on(async {
        let loser_a = Rc::new(Cell::new(false));
        let loser_b = Rc::new(Cell::new(false));
        let winner = ringcore::select! {
            n = pending_with_flag(loser_a.clone()) => n,
            _ = sleep(Duration::from_millis(5)) => {
                // The losers are dropped before the handler runs.
                assert!(loser_a.get() && loser_b.get());
                7
            }
            n = pending_with_flag(loser_b.clone()) => n,
        };
        assert_eq!(winner, 7);
    });
}

#[test]
fn select_macro_disables_a_branch_whose_pattern_does_not_match() {
    ringcore::block_on(async {
        let out = ringcore::select! {
            Some(v) = async { None::<String> } => v,
            Ok(mut s) = async {
                sleep(Duration::from_millis(5)).await;
                Ok::<_, ()>(String::from("late"))
            } => {
                s.push('!');
                s
            }
        };
        assert_eq!(out, "late!");
        // Nested groups, `ref` and a tuple pattern.
        let out = ringcore::select! {
            (Some(ref a), [_, b]) = async { (Some(1u8), [2u8, 3]) } => (*a, b),
        };
        assert_eq!(out, (1, 3));
    });
}

#[test]
fn select_macro_else_runs_when_every_branch_is_disabled() {
    ringcore::block_on(async {
        let never_polled = Rc::new(Cell::new(false));
        let out = ringcore::select! {
            Some(x) = async { None::<u32> } => x,
            x = async {
                never_polled.set(true);
                1
            }, if false => x,
            else => 99,
        };
        assert_eq!(out, 99);
        assert!(
            !never_polled.get(),
            "a disabled branch's future is not polled"
        );
    });
}

#[test]
#[should_panic(expected = "all branches are disabled and there is no `else` branch")]
fn select_macro_without_else_panics_when_every_branch_is_disabled() {
    ringcore::block_on(async {
        ringcore::select! {
            Some(x) = async { None::<u32> } => x,
        }
    });
}

#[test]
fn select_macro_biased_polls_top_to_bottom() {
    ringcore::block_on(async {
        for _ in 0..50 {
            let first = ringcore::select! {
                biased;
                _ = async {} => 0,
                _ = async {} => 1,
                _ = async {} => 2,
            };
            assert_eq!(first, 0);
        }
    });
}

#[test]
fn select_macro_without_biased_does_not_starve_a_branch() {
    ringcore::block_on(async {
        let mut wins = [0u32; 3];
        for _ in 0..300 {
            let i = ringcore::select! {
                _ = async {} => 0,
                _ = async {} => 1,
                _ = async {} => 2,
            };
            wins[i] += 1;
        }
        // Each always-ready branch wins about a third of the time.
        for w in wins {
            assert!(w > 50, "wins {wins:?}");
        }
    });
}

#[test]
fn select_macro_in_a_loop_over_a_channel_and_a_timer() {
    ringcore::block_on(async {
        let (tx, mut rx) = ringcore::channel::channel::<u32>(4);
        let producer = ringcore::spawn(async move {
            for n in 1..=5 {
                tx.send(n).await.unwrap();
                sleep(Duration::from_millis(2)).await;
            }
            // tx dropped: recv() gives None.
        });
        let mut ticks = ringcore::time::interval(Duration::from_millis(1));
        let (mut sum, mut tick_count) = (0, 0);
        loop {
            ringcore::select! {
                msg = rx.recv() => match msg {
                    Some(n) => sum += n,
                    None => break,
                },
                _ = ticks.tick() => {
                    tick_count += 1;
                    continue;
                }
            }
        }
        producer.await.unwrap();
        assert_eq!(sum, 15, "a dropped recv() loses no message");
        assert!(tick_count > 0);
    });
}

#[test]
fn select_macro_handler_can_return_and_use_question_mark() {
    async fn first_line(fail: bool) -> Result<u32, String> {
        ringcore::select! {
            r = async { if fail { Err("bad".to_string()) } else { Ok(3) } } => {
                let v: u32 = r?;
                return Ok(v * 2);
            }
            _ = sleep(Duration::from_secs(60)) => {}
        }
        Ok(0)
    }
    ringcore::block_on(async {
        assert_eq!(first_line(false).await, Ok(6));
        assert_eq!(first_line(true).await, Err("bad".to_string()));
    });
}

#[test]
fn select_macro_precondition_turns_a_branch_off() {
    ringcore::block_on(async {
        let mut budget = 2;
        let mut got = Vec::new();
        while got.len() < 4 {
            let v = ringcore::select! {
                biased;
                v = async { 1 }, if budget > 0 => {
                    budget -= 1;
                    v
                }
                v = async { 2 } => v,
            };
            got.push(v);
        }
        assert_eq!(got, [1, 1, 2, 2]);
    });
}

#[test]
fn a_panic_in_a_branch_future_reaches_the_join_handle() {
    ringcore::block_on(async {
        let select_task = ringcore::spawn(async {
            ringcore::select! {
                _ = async { panic!("branch blew up") } => 0,
                _ = sleep(Duration::from_secs(60)) => 1,
            }
        });
        let err = select_task.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("branch blew up"), "{err}");

        let join_task = ringcore::spawn(async {
            ringcore::join!(async { panic!("joined blew up") }, async { 1 })
        });
        let err = join_task.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("joined blew up"), "{err}");
    });
}
