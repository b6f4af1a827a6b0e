//! `log` lines (HAProxy's `parse_logsrv()` in `src/log.c`), shared by the
//! global section and proxies.

use super::addr::{Addr, Proto};
use super::model::{Facility, LogAddr, LogFormat, LogLevel, LogSample, LogTarget, ProxyLog};
use super::{Diagnostic, Diags, Kwm, Ln};

/// Default syslog port.
const SYSLOG_PORT: u16 = 514;

/// `log TARGET [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`,
/// from word 1.
pub(super) fn parse_target(ln: &Ln<'_>, d: &mut Diags) -> Result<LogTarget, Diagnostic> {
    parse_target_with_rings(ln, d, false)
}

/// [`parse_target`], where `rings` says whether `ring@NAME` is accepted
/// (Sluice forwards to rings from `log-forward` sections only).
pub(super) fn parse_target_with_rings(
    ln: &Ln<'_>,
    _d: &mut Diags,
    rings: bool,
) -> Result<LogTarget, Diagnostic> {
    if ln.arg(1).is_empty() || ln.arg(2).is_empty() {
        return Err(ln.diag("log : expects <address> and <facility>  as arguments"));
    }
    let addr = match ln.arg(1).strip_prefix("ring@") {
        Some(name) if rings && !name.is_empty() => LogAddr::Ring(name.to_string()),
        _ => log_addr(ln, ln.arg(1))?,
    };
    let mut t = LogTarget {
        place: ln.place(),
        addr,
        len: None,
        format: LogFormat::default(),
        format_given: false,
        facility: Facility(0),
        level: None,
        min_level: None,
        sample: None,
    };
    let mut i = 2;
    loop {
        match ln.arg(i) {
            "len" => t.len = Some(ln.uint_at(i + 1, "log len")?),
            "format" => {
                let f = ln.arg(i + 1);
                t.format = LogFormat::from_name(f)
                    .ok_or_else(|| ln.diag(format!("log : unknown log format '{f}'")))?;
                t.format_given = true;
            }
            "sample" => t.sample = Some(sample(ln, ln.arg(i + 1))?),
            _ => break,
        }
        i += 2;
    }
    levels(ln, i, &mut t)?;
    Ok(t)
}

/// `sample RANGES:SIZE` (HAProxy's `parse_logger` with
/// `get_logger_smp_range`): ranges `N` or `N-M` (1-based, `M > N`),
/// comma-separated, not overlapping; `SIZE` at least the highest bound.
fn sample(ln: &Ln<'_>, arg: &str) -> Result<LogSample, Diagnostic> {
    let err = |m: String| ln.diag(format!("log : {m}"));
    let Some((list, size)) = arg.split_once(':') else {
        return Err(err("Missing sample size".into()));
    };
    let num = |t: &str| {
        t.parse::<u32>()
            .ok()
            .filter(|n| *n > 0 && t.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for r in list.split(',').filter(|r| !r.is_empty()) {
        let bad = || err(format!("wrong sample range '{r}'"));
        let (lo, hi) = match r.split_once('-') {
            Some((a, b)) => {
                let (lo, hi) = (num(a).ok_or_else(bad)?, num(b).ok_or_else(bad)?);
                if hi <= lo {
                    return Err(bad());
                }
                (lo, hi)
            }
            None => {
                let n = num(r).ok_or_else(bad)?;
                (n, n)
            }
        };
        let overlaps = ranges
            .iter()
            .any(|&(l, h)| (lo >= l && lo <= h) || (hi >= l && hi <= h));
        if overlaps {
            return Err(err("ranges are overlapping".into()));
        }
        ranges.push((lo, hi));
    }
    if ranges.is_empty() {
        return Err(err("no sampling ranges given".into()));
    }
    let size = num(size).ok_or_else(|| {
        err(format!(
            "wrong sample size '{size}' for sample range '{arg}'"
        ))
    })?;
    let max = ranges.iter().map(|r| r.1).max().unwrap_or(0);
    if size < max {
        return Err(err(format!(
            "sample size {size} should be greater or equal to {max} the maximum of the high ranges limits"
        )));
    }
    ranges.sort_unstable();
    Ok(LogSample { ranges, size })
}

/// `FACILITY [LEVEL [MINLEVEL]]` from word `i`.
fn levels(ln: &Ln<'_>, i: usize, t: &mut LogTarget) -> Result<(), Diagnostic> {
    let fac = ln.arg(i);
    if fac.is_empty() {
        return Err(ln.diag("log : expects <address> and <facility>  as arguments"));
    }
    t.facility = Facility::from_name(fac)
        .ok_or_else(|| ln.diag(format!("log : unknown log facility '{fac}'")))?;
    let level = |j: usize, what: &str| match ln.arg(j) {
        "" => Ok(None),
        l => LogLevel::from_name(l)
            .map(Some)
            .ok_or_else(|| ln.diag(format!("log : unknown optional {what} '{l}'"))),
    };
    t.level = level(i + 1, "log level")?;
    t.min_level = level(i + 2, "minimum log level")?;
    match ln.arg(i + 3) {
        "" => Ok(()),
        extra => Err(ln.diag(format!("log : cannot handle unexpected argument '{extra}'"))),
    }
}

fn log_addr(ln: &Ln<'_>, text: &str) -> Result<LogAddr, Diagnostic> {
    match text {
        "stdout" | "fd@1" => return Ok(LogAddr::Stdout),
        "stderr" | "fd@2" => return Ok(LogAddr::Stderr),
        t if t.starts_with("ring@") => {
            return Err(ln.diag(format!(
                "log : '{t}': Sluice writes to ring buffers from log-forward sections only"
            )))
        }
        _ => {}
    }
    let p = ln
        .parse_addr(text)
        .and_then(|p| p.single_port(text))
        .map_err(|e| ln.diag(format!("log : {e}")))?;
    match p.addr {
        Addr::Unix(path) => Ok(LogAddr::Unix(path)),
        Addr::Inet { host, port } => Ok(LogAddr::Inet {
            host,
            port: port.unwrap_or(SYSLOG_PORT),
            tcp: p.proto == Some(Proto::Stream),
        }),
        Addr::Abns(_) => Err(ln.diag(format!(
            "log : '{text}': abstract sockets are not supported for logs"
        ))),
        Addr::Rhttp(_) => Err(ln.diag(format!(
            "log : '{text}': a reverse HTTP address is not a log target"
        ))),
        // `stdout` and `stderr` are HAProxy's names for these two.
        Addr::Fd(1) => Ok(LogAddr::Stdout),
        Addr::Fd(2) => Ok(LogAddr::Stderr),
        Addr::Fd(_) => Err(ln.diag(format!(
            "log : '{text}': only fd@1 (stdout) and fd@2 (stderr) are supported for logs"
        ))),
    }
}

/// A proxy's `log` line: `log global`, `no log` (drops what was inherited)
/// or a target.
pub(super) fn parse_proxy(
    logs: &mut Vec<ProxyLog>,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    match (ln.kwm, ln.arg(1)) {
        (Kwm::No, _) => {
            ln.no_extra(1)?;
            logs.clear();
        }
        (Kwm::Default, _) => return Err(ln.diag("'default log' is not supported.")),
        (Kwm::Std, "global") => {
            ln.no_extra(2)?;
            logs.push(ProxyLog::Global(ln.place()));
        }
        (Kwm::Std, _) => logs.push(ProxyLog::Target(parse_target(ln, d)?)),
    }
    Ok(())
}

/// `log-format STRING`, `unique-id-format STRING`, `unique-id-header NAME`.
pub(super) fn format_line(
    px: &mut super::model::Proxy,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    let kw = ln.kw();
    if ln.arg(1).is_empty() {
        return Err(ln.diag(format!("'{kw}' expects an argument.")));
    }
    if !ln.arg(2).is_empty() {
        return Err(ln.diag(format!(
            "'{kw}' expects only one argument, don't forget to escape spaces!"
        )));
    }
    let v = ln.arg(1).to_string();
    match kw {
        "log-format" => {
            if px.kind == super::model::ProxyKind::Backend {
                d.warn(ln.diag(format!(
                    "backend '{}' : 'log-format' directive is ignored in backends.",
                    px.name
                )));
                return Ok(());
            }
            px.log_format = Some((ln.place(), v));
            px.options.httplog = false;
            px.options.httplog_clf = false;
            px.options.httpslog = false;
            px.options.tcplog = false;
        }
        "unique-id-format" => px.unique_id_format = Some((ln.place(), v)),
        _ => px.unique_id_header = Some(v),
    }
    Ok(())
}

/// `capture request|response header NAME len N`, `declare capture
/// request|response len N` (frontends only).
pub(super) fn capture(
    px: &mut super::model::Proxy,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    use super::model::{CaptureDecl, ProxyKind};
    let kw = ln.kw();
    if kw == "declare" {
        if !px.kind.is_frontend() {
            return Err(ln.diag("'declare' only available in frontend or listen section"));
        }
        if ln.arg(1) != "capture" {
            return Err(ln.diag("'declare' expects 'capture'."));
        }
        let response = match ln.arg(2) {
            "request" => false,
            "response" => true,
            _ => return Err(ln.diag("'declare capture' expects 'request' or 'response'.")),
        };
        let len = match (ln.arg(3), ln.arg(4).parse::<u32>()) {
            ("len", Ok(n)) if n > 0 => n,
            ("len", _) => {
                return Err(ln.diag(
                    "'declare capture': 'len' requires a numeric value that represents the capture length",
                ))
            }
            _ => return Err(ln.diag("'declare capture' expects 'len'.")),
        };
        ln.no_extra(5)?;
        px.captures.push(CaptureDecl {
            place: ln.place(),
            response,
            header: None,
            len,
            from_rule: false,
        });
        return Ok(());
    }
    match ln.arg(1) {
        "cookie" => {
            return Err(
                ln.diag("'capture cookie' is not supported by Sluice: it changes what is logged.")
            )
        }
        "request" | "response" => {}
        _ => {
            return Err(
                ln.diag("'capture' expects 'cookie', 'request header' or 'response header'.")
            )
        }
    }
    let response = ln.arg(1) == "response";
    let what = format!("capture {}", ln.arg(1));
    if px.kind == ProxyKind::Defaults {
        return Err(ln.diag(format!("'{what}' not allowed in 'defaults' section.")));
    }
    if ln.arg(2) != "header" || ln.arg(3).is_empty() || ln.arg(4) != "len" {
        return Err(ln.diag(format!(
            "'{what}' expects 'header' <header_name> 'len' <len>."
        )));
    }
    let len = match ln.arg(5).parse::<u32>() {
        Ok(n) if n > 0 => n,
        _ => {
            return Err(ln.diag(format!(
                "'{what}' : invalid length '{}' (expects a positive integer).",
                ln.arg(5)
            )))
        }
    };
    ln.no_extra(6)?;
    if !px.kind.is_frontend() {
        d.warn(ln.diag(format!(
            "'capture' ignored because {} '{}' has no frontend capability.",
            px.kind.type_str(),
            px.name
        )));
        return Ok(());
    }
    px.captures.push(CaptureDecl {
        place: ln.place(),
        response,
        header: Some(ln.arg(3).to_string()),
        len,
        from_rule: false,
    });
    Ok(())
}

/// `http-request capture EXPR len N` in a frontend (or a defaults section,
/// whose slots the frontends that inherit it number first) declares a
/// request capture slot at its line (HAProxy's `parse_http_req_capture`);
/// the rule itself is built with the others.
pub(super) fn rule_capture_slot(px: &mut super::model::Proxy, ln: &Ln<'_>) {
    let fe_or_def = px.kind.is_frontend() || px.kind == super::model::ProxyKind::Defaults;
    if !fe_or_def || ln.arg(1) != "capture" || ln.arg(3) != "len" {
        return;
    }
    if let Ok(len) = ln.arg(4).parse::<u32>() {
        px.captures.push(super::model::CaptureDecl {
            place: ln.place(),
            response: false,
            header: None,
            len,
            from_rule: true,
        });
    }
}
