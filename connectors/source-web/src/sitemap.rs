//! Sitemaps (sitemaps.org): `<urlset>` entries with their `<lastmod>`, `<sitemapindex>`
//! children, gzip-compressed files. Read with a tolerant scanner: sitemaps are generated, flat
//! XML, and a scanner cannot be made to expand entities or fetch DTDs.

use std::io::Read;

use chrono::{DateTime, NaiveDate, Utc};

/// What a sitemap file lists.
#[derive(Debug, Default, PartialEq)]
pub struct Sitemap {
    /// Pages, with their last modification when given.
    pub urls: Vec<(String, Option<DateTime<Utc>>)>,
    /// Child sitemaps (of a sitemap index).
    pub children: Vec<String>,
}

/// Undoes gzip when the body is gzip (by its magic bytes), capped at `max` bytes.
pub fn gunzip(body: &[u8], max: u64) -> Result<Vec<u8>, String> {
    if body.len() < 2 || body[0] != 0x1f || body[1] != 0x8b {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the gzip sitemap does not decompress: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!(
            "the sitemap is larger than {max} bytes decompressed"
        ));
    }
    Ok(out)
}

fn unescape(text: &str) -> String {
    let text = text.trim();
    let text = text
        .strip_prefix("<![CDATA[")
        .and_then(|t| t.strip_suffix("]]>"))
        .unwrap_or(text);
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of each `<tag>…</tag>` in `xml` (namespace prefixes tolerated).
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(open) = find_open(rest, tag) {
        let after = &rest[open..];
        let Some(gt) = after.find('>') else { break };
        let body = &after[gt + 1..];
        let Some(close) = find_close(body, tag) else {
            break;
        };
        out.push(&body[..close]);
        rest = &body[close..];
    }
    out
}

fn find_open(text: &str, tag: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find('<') {
        let at = from + i;
        let name: String = text[at + 1..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
            .collect();
        let local = name.rsplit(':').next().unwrap_or_default();
        if local.eq_ignore_ascii_case(tag) && !name.starts_with('/') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn find_close(text: &str, tag: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("</") {
        let at = from + i;
        let name: String = text[at + 2..].chars().take_while(|c| *c != '>').collect();
        if name
            .trim()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .eq_ignore_ascii_case(tag)
        {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// `2024-03-01`, `2024-03-01T10:00:00+01:00` or `2024-03-01T10:00Z` as an instant.
pub fn lastmod(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    intake::state::parse_datetime(text).or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    })
}

/// Parses a sitemap or a sitemap index.
pub fn parse(xml: &str) -> Sitemap {
    let mut map = Sitemap::default();
    for entry in elements(xml, "sitemap") {
        if let Some(loc) = elements(entry, "loc").first() {
            map.children.push(unescape(loc));
        }
    }
    for entry in elements(xml, "url") {
        let Some(loc) = elements(entry, "loc").first().map(|l| unescape(l)) else {
            continue;
        };
        let modified = elements(entry, "lastmod").first().and_then(|t| lastmod(t));
        map.urls.push((loc, modified));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn url_sets_and_indexes_parse() {
        let set = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://example.com/a?x=1&amp;y=2</loc><lastmod>2024-03-01</lastmod></url>
  <url><loc> https://example.com/b </loc><changefreq>daily</changefreq></url>
  <url><loc><![CDATA[https://example.com/c]]></loc><lastmod>2024-03-02T10:00:00+01:00</lastmod></url>
</urlset>"#;
        let map = parse(set);
        assert_eq!(map.urls.len(), 3);
        assert_eq!(map.urls[0].0, "https://example.com/a?x=1&y=2");
        assert_eq!(
            map.urls[0].1.unwrap().to_rfc3339(),
            "2024-03-01T00:00:00+00:00"
        );
        assert_eq!(map.urls[1], ("https://example.com/b".into(), None));
        assert_eq!(
            map.urls[2].1.unwrap().to_rfc3339(),
            "2024-03-02T09:00:00+00:00"
        );
        let index = r#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://example.com/s1.xml.gz</loc><lastmod>2024-01-01</lastmod></sitemap>
  <sitemap><loc>https://example.com/s2.xml</loc></sitemap></sitemapindex>"#;
        let map = parse(index);
        assert_eq!(
            map.children,
            vec![
                "https://example.com/s1.xml.gz",
                "https://example.com/s2.xml"
            ]
        );
        assert!(map.urls.is_empty());
        assert_eq!(parse("<html>not a sitemap"), Sitemap::default());
    }

    #[test]
    fn gzip_is_undone_within_a_cap() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"<urlset><url><loc>https://e.com/</loc></url></urlset>")
            .unwrap();
        let gz = enc.finish().unwrap();
        let plain = gunzip(&gz, 1_000).unwrap();
        assert_eq!(parse(std::str::from_utf8(&plain).unwrap()).urls.len(), 1);
        assert!(gunzip(&gz, 10).is_err(), "a gzip bomb stops at the cap");
        assert_eq!(gunzip(b"<x/>", 10).unwrap(), b"<x/>");
    }
}
