//! The prefixes programs and loggers write before a message, as regex text: what the
//! built-in patterns start with after `^`. Every one is written by the host (a clock, a host
//! name, a process id, a level), never by the remote side.

/// A syslog or journald timestamp: `Nov 21 10:00:00` (RFC 3164 and `journalctl`'s short
/// format, with the fraction of `short-precise`), or ISO 8601 (rsyslog's high-precision
/// format, `journalctl -o short-iso`).
const STAMP: &str = r"(?:[A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d{1,9})?|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))";

/// `STAMP host program[pid]: `, as syslog and journald write it; `program` is a regex.
pub(super) fn syslog(program: &str) -> String {
    format!(r"{STAMP} \S+ {program}\[\d+\]: ")
}

/// The prefix of Asterisk's own log files (`messages`, `full`, `security`) and of its syslog
/// channel: `[date] LEVEL[tid][C-callid] file.c: ` (Asterisk up to 13),
/// `[date] LEVEL[tid]: file.c:line function: ` (14 and later), or
/// `STAMP host asterisk[pid]: LEVEL[tid]: file.c:line in function: ` through syslog.
pub(super) fn asterisk(levels: &str) -> String {
    let date = r"\[[^\[\]]+\] ";
    let syslog = syslog(r"(?:/usr/sbin/)?asterisk");
    format!(
        r"(?:{date}|{syslog}(?:{date})?)(?:{levels})\[\d+\](?:\[C-[0-9A-Fa-f]+\])?:? [A-Za-z0-9_./-]+(?::\d+)?(?: (?:in )?[A-Za-z0-9_]+)?: "
    )
}

/// The prefix of Kamailio's log lines from `xlog`: on stderr (`-E`)
/// ` 1(4955) NOTICE: <script>: `, through syslog `STAMP host kamailio[pid]: NOTICE: <script>: `.
pub(super) fn kamailio_script() -> String {
    let syslog = syslog(r"(?:/usr/sbin/)?kamailio");
    format!(
        r"(?: ?\d+\(\d+\) |{syslog})(?:ALERT|BUG|CRITICAL|ERROR|WARNING|NOTICE|INFO): <script>: "
    )
}
