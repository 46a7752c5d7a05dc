//! What a page says: its title, description, canonical URL, language, text and links, and the
//! records the extraction rules find in it. Parsed with html5ever (through scraper), which
//! repairs malformed HTML the way browsers do.

use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use serde_json::{Map, Value, json};
use url::Url;

use crate::urls::resolve;
use crate::{FieldRule, FieldType, StreamRule};

/// Characters of page text kept in the `pages` stream.
pub const MAX_TEXT_CHARS: usize = 100_000;

/// A field rule, compiled.
#[derive(Debug)]
pub struct Field {
    name: String,
    selector: Selector,
    attribute: Option<String>,
    regex: Option<Regex>,
    kind: FieldType,
    list: bool,
    required: bool,
}

/// An extraction stream, compiled.
#[derive(Debug)]
pub struct Rules {
    /// The stream's name.
    pub name: String,
    /// Pages it applies to.
    pub pattern: Regex,
    record: Option<Selector>,
    fields: Vec<Field>,
    next: Option<Selector>,
}

fn selector(text: &str, what: &str) -> Result<Selector, String> {
    Selector::parse(text).map_err(|e| {
        // The parser's message can open with "Unexpected error occurred. Please report this
        // to the developer" and a line break before the reason: keep the reason.
        let detail = e.to_string();
        let reason = detail
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("unreadable");
        format!("{what}: \"{text}\" is not a CSS selector ({reason})")
    })
}

impl Rules {
    /// Compiles a stream's rules; `Err` names the rule that does not parse.
    pub fn compile(rule: &StreamRule) -> Result<Rules, String> {
        let pattern = Regex::new(&rule.url_pattern)
            .map_err(|e| format!("stream \"{}\": url_pattern is not a regex ({e})", rule.name))?;
        let record = rule
            .record_selector
            .as_deref()
            .map(|s| selector(s, &format!("stream \"{}\": record_selector", rule.name)))
            .transpose()?;
        let next = rule
            .next_page
            .as_deref()
            .map(|s| selector(s, &format!("stream \"{}\": next_page", rule.name)))
            .transpose()?;
        let mut fields = Vec::new();
        for (name, f) in &rule.fields {
            fields.push(compile_field(&rule.name, name, f)?);
        }
        Ok(Rules {
            name: rule.name.clone(),
            pattern,
            record,
            fields,
            next,
        })
    }

    /// The JSON Schema of the stream's records.
    pub fn schema(&self) -> Value {
        let mut props = Map::new();
        props.insert("url".into(), json!({"type": "string", "format": "uri"}));
        props.insert(
            "fetched_at".into(),
            json!({"type": "string", "format": "date-time"}),
        );
        props.insert("_index".into(), json!({"type": "integer"}));
        for f in &self.fields {
            let item = match f.kind {
                FieldType::String => json!({"type": ["null", "string"]}),
                FieldType::Number => json!({"type": ["null", "number"]}),
                FieldType::Date => json!({"type": ["null", "string"], "format": "date"}),
                FieldType::Url => json!({"type": ["null", "string"], "format": "uri"}),
            };
            let mut inner = item.clone();
            inner["type"] = item["type"][1].clone();
            let schema = match (f.list, f.required) {
                (true, true) => json!({"type": "array", "items": inner}),
                (true, false) => json!({"type": ["null", "array"], "items": inner}),
                (false, true) => inner,
                (false, false) => item,
            };
            props.insert(f.name.clone(), schema);
        }
        let mut required = vec![json!("url"), json!("_index"), json!("fetched_at")];
        required.extend(
            self.fields
                .iter()
                .filter(|f| f.required)
                .map(|f| json!(f.name)),
        );
        json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
               "properties": props, "required": required})
    }
}

fn compile_field(stream: &str, name: &str, f: &FieldRule) -> Result<Field, String> {
    Ok(Field {
        name: name.to_string(),
        selector: selector(
            &f.selector,
            &format!("stream \"{stream}\": field \"{name}\""),
        )?,
        attribute: f.attribute.clone(),
        regex: f
            .regex
            .as_deref()
            .map(|r| {
                Regex::new(r).map_err(|e| {
                    format!("stream \"{stream}\": field \"{name}\": regex is invalid ({e})")
                })
            })
            .transpose()?,
        kind: f.kind,
        list: f.list,
        required: f.required,
    })
}

/// Whitespace collapsed, trimmed.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn element_text(e: ElementRef<'_>) -> String {
    squash(&e.text().collect::<String>())
}

/// A number in text like `$1,299.00`, `1 299,5 kr` or `-3`: the first number, thousands
/// separators dropped; a decimal comma read as a point when there is no point.
pub fn number(text: &str) -> Option<f64> {
    let re_start = text.find(|c: char| c.is_ascii_digit())?;
    let negative = text[..re_start].trim_end().ends_with('-');
    let run: String = text[re_start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | ' ' | '\u{a0}' | '\''))
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\''))
        .collect();
    let run = run.trim_end_matches([',', '.']);
    let cleaned = if run.contains('.') {
        run.replace(',', "")
    } else if let Some((whole, frac)) = run.rsplit_once(',') {
        if frac.len() == 3 {
            run.replace(',', "")
        } else {
            format!("{}.{frac}", whole.replace(',', ""))
        }
    } else {
        run.to_string()
    };
    let v: f64 = cleaned.parse().ok()?;
    Some(if negative { -v } else { v })
}

/// A date in text: ISO (`2024-03-01`, with or without a time) or `March 1, 2024` /
/// `1 March 2024`, as `YYYY-MM-DD`.
pub fn date(text: &str) -> Option<String> {
    let t = text.trim();
    if let Some(d) = intake::state::parse_datetime(t) {
        return Some(d.format("%Y-%m-%d").to_string());
    }
    let iso = Regex::new(r"\d{4}-\d{2}-\d{2}").ok()?;
    if let Some(m) = iso.find(t)
        && chrono::NaiveDate::parse_from_str(m.as_str(), "%Y-%m-%d").is_ok()
    {
        return Some(m.as_str().to_string());
    }
    let cleaned = squash(&t.replace(',', " "));
    for format in ["%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(&cleaned, format) {
            return Some(d.format("%Y-%m-%d").to_string());
        }
    }
    None
}

fn field_value(f: &Field, e: ElementRef<'_>, page: &Url) -> Value {
    let raw = match &f.attribute {
        Some(a) => e.value().attr(a).map(str::to_string),
        None => Some(element_text(e)),
    };
    let Some(mut text) = raw else {
        return Value::Null;
    };
    if let Some(re) = &f.regex {
        match re.captures(&text) {
            Some(c) => {
                text = c
                    .get(1)
                    .or_else(|| c.get(0))
                    .map_or("", |m| m.as_str())
                    .to_string()
            }
            None => return Value::Null,
        }
    }
    match f.kind {
        FieldType::String => Value::String(text),
        FieldType::Number => number(&text).map_or(Value::Null, |n| json!(n)),
        FieldType::Date => date(&text).map_or(Value::Null, Value::String),
        FieldType::Url => resolve(page, &text).map_or(Value::Null, |u| json!(u.as_str())),
    }
}

/// The page's description and its links.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PageInfo {
    /// `<title>`.
    pub title: Option<String>,
    /// `<meta name="description">`.
    pub description: Option<String>,
    /// `<link rel="canonical">`, resolved.
    pub canonical: Option<String>,
    /// `<html lang>`.
    pub language: Option<String>,
    /// The body's text, scripts and styles left out.
    pub text: String,
    /// Every link on the page, resolved and normalized, in order, once each.
    pub links: Vec<Url>,
    /// Whether `<meta name="robots">` says `nofollow`.
    pub nofollow: bool,
}

/// Everything taken from one page.
#[derive(Debug, Default)]
pub struct Analysis {
    /// The page's description.
    pub info: PageInfo,
    /// Records per extraction stream (by index into the rules).
    pub records: Vec<(usize, Vec<Value>)>,
    /// "Next page" links the rules found.
    pub next_pages: Vec<Url>,
    /// Records left out for a missing required field: (rule index, record index, field).
    pub incomplete: Vec<(usize, usize, String)>,
}

/// Reads a page.
pub fn analyze(html: &str, page: &Url, rules: &[Rules]) -> Analysis {
    let doc = Html::parse_document(html);
    let one = |css: &str| Selector::parse(css).ok();
    let mut info = PageInfo::default();
    if let Some(s) = one("title") {
        info.title = doc
            .select(&s)
            .next()
            .map(element_text)
            .filter(|t| !t.is_empty());
    }
    let meta = |name: &str| -> Option<String> {
        let s = one("meta")?;
        doc.select(&s)
            .find(|m| {
                m.value()
                    .attr("name")
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|m| m.value().attr("content"))
            .map(squash)
    };
    info.description = meta("description");
    info.nofollow = meta("robots").is_some_and(|r| r.to_ascii_lowercase().contains("nofollow"));
    if let Some(s) = one("link") {
        info.canonical = doc
            .select(&s)
            .find(|l| {
                l.value()
                    .attr("rel")
                    .is_some_and(|r| r.eq_ignore_ascii_case("canonical"))
            })
            .and_then(|l| l.value().attr("href"))
            .and_then(|h| resolve(page, h))
            .map(|u| u.to_string());
    }
    if let Some(s) = one("html") {
        info.language = doc
            .select(&s)
            .next()
            .and_then(|h| h.value().attr("lang"))
            .map(str::to_string);
    }
    if let Some(s) = one("body") {
        let mut text = String::new();
        if let Some(body) = doc.select(&s).next() {
            for node in body.descendants() {
                if let Some(t) = node.value().as_text() {
                    let hidden = node.ancestors().any(|a| {
                        a.value().as_element().is_some_and(|e| {
                            matches!(e.name(), "script" | "style" | "noscript" | "template")
                        })
                    });
                    if !hidden {
                        text.push_str(t);
                        text.push(' ');
                    }
                }
            }
        }
        let mut text = squash(&text);
        if text.len() > MAX_TEXT_CHARS {
            let mut end = MAX_TEXT_CHARS;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        info.text = text;
    }
    if let Some(s) = one("a[href], area[href]") {
        let mut seen = std::collections::HashSet::new();
        for a in doc.select(&s) {
            if a.value().attr("rel").is_some_and(|r| {
                r.split_whitespace()
                    .any(|v| v.eq_ignore_ascii_case("nofollow"))
            }) {
                continue;
            }
            if let Some(u) = a.value().attr("href").and_then(|h| resolve(page, h))
                && seen.insert(u.to_string())
            {
                info.links.push(u);
            }
        }
    }
    let mut analysis = Analysis {
        info,
        ..Analysis::default()
    };
    for (i, r) in rules.iter().enumerate() {
        if !r.pattern.is_match(page.as_str()) {
            continue;
        }
        let roots: Vec<ElementRef<'_>> = match &r.record {
            Some(s) => doc.select(s).collect(),
            None => vec![doc.root_element()],
        };
        let mut records = Vec::new();
        'records: for (index, root) in roots.into_iter().enumerate() {
            let mut rec = Map::new();
            rec.insert("url".into(), json!(page.as_str()));
            rec.insert("_index".into(), json!(index));
            for f in &r.fields {
                let v = if f.list {
                    Value::Array(
                        root.select(&f.selector)
                            .map(|e| field_value(f, e, page))
                            .filter(|v| !v.is_null())
                            .collect(),
                    )
                } else {
                    root.select(&f.selector)
                        .next()
                        .map_or(Value::Null, |e| field_value(f, e, page))
                };
                let missing = v.is_null() || v.as_array().is_some_and(Vec::is_empty);
                if f.required && missing {
                    analysis.incomplete.push((i, index, f.name.clone()));
                    continue 'records;
                }
                rec.insert(f.name.clone(), v);
            }
            records.push(Value::Object(rec));
        }
        analysis.records.push((i, records));
        if let Some(next) = &r.next {
            analysis.next_pages.extend(
                doc.select(next)
                    .filter_map(|a| a.value().attr("href"))
                    .filter_map(|h| resolve(page, h)),
            );
        }
    }
    analysis
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// (name, selector, attribute, regex, type, list)
    type Spec<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        FieldType,
        bool,
    );

    fn rule(fields: &[Spec<'_>]) -> StreamRule {
        StreamRule {
            name: "products".into(),
            url_pattern: "/products/".into(),
            record_selector: None,
            next_page: None,
            fields: fields
                .iter()
                .map(|(n, s, a, r, k, l)| {
                    (
                        n.to_string(),
                        FieldRule {
                            selector: s.to_string(),
                            attribute: a.map(str::to_string),
                            regex: r.map(str::to_string),
                            kind: *k,
                            list: *l,
                            required: false,
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn numbers_and_dates_read_as_people_write_them() {
        assert_eq!(number("$1,299.00"), Some(1299.0));
        assert_eq!(number("1 299,50 kr"), Some(1299.5));
        assert_eq!(number("Price: -3"), Some(-3.0));
        assert_eq!(number("12,345"), Some(12345.0));
        assert_eq!(number("n/a"), None);
        assert_eq!(date("2024-03-01T10:00:00Z").as_deref(), Some("2024-03-01"));
        assert_eq!(date("Published March 1, 2024").as_deref(), None);
        assert_eq!(date("March 1, 2024").as_deref(), Some("2024-03-01"));
        assert_eq!(date("1 Mar 2024").as_deref(), Some("2024-03-01"));
        assert_eq!(date("on 2024-02-29 at noon").as_deref(), Some("2024-02-29"));
    }

    #[test]
    fn malformed_html_still_yields_the_page_and_its_records() {
        let html = r#"<html lang="en"><head><title> Widget &amp; Co </title>
            <meta name="description" content="A   widget.">
            <link rel="canonical" href="/products/widget">
            <script>var x = "<a href='/nope'>";</script>
            <body><div class="product"><h1>Widget <b>Pro</h1>
            <span class="price">$1,299.00</span><p>Unclosed <a href="/products/gadget#specs">Gadget</a>
            <a href="/cart" rel="nofollow">Cart</a><img src="/img/w.png" class="photo">
            <ul><li class="tag">new<li class="tag">sale</ul>"#;
        let page = Url::parse("https://shop.example.com/products/widget?ref=1").unwrap();
        let rules = vec![
            Rules::compile(&rule(&[
                ("name", "h1", None, None, FieldType::String, false),
                ("price", ".price", None, None, FieldType::Number, false),
                (
                    "photo",
                    "img.photo",
                    Some("src"),
                    None,
                    FieldType::Url,
                    false,
                ),
                ("tags", "li.tag", None, None, FieldType::String, true),
                (
                    "sku",
                    "h1",
                    None,
                    Some(r"(\w+) Pro"),
                    FieldType::String,
                    false,
                ),
                ("missing", ".nothing", None, None, FieldType::String, false),
            ]))
            .unwrap(),
        ];
        let a = analyze(html, &page, &rules);
        assert_eq!(a.info.title.as_deref(), Some("Widget & Co"));
        assert_eq!(a.info.description.as_deref(), Some("A widget."));
        assert_eq!(
            a.info.canonical.as_deref(),
            Some("https://shop.example.com/products/widget")
        );
        assert_eq!(a.info.language.as_deref(), Some("en"));
        assert!(!a.info.text.contains("var x"), "scripts are not text");
        let links: Vec<&str> = a.info.links.iter().map(Url::as_str).collect();
        assert_eq!(links, vec!["https://shop.example.com/products/gadget"]);
        let (_, records) = &a.records[0];
        let r = &records[0];
        assert_eq!(r["name"], "Widget Pro");
        assert_eq!(r["price"], json!(1299.0));
        assert_eq!(r["photo"], "https://shop.example.com/img/w.png");
        assert_eq!(r["tags"], json!(["new", "sale"]));
        assert_eq!(r["sku"], "Widget");
        assert_eq!(r["missing"], Value::Null);
    }

    #[test]
    fn a_record_selector_gives_one_record_per_match() {
        let mut r = rule(&[
            ("title", "a", None, None, FieldType::String, false),
            ("link", "a", Some("href"), None, FieldType::Url, false),
        ]);
        r.record_selector = Some("li.item".into());
        r.next_page = Some("a.next".into());
        let rules = vec![Rules::compile(&r).unwrap()];
        let html = r#"<ul><li class="item"><a href="/products/1">One</a></li>
            <li class="item"><a href="/products/2">Two</a></li></ul><a class="next" href="?page=2">Next</a>"#;
        let page = Url::parse("https://e.com/products/").unwrap();
        let a = analyze(html, &page, &rules);
        let (_, records) = &a.records[0];
        assert_eq!(records.len(), 2);
        assert_eq!(records[1]["title"], "Two");
        assert_eq!(records[1]["_index"], 1);
        assert_eq!(records[1]["link"], "https://e.com/products/2");
        assert_eq!(a.next_pages[0].as_str(), "https://e.com/products/?page=2");
        // A bad selector is a clear error, not a panic.
        let mut bad = rule(&[("x", "a[", None, None, FieldType::String, false)]);
        bad.name = "bad".into();
        assert!(Rules::compile(&bad).unwrap_err().contains("field \"x\""));
    }

    #[test]
    fn records_without_a_required_field_are_left_out_and_reported() {
        let rule: StreamRule = serde_json::from_value(json!({
            "name": "items", "url_pattern": ".", "record_selector": "li",
            "fields": {
                "name": {"selector": ".n", "required": true},
                "price": {"selector": ".p", "type": "number", "required": true},
                "note": {"selector": ".x"}
            }
        }))
        .unwrap();
        let rules = vec![Rules::compile(&rule).unwrap()];
        let html = r#"<ul>
            <li><b class="n">Kettle</b><i class="p">$20</i></li>
            <li><b class="n">Pot</b><i class="p">Call for price</i></li>
            <li><i class="p">$5</i></li>
            <li><b class="n">Cup</b><i class="p">4,50</i></li></ul>"#;
        let page = Url::parse("https://shop.example/list").unwrap();
        let a = analyze(html, &page, &rules);
        let names: Vec<&Value> = a.records[0].1.iter().map(|r| &r["name"]).collect();
        assert_eq!(names, [&json!("Kettle"), &json!("Cup")]);
        assert_eq!(a.records[0].1[1]["_index"], 3, "indexes stay the elements'");
        assert_eq!(
            a.incomplete,
            vec![(0, 1, "price".to_string()), (0, 2, "name".to_string())]
        );
        let schema = rules[0].schema();
        assert_eq!(schema["properties"]["price"]["type"], "number");
        assert_eq!(
            schema["properties"]["note"]["type"],
            json!(["null", "string"])
        );
        assert_eq!(
            schema["required"],
            json!(["url", "_index", "fetched_at", "name", "price"])
        );
    }

    #[test]
    fn a_bad_selector_is_named_in_one_line() {
        for bad in ["2024-13-45T99:99:99Z", "((", "li >", ""] {
            let rule: StreamRule = serde_json::from_value(json!({
                "name": "items", "url_pattern": ".", "fields": {"name": {"selector": bad}}
            }))
            .unwrap();
            let err = Rules::compile(&rule).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "stream \"items\": field \"name\": \"{bad}\" is not a CSS selector ("
                )),
                "{err}"
            );
            assert!(!err.contains('\n') && !err.contains("report this"), "{err}");
        }
    }
}
