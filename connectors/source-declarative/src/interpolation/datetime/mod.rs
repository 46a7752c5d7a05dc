//! Python's `datetime`, `date` and `timedelta` as template values, with Python's `strftime`
//! and `strptime` (not C's or chrono's: `%f` is six digits of microseconds, `%z` is empty for a
//! naive value, strptime matches case-insensitively and a space matches any run of
//! whitespace), and the formats airbyte-cdk adds: `%s` (epoch seconds), `%s_as_float`, `%ms`
//! (epoch milliseconds), `%epoch_microseconds` and `%_ms` (three digits of milliseconds).
//!
//! This file: the values and how templates see them; `write.rs` writes them, `read.rs`
//! reads them (and ISO 8601 durations).

mod read;
mod write;

pub use read::{isoparse, parse, parse_duration, strptime};
pub use write::{format, strftime};

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

/// Day names, Monday first (Python's `%A`).
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
/// Month names (Python's `%B`).
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
