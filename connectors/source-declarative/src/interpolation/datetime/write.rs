//! Python's `strftime`, and the CDK's `DatetimeParser.format` around it.

use chrono::{Datelike, Timelike};

use super::{DAYS, MONTHS, PyDateTime, offset_text};

pub fn format(dt: &PyDateTime, fmt: &str) -> String {
    match fmt {
        "%s" => return (dt.timestamp().floor() as i64).to_string(),
        "%s_as_float" => return super::super::python::float_repr(dt.timestamp()),
        "%epoch_microseconds" => return dt.instant().timestamp_micros().to_string(),
        "%ms" => return dt.instant().timestamp_millis().to_string(),
        _ => {}
    }
    if fmt.contains("%_ms") {
        let millis = dt.local.nanosecond() / 1_000_000 % 1000;
        let micros = strftime(dt, "%f");
        return strftime(dt, &fmt.replace("%_ms", "%f")).replace(&micros, &format!("{millis:03}"));
    }
    strftime(dt, fmt)
}

/// Python's `datetime.strftime` (glibc underneath: `%s` is epoch seconds, `%e` a space-padded
/// day, an unknown directive is written as it is).
pub fn strftime(dt: &PyDateTime, fmt: &str) -> String {
    let l = &dt.local;
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let hour12 = match l.hour() % 12 {
            0 => 12,
            h => h,
        };
        match d {
            'Y' => out.push_str(&format!("{}", l.year())),
            'y' => out.push_str(&format!("{:02}", l.year().rem_euclid(100))),
            'm' => out.push_str(&format!("{:02}", l.month())),
            'd' => out.push_str(&format!("{:02}", l.day())),
            'e' => out.push_str(&format!("{:2}", l.day())),
            'H' => out.push_str(&format!("{:02}", l.hour())),
            'I' => out.push_str(&format!("{hour12:02}")),
            'M' => out.push_str(&format!("{:02}", l.minute())),
            'S' => out.push_str(&format!("{:02}", l.second())),
            'f' => out.push_str(&format!("{:06}", l.nanosecond() / 1000 % 1_000_000)),
            'p' => out.push_str(if l.hour() < 12 { "AM" } else { "PM" }),
            'z' => {
                if let Some(o) = dt.offset {
                    out.push_str(&offset_text(o, false));
                }
            }
            'Z' => {
                if let Some(o) = dt.offset {
                    if o.local_minus_utc() == 0 {
                        out.push_str("UTC");
                    } else {
                        out.push_str(&format!("UTC{}", offset_text(o, true)));
                    }
                }
            }
            'a' => out.push_str(&DAYS[l.weekday().num_days_from_monday() as usize][..3]),
            'A' => out.push_str(DAYS[l.weekday().num_days_from_monday() as usize]),
            'b' | 'h' => out.push_str(&MONTHS[l.month0() as usize][..3]),
            'B' => out.push_str(MONTHS[l.month0() as usize]),
            'j' => out.push_str(&format!("{:03}", l.ordinal())),
            'w' => out.push_str(&format!("{}", l.weekday().num_days_from_sunday())),
            'u' => out.push_str(&format!("{}", l.weekday().number_from_monday())),
            'U' => out.push_str(&l.format("%U").to_string()),
            'W' => out.push_str(&l.format("%W").to_string()),
            'V' => out.push_str(&l.format("%V").to_string()),
            'G' => out.push_str(&l.format("%G").to_string()),
            's' => out.push_str(&(dt.timestamp().floor() as i64).to_string()),
            'T' => out.push_str(&strftime(dt, "%H:%M:%S")),
            'D' => out.push_str(&strftime(dt, "%m/%d/%y")),
            'F' => out.push_str(&strftime(dt, "%Y-%m-%d")),
            'R' => out.push_str(&strftime(dt, "%H:%M")),
            'c' => out.push_str(&strftime(dt, "%a %b %e %H:%M:%S %Y")),
            'x' => out.push_str(&strftime(dt, "%m/%d/%y")),
            'X' => out.push_str(&strftime(dt, "%H:%M:%S")),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            '%' => out.push('%'),
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}
