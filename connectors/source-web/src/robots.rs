//! robots.txt (RFC 9309): the group for our user agent (or `*`), `Allow`/`Disallow` with the
//! longest match winning and `Allow` winning ties, `*` and `$` in patterns, `Crawl-delay`, and
//! the `Sitemap` lines.

use std::time::Duration;

/// A group of a robots.txt: the agents it names and its lines.
type Group = (Vec<String>, Vec<(String, String)>);

/// The rules that apply to one crawler on one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Robots {
    rules: Vec<(bool, String)>,
    /// The host's requested delay between requests.
    pub crawl_delay: Option<Duration>,
    /// Sitemaps the file names.
    pub sitemaps: Vec<String>,
}

impl Robots {
    /// Everything allowed (no robots.txt, or a 4xx for it).
    pub fn allow_all() -> Self {
        Robots::default()
    }

    /// Everything disallowed (robots.txt answered 5xx: the host is not ready for crawlers).
    pub fn disallow_all() -> Self {
        Robots {
            rules: vec![(false, "/".into())],
            ..Robots::default()
        }
    }

    /// Parses a robots.txt for `agent` (the product token of our user agent, like `intake-web`).
    pub fn parse(text: &str, agent: &str) -> Self {
        let agent = agent.to_ascii_lowercase();
        // Groups: the agents they name and their lines.
        let mut groups: Vec<Group> = Vec::new();
        let mut sitemaps = Vec::new();
        let mut open_for_agents = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim().to_string();
            match key.as_str() {
                "user-agent" => {
                    if !open_for_agents {
                        groups.push((Vec::new(), Vec::new()));
                        open_for_agents = true;
                    }
                    if let Some(g) = groups.last_mut() {
                        g.0.push(value.to_ascii_lowercase());
                    }
                }
                "sitemap" => sitemaps.push(value),
                "allow" | "disallow" | "crawl-delay" => {
                    open_for_agents = false;
                    if let Some(g) = groups.last_mut() {
                        g.1.push((key, value));
                    }
                }
                _ => {}
            }
        }
        let named = |g: &&Group| {
            g.0.iter()
                .any(|a| a != "*" && agent.starts_with(a.as_str()))
        };
        let mut chosen: Vec<&Group> = groups.iter().filter(named).collect();
        if chosen.is_empty() {
            chosen = groups
                .iter()
                .filter(|g| g.0.iter().any(|a| a == "*"))
                .collect();
        }
        let mut robots = Robots {
            sitemaps,
            ..Robots::default()
        };
        for (_, lines) in chosen {
            for (key, value) in lines {
                match key.as_str() {
                    "allow" if !value.is_empty() => robots.rules.push((true, value.clone())),
                    // An empty Disallow allows everything: no rule.
                    "disallow" if !value.is_empty() => robots.rules.push((false, value.clone())),
                    "crawl-delay" => {
                        if let Ok(secs) = value.parse::<f64>()
                            && secs.is_finite()
                            && secs >= 0.0
                        {
                            // Capped: a robots.txt cannot stall a crawl for hours per page.
                            robots.crawl_delay = Some(Duration::from_secs_f64(secs.min(60.0)));
                        }
                    }
                    _ => {}
                }
            }
        }
        robots
    }

    /// Whether a path (with its query) may be fetched.
    pub fn allows(&self, path_and_query: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.rules {
            if matches(pattern, path_and_query) {
                let len = pattern.len();
                best = match best {
                    Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                    _ => Some((len, *allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// A robots.txt pattern: a path prefix where `*` matches any run and a final `$` anchors.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !path.starts_with(part) {
                return false;
            }
            at = part.len();
            continue;
        }
        if part.is_empty() {
            continue;
        }
        let rest = &path[at..];
        // The last part of an anchored pattern must end the path.
        if anchored && i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(p) => at += p + part.len(),
            None => return false,
        }
    }
    !anchored || at == path.len() || pattern.ends_with('*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROBOTS: &str = "
# a comment
User-agent: *
Disallow: /private/
Disallow: /*.pdf$
Allow: /private/open-house
Crawl-delay: 2

User-agent: intake-web
User-agent: otherbot
Disallow: /drafts/
Allow: /drafts/published
Crawl-delay: 0.5

Sitemap: https://example.com/sitemap_index.xml
";

    #[test]
    fn our_group_applies_with_longest_match_winning() {
        let r = Robots::parse(ROBOTS, "intake-web/0.1 (+https://example.com)");
        assert!(!r.allows("/drafts/x"));
        assert!(r.allows("/drafts/published/1"));
        assert!(
            r.allows("/private/secret"),
            "the * group does not apply to us"
        );
        assert_eq!(r.crawl_delay, Some(Duration::from_millis(500)));
        assert_eq!(r.sitemaps, vec!["https://example.com/sitemap_index.xml"]);
    }

    #[test]
    fn other_agents_get_the_star_group() {
        let r = Robots::parse(ROBOTS, "somebot");
        assert!(!r.allows("/private/secret"));
        assert!(r.allows("/private/open-house"));
        assert!(!r.allows("/files/report.pdf"));
        assert!(r.allows("/files/report.pdf?download=1"));
        assert!(r.allows("/"));
        assert_eq!(r.crawl_delay, Some(Duration::from_secs(2)));
        assert!(Robots::parse("", "x").allows("/anything"));
        assert!(Robots::parse("User-agent: *\nDisallow:\n", "x").allows("/a"));
        assert!(!Robots::disallow_all().allows("/a"));
    }

    #[test]
    fn patterns_match_like_rfc_9309() {
        assert!(matches("/a", "/abc"));
        assert!(matches("/a*c", "/abbbc/d"));
        assert!(matches("/*.php$", "/x/y.php"));
        assert!(!matches("/*.php$", "/x/y.php5"));
        assert!(matches("/exact$", "/exact"));
        assert!(!matches("/exact$", "/exactly"));
        assert!(!matches("/b", "/abc"));
    }
}
