//! airbyte-cdk's Jinja macros (globals), with the same names, arguments and results:
//! `now_utc`, `today_utc`, `today_with_timezone`, `timestamp`, `str_to_datetime`, `max`, `min`,
//! `day_delta`, `duration`, `format_datetime`, `sanitize_url`, `camel_case_to_snake_case`,
//! `generate_uuid`.

use std::cmp::Ordering;

use chrono::{Duration, Utc};
use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::datetime::{self, PyDate, PyDateTime};

/// The macro names (they are globals, not context variables).
pub(crate) const NAMES: &[&str] = &[
    "now_utc",
    "today_utc",
    "today_with_timezone",
    "timestamp",
    "str_to_datetime",
    "max",
    "min",
    "day_delta",
    "duration",
    "format_datetime",
    "sanitize_url",
    "camel_case_to_snake_case",
    "generate_uuid",
];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function("now_utc", || {
        Value::from_object(PyDateTime::utc(Utc::now()))
    });
    env.add_function("today_utc", || {
        Value::from_object(PyDate(Utc::now().date_naive()))
    });
    env.add_function(
        "today_with_timezone",
        |tz: String| -> Result<Value, Error> {
            let zone: chrono_tz::Tz = tz
                .parse()
                .map_err(|_| bad(format!("today_with_timezone: unknown time zone {tz:?}")))?;
            Ok(Value::from_object(PyDate(
                Utc::now().with_timezone(&zone).date_naive(),
            )))
        },
    );
    env.add_function("timestamp", timestamp);
    env.add_function("str_to_datetime", |s: String| -> Result<Value, Error> {
        str_to_datetime(&s).map(Value::from_object)
    });
    env.add_function("max", |args: Rest<Value>| extreme(&args, Ordering::Greater));
    env.add_function("min", |args: Rest<Value>| extreme(&args, Ordering::Less));
    env.add_function(
        "day_delta",
        |days: f64, format: Option<String>| -> Result<Value, Error> {
            let micros = (days * 86_400e6).round() as i64;
            let dt = PyDateTime::utc(Utc::now() + Duration::microseconds(micros));
            let fmt = format.as_deref().unwrap_or("%Y-%m-%dT%H:%M:%S.%f%z");
            Ok(Value::from(datetime::strftime(&dt, fmt)))
        },
    );
    env.add_function("duration", |s: String| -> Result<Value, Error> {
        datetime::parse_duration(&s)
            .map(Value::from_object)
            .ok_or_else(|| bad(format!("duration: {s:?} is not an ISO 8601 duration")))
    });
    env.add_function("format_datetime", format_datetime);
    env.add_function("sanitize_url", |s: String| Value::from(quote_plus(&s)));
    env.add_function("camel_case_to_snake_case", |s: String| {
        Value::from(camel_to_snake(&s))
    });
    env.add_function("generate_uuid", || {
        Value::from(uuid::Uuid::new_v4().to_string())
    });
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `str_to_datetime`: ISO 8601, naive taken as UTC, returned in UTC.
fn str_to_datetime(s: &str) -> Result<PyDateTime, Error> {
    datetime::isoparse(s)
        .map(|d| d.assume_utc().to_utc())
        .ok_or_else(|| {
            bad(format!(
                "str_to_datetime: {s:?} is not an ISO 8601 date or date-time"
            ))
        })
}

/// `timestamp(x)`: a number truncated to an int, a string parsed and given as epoch seconds.
fn timestamp(v: Value) -> Result<Value, Error> {
    if v.kind() == ValueKind::Number {
        if let Some(i) = v.as_i64() {
            return Ok(Value::from(i));
        }
        let f = f64::try_from(v.clone()).map_err(|_| bad("timestamp: not a number"))?;
        return Ok(Value::from(f.trunc() as i64));
    }
    if let Some(dt) = v.downcast_object_ref::<PyDateTime>() {
        return Ok(Value::from(dt.timestamp()));
    }
    let s = v
        .as_str()
        .ok_or_else(|| bad("timestamp takes a number or a date-time string"))?;
    Ok(Value::from(str_to_datetime(s)?.timestamp()))
}

/// `max`/`min`: of the arguments, or of the one iterable argument; the first extreme wins.
fn extreme(args: &[Value], want: Ordering) -> Result<Value, Error> {
    let items: Vec<Value> = match args {
        [one] if matches!(one.kind(), ValueKind::Seq | ValueKind::Iterable) => {
            one.try_iter()?.collect()
        }
        [one] if one.kind() == ValueKind::String => one
            .as_str()
            .unwrap_or_default()
            .chars()
            .map(|c| Value::from(c.to_string()))
            .collect(),
        _ => args.to_vec(),
    };
    let mut best: Option<Value> = None;
    for item in items {
        best = Some(match best {
            None => item,
            Some(b) => {
                if compare(&item, &b)? == want {
                    item
                } else {
                    b
                }
            }
        });
    }
    best.ok_or_else(|| bad("max()/min() of an empty sequence"))
}

fn compare(a: &Value, b: &Value) -> Result<Ordering, Error> {
    if let (Some(x), Some(y)) = (
        a.downcast_object_ref::<PyDateTime>(),
        b.downcast_object_ref::<PyDateTime>(),
    ) {
        return Ok(x.instant().cmp(&y.instant()));
    }
    if let (Some(x), Some(y)) = (
        a.downcast_object_ref::<PyDate>(),
        b.downcast_object_ref::<PyDate>(),
    ) {
        return Ok(x.0.cmp(&y.0));
    }
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number)
        | (ValueKind::String, ValueKind::String)
        | (ValueKind::Bool, ValueKind::Bool | ValueKind::Number)
        | (ValueKind::Number, ValueKind::Bool) => a
            .partial_cmp(b)
            .ok_or_else(|| bad("values that do not compare")),
        _ => Err(bad(format!(
            "'>' not supported between {} and {}",
            a.kind(),
            b.kind()
        ))),
    }
}

/// `format_datetime(dt, format, input_format=None)`.
fn format_datetime(
    dt: Value,
    format: String,
    input_format: Option<String>,
) -> Result<Value, Error> {
    if let Some(d) = dt.downcast_object_ref::<PyDateTime>() {
        return Ok(Value::from(datetime::strftime(d, &format)));
    }
    let parsed = if dt.kind() == ValueKind::Number && dt.as_i64().is_some() {
        let text = dt.to_string();
        datetime::parse(&text, input_format.as_deref().unwrap_or("%s")).ok_or_else(|| {
            bad(format!(
                "format_datetime: cannot read {text} as a timestamp"
            ))
        })?
    } else {
        let text = super::python::str_of(&dt);
        match &input_format {
            Some(f) => datetime::strptime(&text, f).ok_or_else(|| {
                bad(format!(
                    "format_datetime: {text:?} does not match the format {f:?}"
                ))
            })?,
            None => str_to_datetime(&text)?,
        }
    };
    Ok(Value::from(datetime::format(&parsed.assume_utc(), &format)))
}

/// `urllib.parse.quote_plus`: letters, digits and `_.-~` kept, space as `+`, the rest `%XX`.
fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower()`.
fn camel_to_snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_case_helpers_match_python() {
        assert_eq!(
            quote_plus("https://example.com/path?query=value"),
            "https%3A%2F%2Fexample.com%2Fpath%3Fquery%3Dvalue"
        );
        assert_eq!(quote_plus("a b~"), "a+b~");
        assert_eq!(camel_to_snake("CamelCaseHTTP"), "camel_case_h_t_t_p");
    }
}
