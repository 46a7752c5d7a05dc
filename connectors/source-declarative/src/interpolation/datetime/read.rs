//! Python's `strptime`, the CDK's `DatetimeParser.parse` around it, `dateutil`'s `isoparse`
//! and `isodate`'s ISO 8601 durations.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime};

use super::{DAYS, MONTHS, PyDateTime, PyDuration};

/// The CDK's `DatetimeParser.parse`: epoch forms by name, else Python's `strptime`; a naive
/// result is taken as UTC.
pub fn parse(text: &str, fmt: &str) -> Option<PyDateTime> {
    let epoch = |micros: i128| -> Option<PyDateTime> {
        let secs = i64::try_from(micros.div_euclid(1_000_000)).ok()?;
        let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).ok()?;
        Some(PyDateTime::utc(DateTime::from_timestamp(secs, nanos)?))
    };
    match fmt {
        "%s" => return epoch(i128::from(python_int(text)?) * 1_000_000),
        "%s_as_float" => {
            let f: f64 = text.trim().parse().ok()?;
            return epoch((f * 1e6).round() as i128);
        }
        "%epoch_microseconds" => return epoch(i128::from(python_int(text)?)),
        "%ms" => return epoch(i128::from(python_int(text)?) * 1000),
        _ => {}
    }
    let fmt = fmt.replace("%_ms", "%f");
    strptime(text, &fmt).map(PyDateTime::assume_utc)
}

/// `int(text)`: surrounding whitespace, a sign, underscores between digits.
fn python_int(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    t.replace('_', "").parse().ok()
}

/// Python's `datetime.strptime`: the whole text must match.
pub fn strptime(text: &str, fmt: &str) -> Option<PyDateTime> {
    let mut p = Fields::default();
    let rest = match_format(text, fmt, &mut p)?;
    if !rest.is_empty() {
        return None; // "unconverted data remains"
    }
    p.build()
}

#[derive(Default)]
struct Fields {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    hour: Option<u32>,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    micros: Option<u32>,
    ordinal: Option<u32>,
    offset: Option<FixedOffset>,
}

impl Fields {
    fn build(&self) -> Option<PyDateTime> {
        let year = self.year.unwrap_or(1900);
        let date = match (self.ordinal, self.month, self.day) {
            (Some(o), None, None) => NaiveDate::from_yo_opt(year, o)?,
            _ => NaiveDate::from_ymd_opt(year, self.month.unwrap_or(1), self.day.unwrap_or(1))?,
        };
        let hour = match (self.hour12, self.pm) {
            (Some(h), Some(pm)) => h % 12 + if pm { 12 } else { 0 },
            (Some(h), None) => h,
            _ => self.hour.unwrap_or(0),
        };
        let time = NaiveTime::from_hms_micro_opt(
            hour,
            self.minute.unwrap_or(0),
            self.second.unwrap_or(0),
            self.micros.unwrap_or(0),
        )?;
        Some(PyDateTime {
            local: date.and_time(time),
            offset: self.offset,
        })
    }
}

/// Matches `text` against `fmt`, returning what is left of the text.
fn match_format<'t>(mut text: &'t str, fmt: &str, p: &mut Fields) -> Option<&'t str> {
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            // Python turns whitespace in the format into \s+.
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let trimmed = text.trim_start();
            if trimmed.len() == text.len() {
                return None;
            }
            text = trimmed;
            continue;
        }
        if c != '%' {
            let mut buf = [0u8; 4];
            let lit = c.encode_utf8(&mut buf);
            let head = text.get(..lit.len())?;
            if !head.eq_ignore_ascii_case(lit) {
                return None;
            }
            text = &text[lit.len()..];
            continue;
        }
        let d = chars.next()?;
        text = match d {
            'Y' => digits(text, 4, 4, |v| p.year = Some(v as i32))?,
            'y' => digits(text, 2, 2, |v| {
                p.year = Some(if v <= 68 {
                    2000 + v as i32
                } else {
                    1900 + v as i32
                })
            })?,
            'm' => bounded(text, 1, 12, |v| p.month = Some(v))?,
            'd' => bounded(text, 1, 31, |v| p.day = Some(v))?,
            'H' => bounded(text, 0, 23, |v| p.hour = Some(v))?,
            'I' => bounded(text, 1, 12, |v| p.hour12 = Some(v))?,
            'M' => bounded(text, 0, 59, |v| p.minute = Some(v))?,
            'S' => bounded(text, 0, 61, |v| p.second = Some(v.min(59)))?,
            'j' => {
                let n = text.bytes().take(3).take_while(u8::is_ascii_digit).count();
                let v: u32 = text.get(..n)?.parse().ok()?;
                if !(1..=366).contains(&v) {
                    return None;
                }
                p.ordinal = Some(v);
                &text[n..]
            }
            'f' => {
                let n = text.bytes().take(6).take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    return None;
                }
                let mut v: u32 = text[..n].parse().ok()?;
                for _ in n..6 {
                    v *= 10;
                }
                p.micros = Some(v);
                &text[n..]
            }
            'p' => {
                let head = text.get(..2)?;
                p.pm = Some(match head.to_ascii_uppercase().as_str() {
                    "AM" => false,
                    "PM" => true,
                    _ => return None,
                });
                &text[2..]
            }
            'z' => {
                let (offset, rest) = parse_offset(text)?;
                p.offset = Some(offset);
                rest
            }
            'Z' => {
                let upper = text.to_ascii_uppercase();
                if upper.starts_with("UTC") || upper.starts_with("GMT") {
                    p.offset.get_or_insert(FixedOffset::east_opt(0)?);
                    &text[3..]
                } else {
                    return None;
                }
            }
            'b' | 'B' | 'h' => {
                let (i, len) = name_at(text, &MONTHS, d == 'B')?;
                p.month = Some(i as u32 + 1);
                &text[len..]
            }
            'a' | 'A' => {
                let (_, len) = name_at(text, &DAYS, d == 'A')?;
                &text[len..]
            }
            'T' => match_format(text, "%H:%M:%S", p)?,
            '%' => text.strip_prefix('%')?,
            _ => return None, // Python raises: a bad directive
        };
    }
    Some(text)
}

/// Between `min` and `max` digits, given to `set`.
fn digits(text: &str, min: usize, max: usize, set: impl FnOnce(u32)) -> Option<&str> {
    let n = text
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if n < min {
        return None;
    }
    set(text[..n].parse().ok()?);
    Some(&text[n..])
}

/// One or two digits in `lo..=hi` (Python's regex takes two digits when they fit).
fn bounded(text: &str, lo: u32, hi: u32, set: impl FnOnce(u32)) -> Option<&str> {
    let n = text.bytes().take(2).take_while(u8::is_ascii_digit).count();
    for len in (1..=n).rev() {
        let v: u32 = text[..len].parse().ok()?;
        if (lo..=hi).contains(&v) {
            set(v);
            return Some(&text[len..]);
        }
    }
    None
}

/// A month or day name (full, or its three-letter abbreviation), case-insensitively.
fn name_at(text: &str, names: &[&str], full_first: bool) -> Option<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let forms = |n: &str| {
        if full_first {
            [n.to_ascii_lowercase(), n[..3].to_ascii_lowercase()]
        } else {
            [n[..3].to_ascii_lowercase(), n.to_ascii_lowercase()]
        }
    };
    // The longest match wins, as Python's alternation of full and short names does.
    let mut best: Option<(usize, usize)> = None;
    for (i, n) in names.iter().enumerate() {
        for f in forms(n) {
            if lower.starts_with(&f) && best.is_none_or(|b| f.len() > b.1) {
                best = Some((i, f.len()));
            }
        }
    }
    best
}

/// `%z`: `Z`, `±HH[:]MM`, with optional seconds and microseconds.
fn parse_offset(text: &str) -> Option<(FixedOffset, &str)> {
    if let Some(rest) = text.strip_prefix(['Z', 'z']) {
        return Some((FixedOffset::east_opt(0)?, rest));
    }
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let b = text.as_bytes();
    let two = |i: usize| -> Option<i32> {
        let s = std::str::from_utf8(b.get(i..i + 2)?).ok()?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let h = two(1)?;
    let (colon, mut i) = if b.get(3) == Some(&b':') {
        (true, 4)
    } else {
        (false, 3)
    };
    let m = two(i)?;
    i += 2;
    let mut secs = 0;
    if (colon && b.get(i) == Some(&b':')) || (!colon && b.get(i).is_some_and(u8::is_ascii_digit)) {
        let j = if colon { i + 1 } else { i };
        if let Some(s) = two(j) {
            secs = s;
            i = j + 2;
        }
    }
    let total = sign * (h * 3600 + m * 60 + secs);
    Some((FixedOffset::east_opt(total)?, &text[i..]))
}

/// An ISO 8601 duration (`P1D`, `PT1H30M`, `P1Y2M`, `P2W`, `-P1D`), as `isodate` parses it.
pub fn parse_duration(text: &str) -> Option<PyDuration> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let body = body.strip_prefix(['P', 'p'])?;
    let (date_part, time_part) = match body.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let mut months = 0i32;
    let mut micros: f64 = 0.0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64, bool)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                num.push(if c == ',' { '.' } else { c });
                continue;
            }
            let (_, scale, is_months) = units.iter().find(|u| u.0.eq_ignore_ascii_case(&c))?;
            let v: f64 = num.parse().ok()?;
            num.clear();
            any = true;
            if *is_months {
                months += (v * scale) as i32;
            } else {
                micros += v * scale;
            }
        }
        num.is_empty().then_some(())
    };
    take(
        date_part,
        &[
            ('Y', 12.0, true),
            ('M', 1.0, true),
            ('W', 7.0 * 86_400e6, false),
            ('D', 86_400e6, false),
        ],
    )?;
    if let Some(t) = time_part {
        take(
            t,
            &[('H', 3_600e6, false), ('M', 60e6, false), ('S', 1e6, false)],
        )?;
    }
    if !any {
        return None;
    }
    let sign = if negative { -1 } else { 1 };
    Some(PyDuration {
        months: months * sign,
        delta: Duration::microseconds(micros.round() as i64 * i64::from(sign)),
    })
}

/// `dateutil.parser.isoparse`: ISO 8601 dates and date-times, with or without an offset.
pub fn isoparse(text: &str) -> Option<PyDateTime> {
    let t = text.trim();
    let (date, time) = match t.find(['T', ' ']) {
        Some(i) if i >= 8 => (&t[..i], Some(&t[i + 1..])),
        _ => (t, None),
    };
    let date = if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        NaiveDate::parse_from_str(date, "%Y%m%d").ok()?
    } else if date.len() == 7 {
        NaiveDate::parse_from_str(&format!("{date}-01"), "%Y-%m-%d").ok()?
    } else if date.len() == 4 {
        NaiveDate::from_ymd_opt(date.parse().ok()?, 1, 1)?
    } else {
        NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?
    };
    let Some(time) = time else {
        return Some(PyDateTime {
            local: date.and_time(NaiveTime::MIN),
            offset: None,
        });
    };
    // The time, then an optional offset.
    let split = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(split);
    let mut f = Fields::default();
    let clock = clock.replace(',', ".");
    let fmts = [
        "%H:%M:%S.%f",
        "%H:%M:%S",
        "%H:%M",
        "%H%M%S.%f",
        "%H%M%S",
        "%H%M",
        "%H",
    ];
    let parsed = fmts.iter().find_map(|fmt| {
        let mut g = Fields::default();
        let rest = match_format(&clock, fmt, &mut g)?;
        rest.is_empty().then_some(g)
    })?;
    f.hour = parsed.hour;
    f.minute = parsed.minute;
    f.second = parsed.second;
    f.micros = parsed.micros;
    let offset = if zone.is_empty() {
        None
    } else {
        let (o, rest) = parse_offset(zone).or_else(|| {
            // `+05` (hours only).
            let h: i32 = zone.get(1..3)?.parse().ok()?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            Some((FixedOffset::east_opt(sign * h * 3600)?, &zone[3..]))
        })?;
        if !rest.is_empty() {
            return None;
        }
        Some(o)
    };
    let time = NaiveTime::from_hms_micro_opt(
        f.hour.unwrap_or(0),
        f.minute.unwrap_or(0),
        f.second.unwrap_or(0),
        f.micros.unwrap_or(0),
    )?;
    Some(PyDateTime {
        local: date.and_time(time),
        offset,
    })
}
