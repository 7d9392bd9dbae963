//! The report as aligned, human-readable text (`Display for Report`).

use std::fmt::{self, Display, Formatter, Write as _};

use super::{Check, FastPath, Limit, Report, Usage};

/// Width of the key column of the top sections.
const KEY: usize = 20;

impl Display for Report {
    /// Sections, one item a line, columns aligned: kernel, io_uring, driver, each list of
    /// checks ("yes", "no", "unknown", then how ringcore uses it and the errno), limits,
    /// fast paths, and the runtime's choice where present.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "ringcore {} capability report", self.ringcore_version)?;
        writeln!(f)?;
        let k = &self.kernel;
        let kernel = match (&k.release, &k.machine) {
            (Some(r), Some(m)) => format!("{r} ({m})"),
            _ => format!("unknown: uname: {}", k.error.as_deref().unwrap_or("?")),
        };
        line(f, "kernel", kernel)?;
        let u = &self.io_uring;
        if u.available {
            line(f, "io_uring", "available")?;
        } else {
            let why = u.reason.as_deref().unwrap_or("?");
            line(f, "io_uring", format!("unavailable: {why}"))?;
        }
        let sysctl = u.io_uring_disabled.map_or_else(
            || "absent (kernel before 6.6) or unreadable".to_owned(),
            |v| v.to_string(),
        );
        line(f, "  io_uring_disabled", sysctl)?;
        let ok = |e: &Option<String>| e.clone().unwrap_or_else(|| "ok".to_owned());
        line(f, "  io_uring_setup", ok(&u.setup_error))?;
        if u.setup_error.is_none() {
            line(f, "  io_uring_enter", ok(&u.enter_error))?;
        }
        if u.setup_error.is_none() {
            line(f, "  register probe", ok(&u.probe_error))?;
        }
        line(f, "driver (build)", self.driver.summary())?;
        let env = self.driver.env.as_deref().unwrap_or("unset");
        line(f, "  RINGCORE_DRIVER", env)?;

        checks(
            f,
            "setup flags (an 8-entry ring with each)",
            &self.setup_flags,
        )?;
        checks(f, "features (IORING_FEAT_*)", &self.features)?;
        checks(f, "opcodes (IORING_REGISTER_PROBE)", &self.opcodes)?;
        checks(f, "registrations", &self.registrations)?;
        checks(f, "multishot (armed and cancelled)", &self.multishot)?;

        writeln!(f)?;
        writeln!(f, "limits")?;
        let l = &self.limits;
        line(f, "  RLIMIT_NOFILE", limit(&l.nofile, ""))?;
        line(f, "  RLIMIT_MEMLOCK", limit(&l.memlock_bytes, " bytes"))?;
        let sizes = format!(
            "{} SQ, {} CQ entries per core",
            l.ring_entries, l.cq_entries
        );
        line(f, "  default ring", sizes)?;
        let files = format!(
            "{} slots per core (cut to the soft RLIMIT_NOFILE)",
            l.registered_files
        );
        line(f, "  registered files", files)?;

        paths(f, "fast paths (a runtime built now)", &self.fast_paths)?;

        if let Some(rt) = &self.runtime {
            writeln!(f)?;
            writeln!(f, "this runtime")?;
            line(f, "  driver", rt.driver.summary())?;
            for core in &rt.cores {
                match &core.error {
                    Some(e) => line(f, &format!("  core {}", core.core), format!("unknown: {e}"))?,
                    None => {
                        let on: Vec<_> = core
                            .fast_paths
                            .iter()
                            .filter(|p| p.active)
                            .map(|p| p.name.as_str())
                            .collect();
                        let on = if on.is_empty() {
                            "none".to_owned()
                        } else {
                            on.join(", ")
                        };
                        let mode = core.setup_mode.as_deref().unwrap_or("no io_uring");
                        let files = core
                            .registered_file_slots
                            .map_or_else(|| "no".to_owned(), |n| n.to_string());
                        line(
                            f,
                            &format!("  core {}", core.core),
                            format!("setup {mode}, {files} registered-file slots; {on}"),
                        )?;
                    }
                }
            }
            for missing in &rt.not_reported {
                line(f, "  not reported", missing)?;
            }
        }
        Ok(())
    }
}

fn line(f: &mut Formatter<'_>, key: &str, value: impl Display) -> fmt::Result {
    writeln!(f, "{key:<KEY$} {value}")
}

fn limit(l: &Limit, unit: &str) -> String {
    if let Some(e) = &l.error {
        return format!("unknown: {e}");
    }
    let v = |v: Option<u64>| v.map_or_else(|| "unlimited".to_owned(), |n| format!("{n}{unit}"));
    format!("{} soft, {} hard", v(l.soft), v(l.hard))
}

fn usage(u: Usage) -> &'static str {
    match u {
        Usage::Required => "required",
        Usage::Used => "used",
        Usage::OptIn => "opt-in",
        Usage::NotUsed => "not used",
    }
}

fn checks(f: &mut Formatter<'_>, title: &str, list: &[Check]) -> fmt::Result {
    writeln!(f)?;
    let names = list.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let width = names.max(KEY).max(title.len().saturating_sub(2));
    writeln!(f, "{title:<w$} {:<8} ringcore", "probed", w = width + 2)?;
    for c in list {
        let yes = match c.supported {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        let mut row = format!("  {:<width$} {yes:<8} {:<9}", c.name, usage(c.ringcore));
        if let Some(d) = &c.detail {
            let _ = write!(row, " {d}");
        }
        writeln!(f, "{}", row.trim_end())?;
    }
    Ok(())
}

fn paths(f: &mut Formatter<'_>, title: &str, list: &[FastPath]) -> fmt::Result {
    writeln!(f)?;
    writeln!(f, "{title}")?;
    let width = list
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0)
        .max(KEY - 2);
    for p in list {
        let on = if p.active { "yes" } else { "no" };
        writeln!(f, "  {:<width$} {on:<8} {}", p.name, p.detail)?;
    }
    Ok(())
}
