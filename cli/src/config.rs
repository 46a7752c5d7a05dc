//! Config files: JSON or YAML, with `${VAR}` taken from the environment (for secrets).

use std::path::Path;

use serde_json::Value;

/// Reads a config file. `${NAME}` anywhere in a string value is replaced by the environment
/// variable `NAME` (an unset variable is a config error naming it); `$${` is a literal `${`.
pub fn load(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        intake::Error::config(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })?;
    let value = parse(&text, path)?;
    Ok(substitute(value, &|name| std::env::var(name).ok())?)
}

fn parse(text: &str, path: &Path) -> Result<Value, intake::Error> {
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if !yaml {
        match serde_json::from_str(text) {
            Ok(v) => return Ok(v),
            Err(e) if text.trim_start().starts_with('{') => {
                return Err(intake::Error::config(format!(
                    "the config file {} is not valid JSON (line {}, column {})",
                    path.display(),
                    e.line(),
                    e.column()
                )));
            }
            Err(_) => {}
        }
    }
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        intake::Error::config(format!(
            "the config file {} is neither JSON nor YAML{at}",
            path.display()
        ))
    })?;
    serde_json::to_value(v).map_err(|_| {
        intake::Error::config(format!(
            "the config file {} has YAML that JSON cannot hold (a non-string key?)",
            path.display()
        ))
    })
}

/// Replaces `${NAME}` in every string.
pub fn substitute(
    value: Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, intake::Error> {
    Ok(match value {
        Value::String(s) => Value::String(expand(&s, env)?),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| substitute(v, env))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, substitute(v, env)?)))
                .collect::<Result<_, intake::Error>>()?,
        ),
        other => other,
    })
}

fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, intake::Error> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find('}') else {
            return Err(intake::Error::config(format!(
                "an unclosed ${{ in the config: \"{}\"",
                &rest[i..]
            )));
        };
        let name = &rest[i + 2..i + end];
        let value = env(name).ok_or_else(|| {
            intake::Error::config(format!(
                "the config uses the environment variable {name}, which is not set"
            ))
        })?;
        out.push_str(&value);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Saves a config whose credential the source rotated, next to the original (mode 0600), and
/// says so: the original may take its secrets from the environment, so it is not rewritten.
pub fn save_updated(path: &Path, updated: &Value) -> anyhow::Result<()> {
    let target = path.with_extension("rotated.json");
    std::fs::write(&target, serde_json::to_string_pretty(updated)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
    }
    eprintln!(
        "the source rotated a credential: the updated config is in {} (use it for the next run)",
        target.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn environment_variables_fill_strings() {
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
        let v = substitute(
            json!({"a": "${TOKEN}", "b": ["x-${TOKEN}-y", 3], "c": "$${TOKEN}"}),
            &env,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": "s3cret", "b": ["x-s3cret-y", 3], "c": "${TOKEN}"})
        );
        let err = substitute(json!({"a": "${MISSING}"}), &env).unwrap_err();
        assert!(err.is_config() && err.message().contains("MISSING"));
        assert!(substitute(json!("${OPEN"), &env).unwrap_err().is_config());
    }

    #[test]
    fn json_and_yaml_both_parse() {
        let p = Path::new("c.yaml");
        assert_eq!(
            parse(
                "credentials:\n  access_token: abc\nstart_date: '2024-01-01T00:00:00Z'\n",
                p
            )
            .unwrap(),
            json!({"credentials": {"access_token": "abc"}, "start_date": "2024-01-01T00:00:00Z"})
        );
        assert_eq!(
            parse("{\"a\": 1}", Path::new("c.json")).unwrap(),
            json!({"a": 1})
        );
        let err = parse("{\"a\": ", Path::new("c.json")).unwrap_err();
        assert!(err.is_config() && err.message().contains("not valid JSON"));
        assert!(
            parse(": : :\n  - [", Path::new("c.yml"))
                .unwrap_err()
                .is_config()
        );
    }
}
