//! Static credentials: API keys in a header or the query, bearer tokens, basic auth.

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use reqwest::{Client, Request};
use secrecy::{ExposeSecret, SecretString};

use super::{Auth, Authenticator};
use crate::error::{Error, Result};
impl Auth {
    /// An API key in a header (`X-API-Key: <key>`).
    pub fn api_key_header(header: &str, key: impl Into<SecretString>) -> Self {
        Auth::custom(HeaderAuth {
            name: header.to_ascii_lowercase(),
            prefix: String::new(),
            secret: key.into(),
        })
    }

    /// An API key in a query parameter (`?api_key=<key>`); the parameter is hidden in errors.
    pub fn api_key_query(param: &str, key: impl Into<SecretString>) -> Self {
        Auth::custom(QueryAuth {
            param: param.to_string(),
            key: key.into(),
        })
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: impl Into<SecretString>) -> Self {
        Auth::custom(HeaderAuth {
            name: AUTHORIZATION.as_str().to_string(),
            prefix: "Bearer ".into(),
            secret: token.into(),
        })
    }

    /// `Authorization: Basic base64(user:password)`.
    pub fn basic(user: &str, password: impl Into<SecretString>) -> Self {
        let password = password.into();
        let encoded = base64(format!("{user}:{}", password.expose_secret()).as_bytes());
        Auth::custom(BasicAuth {
            header: SecretString::from(format!("Basic {encoded}")),
            password,
            encoded: SecretString::from(encoded),
        })
    }
}

struct HeaderAuth {
    name: String,
    prefix: String,
    secret: SecretString,
}

pub(super) fn secret_header(text: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        Error::config("a credential contains characters that cannot go in an HTTP header")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[async_trait]
impl Authenticator for HeaderAuth {
    async fn authorize(&self, _: &Client, request: &mut Request) -> Result<()> {
        let name = HeaderName::from_bytes(self.name.as_bytes())
            .map_err(|_| Error::config(format!("\"{}\" is not a valid header name", self.name)))?;
        let value = secret_header(&format!("{}{}", self.prefix, self.secret.expose_secret()))?;
        request.headers_mut().insert(name, value);
        Ok(())
    }
    fn secrets(&self) -> Vec<SecretString> {
        vec![self.secret.clone()]
    }
}

struct QueryAuth {
    param: String,
    key: SecretString,
}

#[async_trait]
impl Authenticator for QueryAuth {
    async fn authorize(&self, _: &Client, request: &mut Request) -> Result<()> {
        request
            .url_mut()
            .query_pairs_mut()
            .append_pair(&self.param, self.key.expose_secret());
        Ok(())
    }
    fn secrets(&self) -> Vec<SecretString> {
        vec![self.key.clone()]
    }
    fn secret_params(&self) -> Vec<String> {
        vec![self.param.clone()]
    }
}

struct BasicAuth {
    header: SecretString,
    password: SecretString,
    encoded: SecretString,
}

#[async_trait]
impl Authenticator for BasicAuth {
    async fn authorize(&self, _: &Client, request: &mut Request) -> Result<()> {
        request
            .headers_mut()
            .insert(AUTHORIZATION, secret_header(self.header.expose_secret())?);
        Ok(())
    }
    fn secrets(&self) -> Vec<SecretString> {
        vec![self.password.clone(), self.encoded.clone()]
    }
}

/// Standard base64 (RFC 4648) with padding.
pub(crate) fn base64(input: &[u8]) -> String {
    base64_with(
        input,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        true,
    )
}

pub(crate) fn base64_with(input: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }
}
