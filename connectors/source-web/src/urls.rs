//! URL normalization, the crawl's scope, and the network addresses a crawler may reach.

use std::net::IpAddr;

use regex::Regex;
use url::Url;

/// Query parameters that name a session or a campaign, not a page: dropped when normalizing,
/// so `?utm_source=x` and a session id in the URL do not make one page many.
pub const IGNORED_PARAMS: &[&str] = &[
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "fbclid",
    "sessionid",
    "session_id",
    "sid",
    "phpsessid",
    "jsessionid",
];

/// One URL, one spelling: http(s) only, fragment dropped, default port dropped (the `url`
/// crate does it), host lowercased, `;jsessionid=` path parameters and ignored query
/// parameters removed, the rest of the query sorted, an empty query removed. `None` for what a
/// crawler does not fetch (`mailto:`, `javascript:`, `ftp:`).
pub fn normalize(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let mut u = url.clone();
    u.set_fragment(None);
    if let Some(i) = u.path().to_ascii_lowercase().find(";jsessionid=") {
        let path = u.path()[..i].to_string();
        u.set_path(&path);
    }
    let mut pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !IGNORED_PARAMS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Some(u)
}

/// Parses `text` against `base` (a link on a page) and normalizes it.
pub fn resolve(base: &Url, text: &str) -> Option<Url> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    normalize(&base.join(text).ok()?)
}

/// Which URLs the crawl may fetch.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Hosts allowed (a host also allows its subdomains).
    pub domains: Vec<String>,
    /// A URL must match one of these (when any are given).
    pub include: Vec<Regex>,
    /// A URL matching one of these is skipped.
    pub exclude: Vec<Regex>,
}

impl Scope {
    /// Whether `url`'s host is allowed.
    pub fn allows_host(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        self.domains
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    }

    /// Whether the crawl may fetch `url`; `Err` says why not.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        if !self.allows_host(url) {
            return Err(format!(
                "{} is not in the allowed domains",
                url.host_str().unwrap_or_default()
            ));
        }
        let text = url.as_str();
        if let Some(r) = self.exclude.iter().find(|r| r.is_match(text)) {
            return Err(format!("matches the exclude pattern {}", r.as_str()));
        }
        if !self.include.is_empty() && !self.include.iter().any(|r| r.is_match(text)) {
            return Err("matches no include pattern".into());
        }
        Ok(())
    }
}

/// Whether an address is one a crawler must not reach unless told to: loopback, private
/// (RFC 1918, unique local), link-local, unspecified, or carrier-grade NAT.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// FNV-1a, 64 bits: a content hash that is stable across runs, platforms and Rust versions.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Option<String> {
        normalize(&Url::parse(text).unwrap()).map(|u| u.to_string())
    }

    #[test]
    fn one_page_has_one_spelling() {
        assert_eq!(
            n("HTTP://Example.COM:80/a?b=2&a=1#frag").as_deref(),
            Some("http://example.com/a?a=1&b=2")
        );
        assert_eq!(
            n("https://example.com:443/a?").as_deref(),
            Some("https://example.com/a")
        );
        assert_eq!(
            n("https://example.com/a?utm_source=x&PHPSESSID=1&q=z").as_deref(),
            Some("https://example.com/a?q=z")
        );
        assert_eq!(
            n("https://example.com/cart;jsessionid=ABC123").as_deref(),
            Some("https://example.com/cart")
        );
        assert_eq!(
            n("https://example.com:8443/x").as_deref(),
            Some("https://example.com:8443/x")
        );
        assert_eq!(n("mailto:a@example.com"), None);
        assert_eq!(n("ftp://example.com/file"), None);
        let base = Url::parse("https://example.com/shop/list?page=2").unwrap();
        assert_eq!(
            resolve(&base, "../about#team")
                .map(|u| u.to_string())
                .as_deref(),
            Some("https://example.com/about")
        );
        assert_eq!(resolve(&base, "#top"), None);
        assert_eq!(resolve(&base, "javascript:void(0)"), None);
    }

    #[test]
    fn scope_allows_listed_hosts_and_subdomains_within_patterns() {
        let scope = Scope {
            domains: vec!["example.com".into()],
            include: vec![Regex::new("/shop/|/$").unwrap()],
            exclude: vec![Regex::new("calendar").unwrap()],
        };
        let ok = |s: &str| scope.check(&Url::parse(s).unwrap());
        assert!(ok("https://example.com/shop/a").is_ok());
        assert!(ok("https://www.example.com/").is_ok());
        assert!(ok("https://example.org/shop/a").is_err());
        assert!(ok("https://badexample.com/shop/a").is_err());
        assert!(ok("https://example.com/shop/calendar/2024").is_err());
        assert!(ok("https://example.com/blog/post").is_err());
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
        assert_eq!(content_hash(b"a"), content_hash(b"a"));
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
    }
}
