//! Python's `datetime`, `date` and `timedelta` as template values, with Python's `strftime`
//! and `strptime` (not C's or chrono's: `%f` is six digits of microseconds, `%z` is empty for a
//! naive value, strptime matches case-insensitively and a space matches any run of
//! whitespace), and the formats airbyte-cdk adds: `%s` (epoch seconds), `%s_as_float`, `%ms`
//! (epoch milliseconds), `%epoch_microseconds` and `%_ms` (three digits of milliseconds).

use std::fmt;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};
use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

/// A Python `datetime`: naive, or aware at a fixed offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PyDateTime {
    /// The wall-clock time.
    pub local: NaiveDateTime,
    /// The UTC offset, for an aware value.
    pub offset: Option<FixedOffset>,
}

impl PyDateTime {
    /// An aware value in UTC.
    pub fn utc(dt: DateTime<Utc>) -> Self {
        PyDateTime {
            local: dt.naive_utc(),
            offset: Some(FixedOffset::east_opt(0).expect("zero offset")),
        }
    }

    /// The instant, a naive value taken as UTC (as the CDK's parser does).
    pub fn instant(&self) -> DateTime<Utc> {
        let offset = self
            .offset
            .unwrap_or(FixedOffset::east_opt(0).expect("zero offset"));
        match offset.from_local_datetime(&self.local).single() {
            Some(t) => t.with_timezone(&Utc),
            None => Utc.from_utc_datetime(&self.local),
        }
    }

    /// `dt.timestamp()`: seconds since the epoch, as a float.
    pub fn timestamp(&self) -> f64 {
        // Whole microseconds divided once, as Python's `total_seconds` does (one rounding).
        self.instant().timestamp_micros() as f64 / 1e6
    }

    /// The same instant in UTC, aware (`astimezone(timezone.utc)`).
    pub fn to_utc(&self) -> Self {
        Self::utc(self.instant())
    }

    /// A naive value made aware in UTC, an aware one kept (the CDK's rule after parsing).
    pub fn assume_utc(self) -> Self {
        match self.offset {
            Some(_) => self,
            None => PyDateTime {
                local: self.local,
                offset: Some(FixedOffset::east_opt(0).expect("zero offset")),
            },
        }
    }
}

impl fmt::Display for PyDateTime {
    /// `str(datetime)`: `2024-01-02 03:04:05[.ffffff][+00:00]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&isoformat(self, ' '))
    }
}

fn isoformat(dt: &PyDateTime, sep: char) -> String {
    let mut s = format!(
        "{}{sep}{:02}:{:02}:{:02}",
        dt.local.date().format("%Y-%m-%d"),
        dt.local.hour(),
        dt.local.minute(),
        dt.local.second()
    );
    let micros = dt.local.nanosecond() / 1000 % 1_000_000;
    if micros != 0 {
        s.push_str(&format!(".{micros:06}"));
    }
    if let Some(o) = dt.offset {
        s.push_str(&offset_text(o, true));
    }
    s
}

fn offset_text(o: FixedOffset, colon: bool) -> String {
    let secs = o.local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.abs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let sep = if colon { ":" } else { "" };
    if s != 0 {
        format!("{sign}{h:02}{sep}{m:02}{sep}{s:02}")
    } else {
        format!("{sign}{h:02}{sep}{m:02}")
    }
}

/// A Python `timedelta` (or an `isodate.Duration` with months and years).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PyDuration {
    /// Years and months (only an ISO 8601 duration has them).
    pub months: i32,
    /// The rest.
    pub delta: Duration,
}

impl fmt::Display for PyDuration {
    /// `str(timedelta)`: `1 day, 2:03:04`, `-1 day, 23:59:59`, `0:00:01.500000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.months != 0 {
            let (y, m) = (self.months / 12, self.months % 12);
            if y != 0 {
                write!(f, "{y} year{}, ", if y.abs() == 1 { "" } else { "s" })?;
            }
            if m != 0 {
                write!(f, "{m} month{}, ", if m.abs() == 1 { "" } else { "s" })?;
            }
        }
        let micros = self.delta.num_microseconds().unwrap_or(i64::MAX);
        let days = micros.div_euclid(86_400_000_000);
        let rest = micros.rem_euclid(86_400_000_000);
        if days != 0 {
            write!(f, "{days} day{}, ", if days.abs() == 1 { "" } else { "s" })?;
        }
        let (secs, frac) = (rest / 1_000_000, rest % 1_000_000);
        write!(f, "{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)?;
        if frac != 0 {
            write!(f, ".{frac:06}")?;
        }
        Ok(())
    }
}

/// A Python `date`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PyDate(pub NaiveDate);

impl fmt::Display for PyDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// Python's `str()` of a datetime, date or duration value; `None` for any other value.
pub(crate) fn python_str(v: &Value) -> Option<String> {
    if let Some(dt) = v.downcast_object_ref::<PyDateTime>() {
        return Some(dt.to_string());
    }
    if let Some(d) = v.downcast_object_ref::<PyDate>() {
        return Some(d.to_string());
    }
    v.downcast_object_ref::<PyDuration>().map(|d| d.to_string())
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn no_method(kind: &str, method: &str) -> Error {
    Error::new(
        ErrorKind::UnknownMethod,
        format!("{kind} has no method {method}()"),
    )
}

fn one_str<'a>(method: &str, args: &'a [Value]) -> Result<&'a str, Error> {
    args.first()
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{method}() takes a format string")))
}

impl Object for PyDateTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let l = &self.local;
        Some(Value::from(match key.as_str()? {
            "year" => l.year() as i64,
            "month" => l.month() as i64,
            "day" => l.day() as i64,
            "hour" => l.hour() as i64,
            "minute" => l.minute() as i64,
            "second" => l.second() as i64,
            "microsecond" => (l.nanosecond() / 1000 % 1_000_000) as i64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => Ok(Value::from(strftime(self, one_str(method, args)?))),
            "isoformat" => {
                let sep = args
                    .first()
                    .and_then(Value::as_str)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('T');
                Ok(Value::from(isoformat(self, sep)))
            }
            "timestamp" => Ok(Value::from(self.timestamp())),
            "date" => Ok(Value::from_object(PyDate(self.local.date()))),
            "weekday" => Ok(Value::from(
                self.local.weekday().num_days_from_monday() as i64
            )),
            "isoweekday" => Ok(Value::from(self.local.weekday().number_from_monday() as i64)),
            "astimezone" => Ok(Value::from_object(self.to_utc())),
            "utcoffset" => Ok(self
                .offset
                .map(|o| {
                    Value::from_object(PyDuration {
                        months: 0,
                        delta: Duration::seconds(o.local_minus_utc().into()),
                    })
                })
                .unwrap_or(Value::from(()))),
            _ => Err(no_method("datetime", method)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_ref(), f)
    }
}

impl Object for PyDate {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "year" => self.0.year() as i64,
            "month" => self.0.month() as i64,
            "day" => self.0.day() as i64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let midnight = PyDateTime {
            local: self.0.and_time(NaiveTime::MIN),
            offset: None,
        };
        match method {
            "strftime" => Ok(Value::from(strftime(&midnight, one_str(method, args)?))),
            "isoformat" => Ok(Value::from(self.to_string())),
            "weekday" => Ok(Value::from(self.0.weekday().num_days_from_monday() as i64)),
            "isoweekday" => Ok(Value::from(self.0.weekday().number_from_monday() as i64)),
            _ => Err(no_method("date", method)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_ref(), f)
    }
}

impl Object for PyDuration {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let micros = self.delta.num_microseconds()?;
        Some(Value::from(match key.as_str()? {
            "days" => micros.div_euclid(86_400_000_000),
            "seconds" => micros.rem_euclid(86_400_000_000) / 1_000_000,
            "microseconds" => micros.rem_euclid(1_000_000),
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "total_seconds" => Ok(Value::from(
                self.delta.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6,
            )),
            _ => Err(no_method("timedelta", method)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_ref(), f)
    }
}

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The CDK's `DatetimeParser.format`: its whole-format epoch forms, `%_ms`, else `strftime`.
pub fn format(dt: &PyDateTime, fmt: &str) -> String {
    match fmt {
        "%s" => return (dt.timestamp().floor() as i64).to_string(),
        "%s_as_float" => return super::python::float_repr(dt.timestamp()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> PyDateTime {
        PyDateTime::utc(text.parse::<DateTime<Utc>>().unwrap())
    }

    #[test]
    fn strftime_is_pythons() {
        let dt = utc("2024-03-05T07:08:09.012345Z");
        // Each expected value printed by CPython 3.11.
        assert_eq!(
            strftime(&dt, "%Y-%m-%dT%H:%M:%S.%fZ"),
            "2024-03-05T07:08:09.012345Z"
        );
        assert_eq!(
            strftime(&dt, "%Y-%m-%dT%H:%M:%S%z"),
            "2024-03-05T07:08:09+0000"
        );
        assert_eq!(
            strftime(&dt, "%a %A %b %B %j %p %I %y %Z"),
            "Tue Tuesday Mar March 065 AM 07 24 UTC"
        );
        assert_eq!(format(&dt, "%s"), "1709622489");
        assert_eq!(format(&dt, "%ms"), "1709622489012");
        assert_eq!(format(&dt, "%s_as_float"), "1709622489.012345");
        assert_eq!(
            format(&dt, "%Y-%m-%dT%H:%M:%S.%_msZ"),
            "2024-03-05T07:08:09.012Z"
        );
        assert_eq!(dt.to_string(), "2024-03-05 07:08:09.012345+00:00");
        let naive = PyDateTime {
            local: dt.local,
            offset: None,
        };
        assert_eq!(strftime(&naive, "%z|%Z"), "|");
    }

    #[test]
    fn strptime_is_pythons() {
        // (text, format, what Python's strptime gives, printed as str()).
        let cases: [(&str, &str, Option<&str>); 8] = [
            ("2024-01-02", "%Y-%m-%d", Some("2024-01-02 00:00:00")),
            (
                "2024-01-02T03:04:05.5Z",
                "%Y-%m-%dT%H:%M:%S.%fZ",
                Some("2024-01-02 03:04:05.500000"),
            ),
            (
                "2024-01-02T03:04:05+05:30",
                "%Y-%m-%dT%H:%M:%S%z",
                Some("2024-01-02 03:04:05+05:30"),
            ),
            (
                "2024-01-02T03:04:05Z",
                "%Y-%m-%dT%H:%M:%S%z",
                Some("2024-01-02 03:04:05+00:00"),
            ),
            ("2024-1-2", "%Y-%m-%d", Some("2024-01-02 00:00:00")),
            ("02 jan 2024", "%d %b %Y", Some("2024-01-02 00:00:00")),
            ("2024-01-02x", "%Y-%m-%d", None), // unconverted data remains
            ("2024-13-02", "%Y-%m-%d", None),
        ];
        for (text, fmt, want) in cases {
            let got = strptime(text, fmt).map(|d| d.to_string());
            assert_eq!(got.as_deref(), want, "{text} {fmt}");
        }
        // The CDK's parser: epoch forms by name, a naive result taken as UTC.
        for (text, fmt, want) in [
            ("1700000000", "%s", "2023-11-14 22:13:20+00:00"),
            ("1700000000123", "%ms", "2023-11-14 22:13:20.123000+00:00"),
            ("2024-01-02", "%Y-%m-%d", "2024-01-02 00:00:00+00:00"),
        ] {
            assert_eq!(parse(text, fmt).unwrap().to_string(), want, "{text} {fmt}");
        }
    }

    #[test]
    fn durations_and_isoparse() {
        assert_eq!(parse_duration("P1D").unwrap().to_string(), "1 day, 0:00:00");
        assert_eq!(parse_duration("PT1H30M").unwrap().to_string(), "1:30:00");
        assert_eq!(
            parse_duration("PT0.1S").unwrap().to_string(),
            "0:00:00.100000"
        );
        assert_eq!(
            parse_duration("P2W").unwrap().to_string(),
            "14 days, 0:00:00"
        );
        assert_eq!(
            parse_duration("-P1D").unwrap().to_string(),
            "-1 day, 0:00:00"
        );
        assert_eq!(
            parse_duration("P1M").unwrap().to_string(),
            "1 month, 0:00:00"
        );
        assert_eq!(parse_duration("1D"), None);
        assert_eq!(
            isoparse("2022-01-14").unwrap().to_string(),
            "2022-01-14 00:00:00"
        );
        assert_eq!(
            isoparse("2022-01-01T13:45:30+01:00").unwrap().to_string(),
            "2022-01-01 13:45:30+01:00"
        );
        assert_eq!(
            isoparse("2022-01-01T13:45:30.25Z").unwrap().to_string(),
            "2022-01-01 13:45:30.250000+00:00"
        );
    }
}
