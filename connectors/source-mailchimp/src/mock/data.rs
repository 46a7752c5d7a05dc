//! The generated account: lists, members, segments, campaigns and their reports.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::SandboxSpec;
/// 2024-01-01T00:00:00Z in seconds.
pub(super) const EPOCH: i64 = 1_704_067_200;

pub(super) fn at(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default()
}

pub(super) fn hex(n: u64, width: usize) -> String {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let s = format!("{:016x}{:016x}", z ^ (z >> 31), z.rotate_left(17));
    s[..width].to_string()
}

#[derive(Debug, Default)]
pub(crate) struct Account {
    pub(super) lists: Vec<Value>,
    pub(super) members: HashMap<String, Vec<Value>>,
    pub(super) merge_fields: HashMap<String, Vec<Value>>,
    pub(super) segments: HashMap<String, Vec<Value>>,
    pub(super) categories: HashMap<String, Vec<Value>>,
    pub(super) interests: HashMap<String, Vec<Value>>,
    pub(super) tags: HashMap<String, Vec<Value>>,
    pub(super) campaigns: Vec<Value>,
    pub(super) reports: Vec<Value>,
    pub(super) activity: HashMap<String, Vec<Value>>,
    pub(super) unsubscribes: HashMap<String, Vec<Value>>,
    pub(super) automations: Vec<Value>,
    pub(super) overstated: bool,
    /// The account's clock (seconds): later than every timestamp it holds; changes move it on.
    pub(super) clock: i64,
}

pub(super) fn generate(spec: &SandboxSpec) -> Account {
    let mut a = Account {
        overstated: spec.overstated_totals,
        ..Account::default()
    };
    let mut tick = EPOCH;
    for (l, &count) in spec.members.iter().enumerate() {
        let list_id = hex(l as u64 + 1, 10);
        a.lists.push(json!({
            "id": list_id, "web_id": 100 + l, "name": format!("Newsletter {l}"),
            "contact": {"company": "Analytical Engines", "country": "GB"},
            "permission_reminder": "You signed up on our site.",
            "campaign_defaults": {"from_name": "Ada", "from_email": "ada@example.com", "subject": "", "language": "en"},
            "date_created": at(EPOCH - 86_400 * (30 - l as i64)), "list_rating": 3,
            "email_type_option": false, "visibility": "prv", "double_optin": false,
            "stats": {"member_count": count, "campaign_last_sent": "", "last_sub_date": at(EPOCH), "last_unsub_date": ""},
            "_links": [{"rel": "self", "href": "https://us6.api.mailchimp.com/3.0/lists"}]
        }));
        a.merge_fields.insert(
            list_id.clone(),
            [
                (1, "FNAME", "text"),
                (2, "LNAME", "text"),
                (3, "LTV", "number"),
                (4, "BIRTHDAY", "birthday"),
                (5, "ADDRESS", "address"),
                (6, "JOINED_AT", "date"),
            ]
            .iter()
            .map(|(id, tag, kind)| {
                json!({
                    "merge_id": id, "tag": tag, "name": tag, "type": kind, "required": false,
                    "default_value": "", "public": true, "display_order": id, "options": {},
                    "list_id": list_id, "_links": []
                })
            })
            .collect(),
        );
        let mut members = Vec::with_capacity(count);
        for m in 0..count {
            tick += 1;
            let n = (l * 100_000 + m) as u64;
            let email = format!("member{n}@example.com");
            members.push(json!({
                "id": hex(n + 1_000_000, 32), "email_address": email,
                "unique_email_id": hex(n + 2_000_000, 10), "contact_id": hex(n + 3_000_000, 24),
                "full_name": format!("Member {n}"), "web_id": 500_000 + n, "email_type": "html",
                "status": if m % 17 == 0 { "unsubscribed" } else { "subscribed" },
                "merge_fields": {
                    "FNAME": "Member", "LNAME": format!("No. {n}"),
                    "LTV": if m % 5 == 0 { json!("") } else { json!((m % 900) as f64 * 1.5) },
                    "BIRTHDAY": if m % 3 == 0 { json!("") } else { json!(format!("{:02}/{:02}", 1 + m % 12, 1 + m % 28)) },
                    "ADDRESS": if m % 4 == 0 { json!("") } else {
                        json!({"addr1": "1 Main St", "addr2": "", "city": "Oslo", "state": "", "zip": "0150", "country": "NO"}) },
                    "JOINED_AT": if m % 6 == 0 { json!("") } else { json!("2023-05-01") }
                },
                "interests": {}, "stats": {"avg_open_rate": 0.5, "avg_click_rate": 0.1},
                "ip_signup": "", "timestamp_signup": if m % 2 == 0 { json!("") } else { json!(at(EPOCH - 5_000)) },
                "ip_opt": "10.0.0.1", "timestamp_opt": at(EPOCH - 4_000),
                "member_rating": 2 + m % 4, "last_changed": at(tick), "language": "en", "vip": false,
                "email_client": "", "location": {"latitude": 59.9, "longitude": 10.7, "gmtoff": 1, "dstoff": 2, "country_code": "NO", "timezone": "Europe/Oslo"},
                "source": "API - Generic", "tags_count": 1, "tags": [{"id": 1, "name": "vip"}],
                "list_id": list_id, "_links": [{"rel": "self"}]
            }));
        }
        a.segments.insert(
            list_id.clone(),
            (0..2)
                .map(|s| json!({"id": 9_000 + l * 10 + s, "name": format!("Segment {s}"), "member_count": 25,
                    "type": "static", "created_at": at(EPOCH - 1_000), "updated_at": at(EPOCH - 500 + s as i64),
                    "options": {}, "list_id": list_id, "_links": []}))
                .collect(),
        );
        let cat = hex(l as u64 + 50, 10);
        a.categories.insert(
            list_id.clone(),
            vec![json!({"list_id": list_id, "id": cat, "title": "Interests", "display_order": 0, "type": "checkboxes", "_links": []})],
        );
        a.interests.insert(
            cat.clone(),
            (0..3)
                .map(|i| json!({"category_id": cat, "list_id": list_id, "id": hex(l as u64 * 10 + i + 70, 10),
                    "name": format!("Topic {i}"), "subscriber_count": "10", "display_order": i, "_links": []}))
                .collect(),
        );
        a.tags.insert(
            list_id.clone(),
            (0..3)
                .map(|t| json!({"id": 1 + t, "name": format!("tag-{t}")}))
                .collect(),
        );
        a.members.insert(list_id.clone(), members);
    }
    for c in 0..spec.campaigns {
        let id = hex(c as u64 + 900, 10);
        let sent = c % 4 != 3;
        let list = &a.lists[c % a.lists.len()];
        let list_id = list["id"].as_str().unwrap_or_default().to_string();
        let created = EPOCH + 1_000 * c as i64;
        a.campaigns.push(json!({
            "id": id, "web_id": 70_000 + c, "type": "regular", "create_time": at(created),
            "archive_url": format!("https://eepurl.com/{id}"), "status": if sent { "sent" } else { "save" },
            "emails_sent": if sent { spec.emails_per_campaign } else { 0 },
            "send_time": if sent { at(created + 600) } else { String::new() },
            "content_type": "template", "recipients": {"list_id": list_id, "list_is_active": true, "segment_opts": {"conditions": [null]}},
            "settings": {"subject_line": format!("News #{c}"), "title": format!("Campaign {c}")},
            "tracking": {"opens": true, "html_clicks": true},
            "report_summary": {"opens": 10, "unique_opens": 8, "open_rate": 0.2, "clicks": 3},
            "delivery_status": {"enabled": false}, "_links": []
        }));
        // The last sent campaign has no report: Mailchimp answers 404 for it.
        if !sent || c + 4 >= spec.campaigns && c % 4 == 2 {
            continue;
        }
        a.reports.push(json!({
            "id": id, "campaign_title": format!("Campaign {c}"), "type": "regular", "list_id": list_id,
            "list_name": list["name"], "subject_line": format!("News #{c}"),
            "emails_sent": spec.emails_per_campaign, "abuse_reports": 0, "unsubscribed": 3,
            "send_time": at(created + 600), "bounces": {"hard_bounces": 1, "soft_bounces": 0},
            "forwards": {"forwards_count": 0}, "opens": {"opens_total": 30, "unique_opens": 20, "open_rate": 0.5},
            "clicks": {"clicks_total": 9, "unique_clicks": 7, "click_rate": 0.17}, "list_stats": {}, "_links": []
        }));
        let members = &a.members[&list_id];
        let emails: Vec<Value> = (0..spec.emails_per_campaign.min(members.len()))
            .map(|e| {
                let m = &members[e];
                let acts: Vec<Value> = (0..(e % 4))
                    .map(|k| {
                        let action = ["open", "click", "bounce"][k % 3];
                        let mut act = json!({"action": action, "timestamp": at(created + 700 + (e * 10 + k) as i64), "ip": "10.1.1.1"});
                        if action == "click" {
                            act["url"] = json!("https://example.com/offer");
                        }
                        if action == "bounce" {
                            act["type"] = json!("soft");
                        }
                        act
                    })
                    .collect();
                json!({"campaign_id": id, "list_id": list_id, "list_is_active": true,
                       "email_id": m["id"], "email_address": m["email_address"], "activity": acts, "_links": []})
            })
            .collect();
        a.activity.insert(id.clone(), emails);
        a.unsubscribes.insert(
            id.clone(),
            (0..3)
                .map(|u| json!({"email_id": members[u]["id"], "email_address": members[u]["email_address"],
                    "merge_fields": {"FNAME": "Member", "LNAME": ""}, "vip": false,
                    "timestamp": at(created + 900 + u as i64), "reason": "N/A (Unsubscribed by admin)",
                    "campaign_id": id, "list_id": list_id, "_links": []}))
                .collect(),
        );
    }
    a.automations = (0..2)
        .map(|i| json!({"id": hex(i + 990, 10), "create_time": at(EPOCH - 10_000 + i as i64), "start_time": "",
            "status": "save", "emails_sent": 0, "recipients": {"list_id": a.lists[0]["id"]},
            "settings": {"title": format!("Welcome {i}")}, "tracking": {}, "report_summary": {}, "_links": []}))
        .collect();
    // Later than every timestamp generated: members tick once each; a campaign's reports
    // stay within a day of its creation.
    a.clock = tick.max(EPOCH + 1_000 * spec.campaigns as i64 + 86_400);
    a
}
