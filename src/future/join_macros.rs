//! `join!` and `try_join!`: futures of different types awaited together on the calling
//! task, with no boxing and no `'static` bound (asyncio's `gather`).
//!
//! Each future is pinned on the stack of the `async` block that uses the macro, wrapped in
//! a [`MaybeDone`](super::__private::MaybeDone); every wake-up polls the ones still
//! running. The munching arm of `__join_impl!` names each future's variable `fut` in its
//! own expansion, so macro hygiene keeps the n variables apart without an index.

/// Awaits several futures concurrently on the current task and returns their outputs as a
/// tuple, in argument order (asyncio's `gather(a, b, c)`).
///
/// The futures may have different types (a sleep, a [`timeout`](crate::time::timeout), a
/// socket read), need not be `'static` (they may borrow locals) and are not boxed: they
/// live pinned in the calling `async` block. Every future runs to completion; use
/// [`try_join!`](crate::try_join) to stop at the first error. Each argument is anything
/// that is [`IntoFuture`](std::future::IntoFuture). `join!()` is `()`.
///
/// Usable only inside `async` code. Each wake-up polls every future still running, so it
/// suits a handful of futures; for many futures of one type use
/// [`future::join_all`](crate::future::join_all), which polls only the woken one.
///
/// # Panics
///
/// A panic in one of the futures propagates to the caller, as any panic in a task does
/// (a spawned task's [`JoinHandle`](crate::JoinHandle) reports
/// [`JoinError::Panic`](crate::JoinError::Panic)); the other futures are dropped.
///
/// # Cancel safety
///
/// Dropping the enclosing future drops every future not finished yet (and the outputs
/// already kept); each is as cancel-safe as its own `# Cancel safety` says.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringcore::time::{sleep, timeout};
///
/// ringcore::block_on(async {
///     let name = String::from("ring");
///     let (n, timed, greeting) = ringcore::join!(
///         async { sleep(Duration::from_millis(2)).await; 7 },
///         timeout(Duration::from_secs(5), async { "in time" }),
///         async { format!("hello, {name}") }, // borrows a local
///     );
///     assert_eq!(n, 7);
///     assert_eq!(timed, Ok("in time"));
///     assert_eq!(greeting, "hello, ring");
/// });
/// ```
#[doc(alias = "gather")]
#[macro_export]
macro_rules! join {
    ($($future:expr),* $(,)?) => {
        $crate::__join_impl!(@munch [] $($future,)*)
    };
}

/// Awaits several futures that return `Result<_, E>` (one `E` for all) concurrently and
/// returns `Ok` of the tuple of their values, or the first error as soon as it happens
/// (asyncio's `gather` without `return_exceptions`: the first exception wins).
///
/// As [`join!`](crate::join): different future types, no boxing, no `'static`, inside
/// `async` code only. `try_join!()` is `Ok(())`, with the error type left to inference.
///
/// # Errors
///
/// The first `Err` any future returns, in completion order. The other futures are
/// dropped (cancelled) before the macro returns: their `Drop` impls have run.
///
/// # Panics
///
/// As [`join!`](crate::join).
///
/// # Cancel safety
///
/// As [`join!`](crate::join).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringcore::time::sleep;
///
/// ringcore::block_on(async {
///     let ok = ringcore::try_join!(async { Ok::<_, String>(1) }, async { Ok("two") });
///     assert_eq!(ok, Ok((1, "two")));
///
///     let failed = ringcore::try_join!(
///         async { Err::<u8, _>("refused".to_string()) },
///         async { sleep(Duration::from_secs(60)).await; Ok(()) }, // dropped at once
///     );
///     assert_eq!(failed, Err("refused".to_string()));
/// });
/// ```
#[macro_export]
macro_rules! try_join {
    ($($future:expr),* $(,)?) => {
        $crate::__join_impl!(@try_munch [] $($future,)*)
    };
}

/// The body of `join!` and `try_join!` (not a stable API).
#[doc(hidden)]
#[macro_export]
macro_rules! __join_impl {
    // One future per step; `fut` is a new variable in each expansion (hygiene).
    (@munch [$($done:tt)*] $future:expr, $($rest:tt)*) => {
        $crate::__join_impl!(@munch [$($done)* [fut ($future)]] $($rest)*)
    };
    (@munch [$([$fut:ident ($future:expr)])*]) => {{
        $(
            let mut $fut = ::core::pin::pin!($crate::future::__private::MaybeDone::new(
                ::core::future::IntoFuture::into_future($future),
            ));
        )*
        ::core::future::poll_fn(|__cx| {
            let mut __all_done = true;
            $( __all_done &= $fut.as_mut().poll_done(__cx); )*
            if __all_done {
                ::core::task::Poll::Ready(())
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await;
        ($( $crate::future::__private::output($fut.as_mut().take()), )*)
    }};

    (@try_munch [$($done:tt)*] $future:expr, $($rest:tt)*) => {
        $crate::__join_impl!(@try_munch [$($done)* [fut ($future)]] $($rest)*)
    };
    (@try_munch [$([$fut:ident ($future:expr)])*]) => {{
        $(
            let mut $fut = ::core::pin::pin!($crate::future::__private::MaybeDone::new(
                ::core::future::IntoFuture::into_future($future),
            ));
        )*
        let __first_error = ::core::future::poll_fn(|__cx| {
            let mut __all_done = true;
            $(
                match $fut.as_mut().poll_try(__cx) {
                    ::core::task::Poll::Ready(::core::result::Result::Ok(())) => {}
                    ::core::task::Poll::Ready(::core::result::Result::Err(__e)) => {
                        return ::core::task::Poll::Ready(::core::result::Result::Err(__e));
                    }
                    ::core::task::Poll::Pending => __all_done = false,
                }
            )*
            if __all_done {
                ::core::task::Poll::Ready(::core::result::Result::Ok(()))
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await;
        match __first_error {
            ::core::result::Result::Ok(()) => ::core::result::Result::Ok((
                $( $crate::future::__private::output($fut.as_mut().take_ok()), )*
            )),
            // The futures still running are dropped as this block ends, before the error
            // reaches the caller.
            ::core::result::Result::Err(__e) => ::core::result::Result::Err(__e),
        }
    }};
}
