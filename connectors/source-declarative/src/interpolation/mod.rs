//! Jinja interpolation with airbyte-cdk's semantics, on minijinja:
//! - the context is `config` plus what the component passes (`parameters`, `stream_slice`
//!   and its aliases `stream_partition` and `stream_interval`, `next_page_token`, `response`,
//!   `headers`, `last_record`, `last_page_size`, `record`, `creation_response`...);
//! - a variable that is neither in the context nor a macro is an error (the CDK raises too),
//!   and `stream_state` is refused with the CDK's advice;
//! - values print as Python prints them, and the output is read back as a Python literal
//!   (`"42"` becomes 42, `"True"` true, `"['a']"` a list); see `literal.rs` and `python.rs`;
//! - an empty result, or an undefined value reached through an attribute, gives the default
//!   (`None` without one);
//! - the CDK's macros and filters are there, Python's str, dict and list methods work on
//!   values (`.get`, `.split`, `.join`, `.items`...), datetimes have `.strftime`, and `range`
//!   is not available (the CDK removes it).
//!
//! Invariant: a template is parsed once, when the component is built, so a syntax error is a
//! manifest error naming its path before any request is made.

mod datetime;
mod filters;
mod literal;
mod macros;
mod python;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

pub use datetime::{PyDate, PyDateTime, PyDuration};
pub use datetime::{format as format_datetime, parse as parse_datetime, parse_duration};

use crate::error::{ManifestError, Result};

const TEMPLATE: &str = "t";

/// Variables the CDK refuses, with its message.
const REFUSED: &[(&str, &str)] = &[(
    "stream_state",
    "`stream_state` is no longer supported for interpolation. We recommend using `stream_interval` instead. Please reference the CDK Migration Guide for more information.",
)];

/// The environment every template is compiled in: macros, filters, Python methods.
fn base() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(|out, _state, value| {
            let mut text = String::new();
            python::write_str(&mut text, value);
            out.write_str(&text)
                .map_err(|e| minijinja::Error::new(ErrorKind::WriteFailure, e.to_string()))
        });
        env.remove_global("range");
        macros::register(&mut env);
        filters::register(&mut env);
        env
    })
}

/// The values a template is evaluated with.
#[derive(Debug, Clone, Default)]
pub struct Context {
    vars: std::collections::BTreeMap<String, minijinja::Value>,
}

impl Context {
    /// A context holding `config`.
    pub fn new(config: &Value) -> Self {
        let mut c = Context::default();
        c.set("config", config);
        c
    }

    /// Sets `name` (setting `stream_slice` sets its aliases `stream_partition` and
    /// `stream_interval` too).
    pub fn set(&mut self, name: &str, value: &Value) -> &mut Self {
        self.set_value(name, minijinja::Value::from_serialize(value))
    }

    /// Sets `name` to a template value (a datetime object, say).
    pub fn set_value(&mut self, name: &str, value: minijinja::Value) -> &mut Self {
        if name == "stream_slice" {
            self.vars.insert("stream_partition".into(), value.clone());
            self.vars.insert("stream_interval".into(), value.clone());
        }
        self.vars.insert(name.into(), value);
        self
    }

    /// `self` with `name` set.
    pub fn with(mut self, name: &str, value: &Value) -> Self {
        self.set(name, value);
        self
    }

    fn has(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }
}

/// A string of a manifest, interpolated: parsed once, evaluated per request, page or record.
#[derive(Clone)]
pub struct Interpolated {
    source: String,
    path: String,
    kind: Kind,
}

/// A template in its own environment (which owns its text), and its free variables.
struct Compiled {
    env: Environment<'static>,
    free: BTreeSet<String>,
}

/// The compiled template for `source`. A manifest repeats its templates through `$ref`s and
/// `$parameters` (Mailchimp's 1,223 hold 21 distinct texts), so each text is compiled once
/// and shared. The cache holds every distinct text a process has loaded; manifests are few
/// and their templates small.
fn compiled(source: &str) -> std::result::Result<Arc<Compiled>, minijinja::Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Compiled>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(source) {
        return Ok(c.clone());
    }
    let mut env = base().clone();
    env.add_template_owned(TEMPLATE, source.to_string())?;
    let free: BTreeSet<String> = env
        .get_template(TEMPLATE)?
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !macros::NAMES.contains(&v.as_str()) && !is_jinja_global(v))
        .collect();
    let c = Arc::new(Compiled { env, free });
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(source.to_string(), c.clone());
    Ok(c)
}

#[derive(Clone)]
enum Kind {
    /// No Jinja syntax: the literal reading of the text, computed once.
    Plain(Value),
    /// A template, compiled once per distinct text (see [`compiled`]).
    Template(Arc<Compiled>),
}

impl std::fmt::Debug for Interpolated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interpolated({:?})", self.source)
    }
}

impl Interpolated {
    /// Parses `source`, written at manifest path `path`.
    pub fn new(source: &str, path: &str) -> Result<Self> {
        let templated = source.contains("{{") || source.contains("{%") || source.contains("{#");
        if !templated {
            return Ok(Interpolated {
                source: source.into(),
                path: path.into(),
                kind: Kind::Plain(read_back(source.to_string())),
            });
        }
        let fail = |e: minijinja::Error| ManifestError::Interpolation {
            path: path.into(),
            template: source.into(),
            message: format!("does not parse: {}", e.detail().unwrap_or(&e.to_string())),
        };
        let compiled = compiled(source).map_err(fail)?;
        for (name, message) in REFUSED {
            if compiled.free.contains(*name) {
                return Err(ManifestError::Interpolation {
                    path: path.into(),
                    template: source.into(),
                    message: (*message).into(),
                });
            }
        }
        Ok(Interpolated {
            source: source.into(),
            path: path.into(),
            kind: Kind::Template(compiled),
        })
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether it holds no Jinja (its value never changes).
    pub fn is_plain(&self) -> bool {
        matches!(self.kind, Kind::Plain(_))
    }

    /// The CDK's `JinjaInterpolation.eval` with no default: rendered and read back as a
    /// literal; an empty result is `null`.
    pub fn eval(&self, ctx: &Context) -> Result<Value> {
        Ok(self.render(ctx)?.map(read_back).unwrap_or(Value::Null))
    }

    /// `eval` with a default template used when the result is empty or undefined.
    pub fn eval_or(&self, ctx: &Context, default: &Interpolated) -> Result<Value> {
        match self.render(ctx)? {
            Some(text) => Ok(read_back(text)),
            None => Ok(read_back(default.render(ctx)?.unwrap_or_default())),
        }
    }

    /// The CDK's `InterpolatedString.eval`: its own text is its default, so an empty result
    /// is the empty string.
    pub fn eval_string_value(&self, ctx: &Context) -> Result<Value> {
        Ok(read_back(self.render(ctx)?.unwrap_or_default()))
    }

    /// `JinjaInterpolation.eval` with `valid_types`: a literal reading that `accept` refuses
    /// stays the rendered text (request parameters accept only text and lists, so `"42"` is
    /// sent as written); an empty result is `null`.
    pub fn eval_valid(&self, ctx: &Context, accept: impl Fn(&Value) -> bool) -> Result<Value> {
        let Some(text) = self.render(ctx)? else {
            return Ok(Value::Null);
        };
        Ok(match literal::literal_eval(&text) {
            Some(v) if accept(&v) => v,
            _ => Value::String(text),
        })
    }

    /// The value as text (Python's `str()` of it), for URLs, headers and parameters.
    pub fn eval_text(&self, ctx: &Context) -> Result<String> {
        Ok(match self.eval_string_value(ctx)? {
            Value::String(s) => s,
            other => python_str_of_json(&other),
        })
    }

    /// The CDK's `InterpolatedBoolean`: false for `False`, `false`, `{}`, `[]`, `()`, `""`,
    /// `0`, `0.0`, `None` and empty containers; true for anything else.
    pub fn eval_bool(&self, ctx: &Context) -> Result<bool> {
        let text = match &self.kind {
            Kind::Plain(v) => return Ok(truthy_result(v, &self.source)),
            Kind::Template(_) => self.render(ctx)?,
        };
        let Some(text) = text else {
            return Ok(false);
        };
        if ["False", "false", "{}", "[]", "()", "", "0", "0.0"].contains(&text.as_str()) {
            return Ok(false);
        }
        let v = read_back(text.clone());
        Ok(truthy_result(&v, &text))
    }

    /// The rendered text, `None` when it is empty or an undefined value was reached.
    fn render(&self, ctx: &Context) -> Result<Option<String>> {
        let (env, free) = match &self.kind {
            Kind::Plain(_) => {
                return Ok((!self.source.is_empty()).then(|| self.source.clone()));
            }
            Kind::Template(c) => (&c.env, &c.free),
        };
        if let Some(missing) = free.iter().find(|v| !ctx.has(v)) {
            return Err(ManifestError::Interpolation {
                path: self.path.clone(),
                template: self.source.clone(),
                message: format!(
                    "uses the variable {missing:?}, which is not available here (available: {})",
                    ctx.vars.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let template = env.get_template(TEMPLATE).map_err(|e| self.error(&e))?;
        match template.render(&ctx.vars) {
            Ok(text) if text.is_empty() => Ok(None),
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == ErrorKind::UndefinedError => Ok(None),
            Err(e) => Err(self.error(&e)),
        }
    }

    fn error(&self, e: &minijinja::Error) -> ManifestError {
        ManifestError::Interpolation {
            path: self.path.clone(),
            template: self.source.clone(),
            message: format!("failed: {}", e.detail().unwrap_or(&e.to_string())),
        }
    }
}

/// Jinja's own globals, which are not context variables either.
fn is_jinja_global(name: &str) -> bool {
    matches!(
        name,
        "dict" | "namespace" | "lipsum" | "cycler" | "joiner" | "debug" | "true" | "false" | "none"
    )
}

/// The rendered text read back as a Python literal, or kept as text (complex numbers are kept
/// as text by the CDK; `literal_eval` here does not produce them).
fn read_back(text: String) -> Value {
    literal::literal_eval(&text).unwrap_or(Value::String(text))
}

fn truthy_result(v: &Value, text: &str) -> bool {
    match v {
        Value::String(_) => !["False", "false", "{}", "[]", "()", "", "0", "0.0"].contains(&text),
        other => crate::manifest::truthy(other),
    }
}

/// Python's `str()` of a JSON value.
pub(crate) fn python_str_of_json(v: &Value) -> String {
    python::str_of(&minijinja::Value::from_serialize(v))
}

#[cfg(test)]
mod tests;
