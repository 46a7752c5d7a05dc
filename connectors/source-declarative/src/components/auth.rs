//! Authenticators, mapped onto intake's: `NoAuth`, `BearerAuthenticator`,
//! `ApiKeyAuthenticator` (a header, or a query parameter via `inject_into`; the old `header`
//! field too) and `BasicHttpAuthenticator`. Their secrets are interpolated once with the
//! config and kept as `SecretString`. Any other authenticator is refused by name: it is not
//! silently sent without credentials.

use intake::http::Auth;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::error::{ManifestError, Result};
use crate::interpolation::{Context, Interpolated};

fn text(
    node: &Map<String, Value>,
    field: &str,
    path: &str,
    ctx: &Context,
) -> Result<Option<String>> {
    match node.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Interpolated::new(s, &format!("{path}.{field}"))?
            .eval_text(ctx)
            .map(Some),
        Some(other) => Ok(Some(crate::interpolation::python_str_of_json(other))),
    }
}

/// The intake authenticator for an `authenticator` node (absent: none). `ctx` holds the
/// config and the node's parameters.
pub fn from_node(node: Option<&Map<String, Value>>, path: &str, ctx: &Context) -> Result<Auth> {
    let Some(node) = node else {
        return Ok(Auth::none());
    };
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    let secret = |field: &str| -> Result<SecretString> {
        Ok(SecretString::from(
            text(node, field, path, ctx)?.unwrap_or_default(),
        ))
    };
    match kind {
        "NoAuth" => Ok(Auth::none()),
        "BearerAuthenticator" => Ok(Auth::bearer(secret("api_token")?)),
        "BasicHttpAuthenticator" => {
            let user = text(node, "username", path, ctx)?.unwrap_or_default();
            Ok(Auth::basic(&user, secret("password")?))
        }
        "ApiKeyAuthenticator" => {
            let token = secret("api_token")?;
            if let Some(option) = node.get("inject_into").and_then(Value::as_object) {
                let field = option
                    .get("field_name")
                    .and_then(Value::as_str)
                    .map(|f| Interpolated::new(f, &format!("{path}.inject_into.field_name")))
                    .transpose()?
                    .map(|f| f.eval_text(ctx))
                    .transpose()?
                    .ok_or_else(|| {
                        ManifestError::invalid(format!("{path}.inject_into"), "needs a field_name")
                    })?;
                return match option.get("inject_into").and_then(Value::as_str) {
                    Some("header") => Ok(Auth::api_key_header(&field, token)),
                    Some("request_parameter") => Ok(Auth::api_key_query(&field, token)),
                    other => Err(ManifestError::Unsupported {
                        path: format!("{path}.inject_into.inject_into"),
                        kind: format!("an API key injected into {}", other.unwrap_or("nothing")),
                        why: Some("inject it into a header or a request_parameter".into()),
                    }),
                };
            }
            match text(node, "header", path, ctx)? {
                Some(header) => Ok(Auth::api_key_header(&header, token)),
                None => Err(ManifestError::invalid(
                    path,
                    "an ApiKeyAuthenticator needs inject_into (or the older header)",
                )),
            }
        }
        "" => Err(ManifestError::invalid(path, "an authenticator needs a type")),
        other => Err(ManifestError::Unsupported {
            path: path.into(),
            kind: other.into(),
            why: Some("supported: NoAuth, BearerAuthenticator, ApiKeyAuthenticator, BasicHttpAuthenticator".into()),
        }),
    }
}
