//! `select!`: wait for the first of several branches, each with its own future type, and
//! run that branch's handler (asyncio's `wait(..., return_when=FIRST_COMPLETED)` with a
//! `match` on the winner).
//!
//! How the macro is built (all `macro_rules!`, no proc macro):
//!
//! 1. `__select_parse!` reads one branch at a time: the pattern token by token up to its
//!    `=` (so it can be rewritten in step 3), then `future`, an optional `, if cond` and
//!    the handler. Each branch becomes a record `[fut out on (cond) (pattern) (future)
//!    {handler}]`; the three names are written by the arm that builds the record, so
//!    hygiene makes them new variables in each expansion (no index needed).
//! 2. `__select_expand!` evaluates the preconditions, then the futures, pins them on the
//!    stack and polls the enabled ones in turn, starting at a rotating branch (or the first,
//!    with `biased;`). A finished future whose output does not match its pattern disables
//!    its branch; one that matches stores its output and ends the polling.
//! 3. The match test runs on a reference to the output (the value is still needed), with
//!    the pattern's `mut` and `ref` taken out by `__select_matches!`.
//! 4. The futures are dropped, then the winner's output is matched by value against its
//!    pattern and the handler runs outside any loop of the macro, so `break`, `continue`,
//!    `return`, `?` and `.await` in a handler act on the caller's code.

/// Waits on several branches concurrently and runs the handler of the first to complete
/// with a value that matches its pattern; the other branches' futures are dropped.
///
/// ```text
/// ringcore::select! {
///     [biased;]
///     <pattern> = <future> [, if <precondition>] => <handler>,
///     ...
///     [else => <fallback>]
/// }
/// ```
///
/// The shape is tokio's `select!`, and so is the order of events:
///
/// 1. every `<precondition>` is evaluated; a branch whose precondition is `false` is
///    disabled for this `select!` (its future is still created, but never polled);
/// 2. every `<future>` (anything [`IntoFuture`](std::future::IntoFuture)) is evaluated,
///    in order, and pinned in place: no boxing, no `'static`, borrows of locals are fine;
/// 3. the enabled futures are polled on the current task until one completes. If its
///    output matches its `<pattern>`, that branch wins; if not, the branch is disabled
///    and the others go on;
/// 4. all futures are dropped, then the winner's `<handler>` runs with the pattern's
///    bindings, and its value is the value of the `select!`. `break`, `continue`,
///    `return`, `?` and `.await` in a handler act on the surrounding code;
/// 5. if every branch is disabled, the `else` fallback runs instead.
///
/// Every handler (and `else`) must have the same type. Usable only inside `async` code.
///
/// # Fairness
///
/// Without `biased;`, polling starts at a different branch each time (a per-thread
/// xorshift), so a branch that is always ready cannot starve the others. With `biased;`
/// the branches are polled top to bottom, which is useful to give a shutdown signal
/// priority, and costs a random number less.
///
/// # Panics
///
/// If every branch is disabled and there is no `else`. A panic inside a branch's future
/// or handler propagates to the caller, as any panic in a task does (a spawned task's
/// [`JoinHandle`](crate::JoinHandle) reports [`JoinError::Panic`](crate::JoinError::Panic)).
///
/// # Cancel safety
///
/// The losing branches' futures are **dropped** when the winner is found (and all of them
/// if the enclosing future is dropped). Whether a dropped future loses anything is up to
/// that future; see each op's own `# Cancel safety`. In short: socket reads, `recv_from`,
/// `accept`, `recv_stream` and [`io::BufReader`](crate::io::BufReader) reads keep what
/// the kernel delivered for the next call; [`channel`](crate::channel) and
/// [`sync`](crate::sync) receives and waits lose no item, permit or wake-up; a
/// [`time::sleep`](crate::time::sleep) is free to drop; a partly done write (e.g.
/// `write_all`) or [`fs::write`](crate::fs::write) may have written part of its data. In
/// a loop, create a not-cancel-safe future once outside the loop and select on `&mut` to
/// it instead of dropping it each turn.
///
/// # Examples
///
/// A loop over a channel and a timer; the losing `recv()` or `tick()` is dropped each
/// turn, which loses nothing:
///
/// ```
/// use std::time::Duration;
/// use ringcore::sync::Queue;
/// use ringcore::time::sleep;
///
/// ringcore::block_on(async {
///     let queue = Queue::<u32>::unbounded();
///     queue.try_put(1).unwrap();
///     queue.try_put(2).unwrap();
///     let mut sum = 0;
///     loop {
///         ringcore::select! {
///             Ok(n) = queue.get() => sum += n,
///             _ = sleep(Duration::from_millis(20)) => break, // idle: stop
///         }
///     }
///     assert_eq!(sum, 3);
/// });
/// ```
///
/// Patterns, preconditions, `biased;` and `else`:
///
/// ```
/// ringcore::block_on(async {
///     let allow_b = false;
///     let out = ringcore::select! {
///         biased;
///         Some(x) = async { None::<u32> } => x,       // no match: branch disabled
///         y = async { 2 }, if allow_b => y,           // precondition false
///         else => 0,                                  // every branch disabled
///     };
///     assert_eq!(out, 0);
/// });
/// ```
#[macro_export]
macro_rules! select {
    (biased; $($branches:tt)*) => {
        $crate::__select_parse!(@branch (true) [] $($branches)*)
    };
    ($($branches:tt)*) => {
        $crate::__select_parse!(@branch (false) [] $($branches)*)
    };
}

/// Reads the branches of `select!` into records (not a stable API).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // `else => fallback`, the last branch.
    (@branch $biased:tt $done:tt else => $else:expr $(,)?) => {
        $crate::__select_expand!($biased $done ($else))
    };
    (@branch $biased:tt $done:tt) => {
        $crate::__select_expand!($biased $done ())
    };
    (@branch $biased:tt $done:tt $($rest:tt)+) => {
        $crate::__select_parse!(@pattern $biased $done [] $($rest)+)
    };

    // The pattern: every token up to the branch's first `=`.
    (@pattern $biased:tt $done:tt [$($pat:tt)*] = $($rest:tt)*) => {
        $crate::__select_parse!(@future $biased $done ($($pat)*) $($rest)*)
    };
    (@pattern $biased:tt $done:tt [$($pat:tt)*] $token:tt $($rest:tt)*) => {
        $crate::__select_parse!(@pattern $biased $done [$($pat)* $token] $($rest)*)
    };
    (@pattern $biased:tt $done:tt [$($pat:tt)*]) => {
        ::core::compile_error!(::core::concat!(
            "ringcore::select!: expected `<pattern> = <future> => <handler>`, found `",
            ::core::stringify!($($pat)*),
            "`",
        ))
    };

    // The future, an optional precondition and the handler; `fut`, `out` and `on` are
    // new variables in each expansion of these arms.
    (@future $biased:tt [$($done:tt)*] $pat:tt $future:expr, if $cond:expr => $handler:block, $($rest:tt)*) => {
        $crate::__select_parse!(@branch $biased [$($done)* [fut out on ($cond) $pat ($future) {$handler}]] $($rest)*)
    };
    (@future $biased:tt [$($done:tt)*] $pat:tt $future:expr, if $cond:expr => $handler:block $($rest:tt)*) => {
        $crate::__select_parse!(@branch $biased [$($done)* [fut out on ($cond) $pat ($future) {$handler}]] $($rest)*)
    };
    (@future $biased:tt [$($done:tt)*] $pat:tt $future:expr => $handler:block, $($rest:tt)*) => {
        $crate::__select_parse!(@branch $biased [$($done)* [fut out on (true) $pat ($future) {$handler}]] $($rest)*)
    };
    (@future $biased:tt [$($done:tt)*] $pat:tt $future:expr => $handler:block $($rest:tt)*) => {
        $crate::__select_parse!(@branch $biased [$($done)* [fut out on (true) $pat ($future) {$handler}]] $($rest)*)
    };
    (@future $biased:tt [$($done:tt)*] $pat:tt $future:expr, if $cond:expr => $handler:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@branch $biased [$($done)* [fut out on ($cond) $pat ($future) {$handler}]] $($rest)*)
    };
    (@future $biased:tt [$($done:tt)*] $pat:tt $future:expr, if $cond:expr => $handler:expr) => {
        $crate::__select_parse!(@branch $biased [$($done)* [fut out on ($cond) $pat ($future) {$handler}]])
    };
    (@future $biased:tt [$($done:tt)*] $pat:tt $future:expr => $handler:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@branch $biased [$($done)* [fut out on (true) $pat ($future) {$handler}]] $($rest)*)
    };
    (@future $biased:tt [$($done:tt)*] $pat:tt $future:expr => $handler:expr) => {
        $crate::__select_parse!(@branch $biased [$($done)* [fut out on (true) $pat ($future) {$handler}]])
    };
    (@future $biased:tt $done:tt ($($pat:tt)*) $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "ringcore::select!: expected `<future> [, if <condition>] => <handler>` after `",
            ::core::stringify!($($pat)*),
            " =`",
        ))
    };
}

/// The body of `select!` (not a stable API).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_expand {
    (
        ($biased:expr)
        [$([$fut:ident $out:ident $on:ident ($cond:expr) ($($pat:tt)*) ($future:expr) $handler:tt])*]
        ($($else:expr)?)
    ) => {{
        let __branches: usize = <[&str]>::len(&[$(::core::stringify!($on)),*]);
        let __start: usize = if $biased {
            0
        } else {
            $crate::future::__private::select_start(__branches)
        };
        $( let mut $on: bool = $cond; )*
        $( let mut $out = ::core::option::Option::None; )*
        {
            $(
                let mut $fut = ::core::pin::pin!(::core::future::IntoFuture::into_future($future));
            )*
            ::core::future::poll_fn(|__cx| {
                // Pass 0 polls the branches from `__start` on, pass 1 those before it.
                for __pass in 0..2usize {
                    let mut __index: usize = 0;
                    $(
                        if $on && ((__index >= __start) == (__pass == 0)) {
                            if let ::core::task::Poll::Ready(__value) =
                                ::core::future::Future::poll($fut.as_mut(), __cx)
                            {
                                $on = false;
                                if $crate::__select_matches!((&__value) [] [] $($pat)*) {
                                    $out = ::core::option::Option::Some(__value);
                                    return ::core::task::Poll::Ready(());
                                }
                            }
                        }
                        __index += 1;
                    )*
                    let _ = __index;
                }
                if false $(|| $on)* {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(())
                }
            })
            .await;
            // Every branch's future is dropped here, before the handler runs.
        }
        $(
            if let ::core::option::Option::Some(__value) = $out {
                match __value {
                    // A branch whose output type is uninhabited (`!`) never gets here.
                    #[allow(unreachable_patterns)]
                    $($pat)* => $handler,
                    #[allow(unreachable_patterns)]
                    _ => ::core::unreachable!("ringcore::select!: the output matched its pattern a moment ago"),
                }
            } else
        )*
        {
            $crate::__select_else!($($else)?)
        }
    }};
}

/// The `else` of `select!`, or the panic when there is none (not a stable API).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_else {
    () => {
        ::core::panic!("ringcore::select!: all branches are disabled and there is no `else` branch")
    };
    ($else:expr) => {
        $else
    };
}

/// `true` if the expression (a reference) matches the pattern with `mut` and `ref` taken
/// out, which a match through a reference does not allow (not a stable API). Groups are
/// entered with the tokens outside them pushed on a stack.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_matches {
    ($s:tt $stack:tt [$($acc:tt)*] mut $($rest:tt)*) => {
        $crate::__select_matches!($s $stack [$($acc)*] $($rest)*)
    };
    ($s:tt $stack:tt [$($acc:tt)*] ref $($rest:tt)*) => {
        $crate::__select_matches!($s $stack [$($acc)*] $($rest)*)
    };
    ($s:tt [$($stack:tt)*] [$($acc:tt)*] ($($inner:tt)*) $($rest:tt)*) => {
        $crate::__select_matches!($s [[paren [$($acc)*] [$($rest)*]] $($stack)*] [] $($inner)*)
    };
    ($s:tt [$($stack:tt)*] [$($acc:tt)*] [$($inner:tt)*] $($rest:tt)*) => {
        $crate::__select_matches!($s [[bracket [$($acc)*] [$($rest)*]] $($stack)*] [] $($inner)*)
    };
    ($s:tt [$($stack:tt)*] [$($acc:tt)*] {$($inner:tt)*} $($rest:tt)*) => {
        $crate::__select_matches!($s [[brace [$($acc)*] [$($rest)*]] $($stack)*] [] $($inner)*)
    };
    ($s:tt [[paren [$($outer:tt)*] [$($rest:tt)*]] $($stack:tt)*] [$($acc:tt)*]) => {
        $crate::__select_matches!($s [$($stack)*] [$($outer)* ($($acc)*)] $($rest)*)
    };
    ($s:tt [[bracket [$($outer:tt)*] [$($rest:tt)*]] $($stack:tt)*] [$($acc:tt)*]) => {
        $crate::__select_matches!($s [$($stack)*] [$($outer)* [$($acc)*]] $($rest)*)
    };
    ($s:tt [[brace [$($outer:tt)*] [$($rest:tt)*]] $($stack:tt)*] [$($acc:tt)*]) => {
        $crate::__select_matches!($s [$($stack)*] [$($outer)* {$($acc)*}] $($rest)*)
    };
    (($($s:tt)*) [] [$($acc:tt)*]) => {{
        #[allow(unused_variables)]
        let __matches = match $($s)* {
            $($acc)* => true,
            #[allow(unreachable_patterns)]
            _ => false,
        };
        __matches
    }};
    ($s:tt $stack:tt [$($acc:tt)*] $token:tt $($rest:tt)*) => {
        $crate::__select_matches!($s $stack [$($acc)* $token] $($rest)*)
    };
}
