//! Go's `time.Duration` text, as CrowdSec writes a decision's remaining time: `"59m59.67s"`,
//! `"3h59m58.98s"`, `"-9.13ms"`, `"1.5h"`, `"0s"`.
use std::time::Duration;

/// Parses a Go duration; a negative one (an expired decision) is zero. At most 40
/// characters (no decision lasts longer than a few years).
pub fn parse(text: &str) -> Option<Duration> {
    if text.is_empty() || text.len() > 40 {
        return None;
    }
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut any = false;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
        any = true;
    }
    if !any || !total.is_finite() || total > 100.0 * 365.0 * 86400.0 {
        return None;
    }
    Some(if negative {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowdsec_durations_read_as_their_time() {
        assert_eq!(parse("59m59.5s"), Some(Duration::from_secs_f64(3599.5)));
        assert_eq!(parse("3h59m58s"), Some(Duration::from_secs(4 * 3600 - 2)));
        assert_eq!(parse("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("0s"), Some(Duration::ZERO));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("-9.133092ms"), Some(Duration::ZERO), "expired");
    }

    #[test]
    fn anything_else_is_no_duration() {
        for bad in [
            "",
            "5",
            "h",
            "5x",
            "1h-2m",
            "..s",
            "1e9s",
            "999999999999h",
            "s5",
            "1h 2m",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
