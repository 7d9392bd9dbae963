//! The `#[ringcore::main]` and `#[ringcore::test]` attribute macros. Use them through
//! `ringcore` (its default feature `macros` re-exports them), not from this crate.
//!
//! Both turn an `async fn` into a plain `fn` that builds a ringcore runtime with
//! `ringcore::Runtime::builder()` and runs the function's body on it with `block_on`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprPath, ItemFn, Lit, Meta, Token};

/// Runs an `async fn main` on a ringcore runtime.
///
/// ```
/// #[ringcore::main]
/// async fn main() -> std::io::Result<()> {
///     let dir = tempfile::tempdir()?;
///     let path = dir.path().join("hello.txt");
///     ringcore::fs::write(&path, "hello, ring\n").await?;
///     let text = ringcore::fs::read_to_string(&path).await?;
///     assert_eq!(text, "hello, ring\n");
///     Ok(())
/// }
/// ```
///
/// expands to (roughly)
///
/// ```
/// fn main() -> std::io::Result<()> {
///     async fn main() -> std::io::Result<()> {
///         // the body, unchanged
/// #       Ok(())
///     }
///     ringcore::Runtime::builder()
///         .build()
///         .unwrap_or_else(|e| panic!("ringcore::main: cannot build the runtime: {e}"))
///         .block_on(main())
/// }
/// ```
///
/// The function may have any name, visibility and return type, but no parameters, no
/// generics and no `self`.
///
/// # Arguments
///
/// - `cores = N`: the runtime's number of cores (`ringcore::Builder::cores`; default 1). The body
///   runs on core 0; reach the others with `ringcore::spawn_on`, `submit_to` or
///   `Runtime::run_on_all`.
/// - `ring_entries = N`: submission queue entries of each core's ring
///   (`ringcore::Builder::ring_entries`; default 256; 1 to 32768).
/// - `every_core`: the body runs on every core at once (with `Runtime::run_on_all`), not
///   only on core 0: the thread-per-core server whose every core binds its own
///   `SO_REUSEPORT` listener. The return type must be `()` or a `Result` whose values are
///   `Send`; the result is core 0's, or the first error in core order. A panic on any core
///   is resumed once every core has finished.
/// - `jobs = path`: `path` is a `fn() -> ringcore::offload::Jobs`; the generated `main`
///   first calls `ringcore::offload::init_worker(&path())`, so a `ProcessPool` worker (this
///   program started again) serves those jobs and exits before any of the body runs.
///
/// ```
/// #[ringcore::main(cores = 2, ring_entries = 64)]
/// async fn main() {
///     assert_eq!(ringcore::num_cores(), 2);
/// }
/// ```
///
/// ```
/// // The body on both cores: each binds its own listener on the shared port.
/// #[ringcore::main(cores = 2, every_core)]
/// async fn main() -> std::io::Result<()> {
///     let core = ringcore::current_core();
///     assert!(core.index() < 2);
///     Ok(())
/// }
/// ```
///
/// ```no_run
/// use ringcore::offload::{Jobs, ProcessPool};
///
/// fn fib(n: u64) -> u64 { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
/// fn jobs() -> Jobs { Jobs::new().register("fib", fib) }
///
/// #[ringcore::main(jobs = jobs)]
/// async fn main() {
///     let pool = ProcessPool::builder().workers(2).build().unwrap();
///     let n: u64 = pool.call("fib", &30u64).await.unwrap();
///     assert_eq!(n, 832_040);
/// }
/// ```
///
/// A function that is not `async`, an unknown argument, a repeated one, or a value that is
/// not an integer literal in range is a compile error pointing at it.
///
/// # Panics
///
/// The generated `main` panics if the runtime cannot be built (io_uring unavailable, more
/// cores than CPUs; the message carries the `BuildError`, which says why), and propagates
/// a panic of the body.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a ringcore runtime of its own: `#[ringcore::test]` is
/// `#[test]` plus the runtime of [`macro@main`], and takes the same `cores = N` and
/// `ring_entries = N` arguments.
///
/// ```
/// #[ringcore::test]
/// async fn sleeps() {
///     let start = std::time::Instant::now();
///     ringcore::time::sleep(std::time::Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= std::time::Duration::from_millis(5));
/// }
/// ```
///
/// Other attributes (`#[should_panic]`, `#[ignore]`) are kept; the test may return a
/// `Result`, as a `#[test]` may. Writing `#[test]` as well is an error (the test would run
/// twice).
///
/// # Deterministic simulation
///
/// With `sim` (and ringcore's `sim` feature), the body runs instead as a one-host
/// deterministic simulation (`ringcore::sim`), once per seed: `seeds = N` seeds (default
/// 100, from 0), on a simulated host named `"test"` with `cores = N` cores (default 1),
/// the body on its core 0. Its files, sockets, timers and cross-core calls are
/// simulated, so an hour of sleeps takes milliseconds and every interleaving is the
/// seed's. The first failing seed (a panic, an `Err`, a deadlock, the virtual time budget)
/// fails the test with the seed, the trace hash and the command that replays it
/// (`RINGCORE_SIM_SEED=S cargo test NAME`); with `RINGCORE_SIM_SEED` set, only that seed
/// runs. It expands to `ringcore::sim::test_seeds(name, seeds, cores, body)`.
/// `ring_entries`, `every_core` and `jobs` have no meaning there and are errors with
/// `sim`; `seeds` without `sim` is an error.
///
/// ```ignore
/// #[ringcore::test(sim, seeds = 200, cores = 2)]
/// async fn the_log_survives_a_slow_disk() {
///     let f = ringcore::fs::File::create("/log").await.unwrap();
///     // ... every seed, another order of the two cores' tasks and completions
/// }
/// ```
///
/// # Panics
///
/// As [`macro@main`]: the test fails if the runtime cannot be built.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "ringcore::main",
            Kind::Test => "ringcore::test",
        }
    }
}

/// The parsed arguments: each value with the span of its literal.
#[derive(Default)]
struct Config {
    cores: Option<(u64, Span)>,
    ring_entries: Option<(u64, Span)>,
    /// `every_core`: the body runs on every core, not only core 0.
    every_core: Option<Span>,
    /// `jobs = path`: a `fn() -> ringcore::offload::Jobs` served first thing in a worker.
    jobs: Option<ExprPath>,
    /// `sim`: the test body runs as a one-host simulation, once per seed.
    sim: Option<Span>,
    /// `seeds = N`: how many seeds a `sim` test runs.
    seeds: Option<(u64, Span)>,
}

/// Seeds a `#[ringcore::test(sim)]` runs without `seeds = N`.
const DEFAULT_SIM_SEEDS: u64 = 100;
/// `ringcore::sim::MAX_HOST_CORES`.
const MAX_SIM_CORES: u64 = 1024;

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("#[{}] goes on an `async fn`", kind.name());
            return syn::Error::new(e.span(), msg).to_compile_error();
        }
    };
    match parse_args(kind, args).and_then(|cfg| check(kind, &func).map(|()| cfg)) {
        Ok(cfg) => generate(kind, func, &cfg),
        Err(err) => {
            // Emit the function as a non-async stub too, so the only errors are ours (no
            // "main function not found", no "`main` cannot be async").
            func.sig.asyncness = None;
            func.block = syn::parse_quote!({ ::core::unimplemented!() });
            let err = err.to_compile_error();
            quote!(#err #[allow(dead_code, unused_variables)] #func)
        }
    }
}

fn parse_args(kind: Kind, args: TokenStream2) -> syn::Result<Config> {
    let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
    let mut cfg = Config::default();
    for arg in parser.parse2(args)? {
        let arg = match arg {
            Meta::Path(path) if path.is_ident("every_core") => {
                if cfg.every_core.is_some() {
                    return Err(syn::Error::new_spanned(path, "`every_core` is given twice"));
                }
                cfg.every_core = Some(path.span());
                continue;
            }
            Meta::Path(path) if kind == Kind::Test && path.is_ident("sim") => {
                if cfg.sim.is_some() {
                    return Err(syn::Error::new_spanned(path, "`sim` is given twice"));
                }
                cfg.sim = Some(path.span());
                continue;
            }
            Meta::NameValue(arg) => arg,
            other => {
                let path = other.path();
                let name = path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let msg = match name.as_str() {
                    "cores" | "ring_entries" => format!("`{name}` needs a value: `{name} = N`"),
                    "seeds" if kind == Kind::Test => "`seeds` needs a value: `seeds = N`".to_string(),
                    "sim" if kind == Kind::Test => "`sim` takes no value: write `sim`".to_string(),
                    "jobs" => "`jobs` needs a value: `jobs = my_jobs` (a `fn() -> ringcore::offload::Jobs`)".to_string(),
                    "every_core" => "`every_core` takes no value: write `every_core`".to_string(),
                    _ => unknown_argument(kind),
                };
                return Err(syn::Error::new_spanned(other, msg));
            }
        };
        let name = arg
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        if name == "jobs" {
            if cfg.jobs.is_some() {
                return Err(syn::Error::new_spanned(&arg.path, "`jobs` is given twice"));
            }
            match &arg.value {
                Expr::Path(path) => cfg.jobs = Some(path.clone()),
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "`jobs` takes the path of a `fn() -> ringcore::offload::Jobs`, e.g. `jobs = my_jobs`",
                    ));
                }
            }
            continue;
        }
        let (slot, range) = match name.as_str() {
            "cores" => (&mut cfg.cores, 1..=u64::from(u32::MAX)),
            "ring_entries" => (&mut cfg.ring_entries, 1..=32768),
            "seeds" if kind == Kind::Test => (&mut cfg.seeds, 1..=u64::MAX),
            _ => {
                return Err(syn::Error::new_spanned(&arg.path, unknown_argument(kind)));
            }
        };
        if slot.is_some() {
            return Err(syn::Error::new_spanned(
                &arg.path,
                format!("`{name}` is given twice"),
            ));
        }
        let value = match &arg.value {
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) => int
                .base10_parse::<u64>()
                .ok()
                .filter(|v| range.contains(v))
                .ok_or_else(|| {
                    syn::Error::new_spanned(
                        int,
                        format!("`{name}` must be in {}..={}", range.start(), range.end()),
                    )
                })?,
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    format!("`{name}` takes an integer literal, e.g. `{name} = 2`"),
                ));
            }
        };
        *slot = Some((value, arg.value.span()));
    }
    check_sim(&cfg)?;
    Ok(cfg)
}

/// `seeds` needs `sim`; the runtime-only arguments have no meaning with it.
fn check_sim(cfg: &Config) -> syn::Result<()> {
    match cfg.sim {
        None => match cfg.seeds {
            Some((_, span)) => Err(syn::Error::new(
                span,
                "`seeds` is for simulated tests: add `sim`",
            )),
            None => Ok(()),
        },
        Some(_) => {
            let misplaced = [
                cfg.ring_entries.map(|(_, s)| ("ring_entries", s)),
                cfg.every_core.map(|s| ("every_core", s)),
                cfg.jobs.as_ref().map(|j| ("jobs", j.span())),
            ];
            if let Some((name, span)) = misplaced.into_iter().flatten().next() {
                return Err(syn::Error::new(
                    span,
                    format!("`{name}` has no meaning in a simulated test (`sim`)"),
                ));
            }
            match cfg.cores {
                Some((n, span)) if n > MAX_SIM_CORES => Err(syn::Error::new(
                    span,
                    format!("a simulated host has at most {MAX_SIM_CORES} cores"),
                )),
                _ => Ok(()),
            }
        }
    }
}

fn unknown_argument(kind: Kind) -> String {
    match kind {
        Kind::Main => format!(
            "unknown argument of #[{}]: expected `cores = N`, `ring_entries = N`, `every_core` or `jobs = path`",
            kind.name()
        ),
        Kind::Test => format!(
            "unknown argument of #[{}]: expected `cores = N`, `ring_entries = N`, `every_core`, `jobs = path`, `sim` or `seeds = N`",
            kind.name()
        ),
    }
}

fn check(kind: Kind, func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            format!(
                "#[{}] needs an `async fn`: add `async` before `fn`",
                kind.name()
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!("a #[{}] function takes no arguments", kind.name()),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("a #[{}] function cannot be generic", kind.name()),
        ));
    }
    if kind == Kind::Test {
        if let Some(attr) = func.attrs.iter().find(|a| a.path().is_ident("test")) {
            return Err(syn::Error::new_spanned(
                attr,
                "#[ringcore::test] adds #[test] itself: remove this one",
            ));
        }
    }
    Ok(())
}

fn generate(kind: Kind, func: ItemFn, cfg: &Config) -> TokenStream2 {
    if cfg.sim.is_some() {
        return generate_sim(func, cfg);
    }
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let mut outer = sig.clone();
    outer.asyncness = None;
    let name = &sig.ident;
    let cores = cfg.cores.map(|(n, span)| {
        let n = n as usize;
        quote_spanned!(span=> .cores(#n))
    });
    let ring_entries = cfg.ring_entries.map(|(n, span)| {
        let n = n as u32;
        quote_spanned!(span=> .ring_entries(#n))
    });
    let test_attr = (kind == Kind::Test).then(|| quote!(#[::core::prelude::v1::test]));
    let what = kind.name();
    // In a ProcessPool worker, serve the jobs before anything else of `main` runs.
    let init_worker = cfg
        .jobs
        .as_ref()
        .map(|jobs| quote_spanned!(jobs.span()=> ::ringcore::offload::init_worker(&#jobs());));
    let run = match cfg.every_core {
        None => quote!(.block_on(#name())),
        Some(span) => quote_spanned!(span=>
            .run_on_all(|_core| #name())
            .into_iter()
            .collect::<::ringcore::__private::EveryCore<_>>()
            .into_output()
        ),
    };
    quote! {
        #test_attr
        #(#attrs)*
        #vis #outer {
            #init_worker
            #sig #block
            ::ringcore::Runtime::builder()
                #cores
                #ring_entries
                .build()
                .unwrap_or_else(|e| ::core::panic!("{}: cannot build the runtime: {}", #what, e))
                #run
        }
    }
}

/// `#[ringcore::test(sim)]`: a `#[test]` that runs the body once per seed as a one-host
/// simulation (`ringcore::sim::test_seeds`). The outer function returns `()`: a failing
/// seed panics with its replay command.
fn generate_sim(func: ItemFn, cfg: &Config) -> TokenStream2 {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let mut outer = sig.clone();
    outer.asyncness = None;
    outer.output = syn::ReturnType::Default;
    let name = &sig.ident;
    let seeds = cfg.seeds.map_or(DEFAULT_SIM_SEEDS, |(n, _)| n);
    let cores = cfg.cores.map_or(1, |(n, _)| n as usize);
    let span = cfg.sim.unwrap_or_else(Span::call_site);
    let run = quote_spanned!(span=>
        ::ringcore::sim::test_seeds(::core::stringify!(#name), #seeds, #cores, #name)
    );
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis #outer {
            #sig #block
            #run
        }
    }
}
