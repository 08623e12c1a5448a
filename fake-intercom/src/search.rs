//! Intercom's Search API as the fake plays it: nested AND/OR queries, contact timestamps compared
//! by calendar day in the workspace's time zone (2.14), other timestamps by the second, sorting,
//! and stateless `starting_after` cursors that carry the last item's sort value and id (so a
//! record edited between two pages moves ahead of the cursor, as with Intercom). Records whose
//! `_indexed_at` lies in the future are not searchable yet: Intercom's index lags writes.

use std::cmp::Ordering;

use serde_json::{Value, json};

/// How one search endpoint compares.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Timestamps compared by calendar day (contact search in 2.14).
    pub by_day: bool,
    /// The workspace's offset from UTC, for days.
    pub utc_offset_secs: i64,
    pub default_per_page: usize,
    /// Conditions on `updated_at` and `created_at` count as met wherever they are in the query,
    /// the others apply: a server that ignores the time filter (`FaultKind::IgnoreFilter`).
    pub ignore_time_filters: bool,
}

/// The fields whose conditions `Rules::ignore_time_filters` ignores: those a sync's range is on.
const TIME_FILTERED: [&str; 2] = ["updated_at", "created_at"];

pub struct Found {
    pub items: Vec<Value>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
    pub next: Option<String>,
}

/// The hits of a query in the requested order: `(sort value, id, index into the items)`.
pub struct Ordered {
    keys: Vec<(i64, String, usize)>,
    descending: bool,
    /// False when some record was left out only because it is not indexed yet: the order
    /// depends on the time, so it must not be reused.
    pub reusable: bool,
}

/// Filters and sorts `items` for a search body; `now` decides what is indexed yet.
pub fn order(body: &Value, items: &[Value], rules: Rules, now: i64) -> Result<Ordered, String> {
    let query = body.get("query").ok_or("query is required")?;
    let sort_field = body["sort"]["field"].as_str().unwrap_or("updated_at");
    let descending = body["sort"]["order"].as_str().unwrap_or("descending") != "ascending";
    let mut keys = Vec::new();
    let mut reusable = true;
    for (i, item) in items.iter().enumerate() {
        if item.get("_indexed_at").and_then(Value::as_i64).is_some_and(|t| t > now) {
            reusable = false;
            continue;
        }
        if matches(query, item, rules, 0)? {
            keys.push((number(field(item, sort_field)).unwrap_or(0), id_of(item), i));
        }
    }
    keys.sort_by(|a, b| {
        let o = (a.0, &a.1).cmp(&(b.0, &b.1));
        if descending { o.reverse() } else { o }
    });
    Ok(Ordered {
        keys,
        descending,
        reusable,
    })
}

/// One page of an ordered search: the items after the body's cursor.
pub fn page(ordered: &Ordered, body: &Value, items: &[Value], rules: Rules) -> Result<Found, String> {
    let per_page = body["pagination"]["per_page"]
        .as_u64()
        .map_or(rules.default_per_page, |n| usize::try_from(n).unwrap_or(150))
        .clamp(1, 150);
    let (start, page) = match body["pagination"]["starting_after"].as_str() {
        Some(cursor) => {
            let decoded = crate::base64::decode(cursor).ok_or("invalid starting_after cursor")?;
            let c: Value = serde_json::from_slice(&decoded).map_err(|_| "invalid starting_after cursor")?;
            let after = (
                c[0].as_i64().ok_or("invalid starting_after cursor")?,
                c[1].as_str().unwrap_or_default(),
            );
            // The first hit strictly after the cursor, in the search's order.
            let start = ordered.keys.partition_point(|(v, id, _)| {
                let o = (*v, id.as_str()).cmp(&after);
                if ordered.descending {
                    o != Ordering::Less
                } else {
                    o != Ordering::Greater
                }
            });
            (start, c[2].as_u64().unwrap_or(1) + 1)
        }
        None => (0, 1),
    };
    let slice = &ordered.keys[start.min(ordered.keys.len())..];
    let chosen = &slice[..slice.len().min(per_page)];
    let next = (slice.len() > per_page)
        .then(|| chosen.last())
        .flatten()
        .map(|(v, id, _)| crate::base64::encode(json!([v, id, page]).to_string().as_bytes()));
    Ok(Found {
        items: chosen.iter().map(|(_, _, i)| items[*i].clone()).collect(),
        total: ordered.keys.len(),
        page: usize::try_from(page).unwrap_or(1),
        per_page,
        next,
    })
}

/// Runs a search request body over `items`; `now` decides what is indexed yet.
pub fn search(body: &Value, items: &[Value], rules: Rules, now: i64) -> Result<Found, String> {
    page(&order(body, items, rules, now)?, body, items, rules)
}

/// A record's id as a string, whichever way it was sent.
pub fn id_of(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn field<'a>(item: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(item, |v, k| &v[k])
}

fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn is_timestamp(name: &str) -> bool {
    name.ends_with("_at") || name.ends_with("_until") || name == "waiting_since"
}

fn matches(query: &Value, item: &Value, rules: Rules, depth: usize) -> Result<bool, String> {
    let operator = query["operator"].as_str().ok_or("every query needs an operator")?;
    if operator == "AND" || operator == "OR" {
        if depth >= 2 {
            return Err("too many nested groups (Intercom allows two levels)".into());
        }
        let parts = query["value"].as_array().ok_or("a group's value must be a list")?;
        if parts.len() > 15 {
            return Err("more than 15 filters in a group".into());
        }
        let mut results = Vec::with_capacity(parts.len());
        for part in parts {
            results.push(matches(part, item, rules, depth + 1)?);
        }
        return Ok(if operator == "AND" {
            results.into_iter().all(|r| r)
        } else {
            results.into_iter().any(|r| r)
        });
    }
    let name = query["field"].as_str().ok_or("a filter needs a field")?;
    // Checked even when ignored: a server that drops the filter still refuses a malformed one.
    let met = condition(name, operator, &query["value"], item, rules)?;
    Ok(met || (rules.ignore_time_filters && TIME_FILTERED.contains(&name)))
}

/// Whether `item` meets one condition, `name operator wanted`.
fn condition(name: &str, operator: &str, wanted: &Value, item: &Value, rules: Rules) -> Result<bool, String> {
    let actual = field(item, name);
    if is_timestamp(name) {
        let (Some(a), Some(w)) = (number(actual), number(wanted)) else {
            return Ok(false);
        };
        if rules.by_day {
            if !matches!(operator, "=" | ">" | "<") {
                return Err(format!("operator {operator} is not supported on dates"));
            }
            let day = |t: i64| (t + rules.utc_offset_secs).div_euclid(86_400);
            return Ok(match operator {
                "=" => day(a) == day(w),
                ">" => day(a) > day(w),
                _ => day(a) < day(w),
            });
        }
        return compare(operator, a.cmp(&w));
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match operator {
        "=" => Ok(text(actual) == text(wanted)),
        "!=" => Ok(text(actual) != text(wanted)),
        "IN" | "NIN" => {
            let list = wanted.as_array().ok_or("IN needs a list")?;
            let found = list.iter().any(|w| text(w) == text(actual));
            Ok(found == (operator == "IN"))
        }
        "~" => Ok(text(actual).contains(&text(wanted))),
        _ => match (number(actual), number(wanted)) {
            (Some(a), Some(w)) => compare(operator, a.cmp(&w)),
            _ => Ok(false),
        },
    }
}

fn compare(operator: &str, o: Ordering) -> Result<bool, String> {
    Ok(match operator {
        "=" => o == Ordering::Equal,
        "!=" => o != Ordering::Equal,
        ">" => o == Ordering::Greater,
        "<" => o == Ordering::Less,
        ">=" => o != Ordering::Less,
        "<=" => o != Ordering::Greater,
        other => return Err(format!("unknown operator {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BY_SECOND: Rules = Rules {
        by_day: false,
        utc_offset_secs: 0,
        default_per_page: 20,
        ignore_time_filters: false,
    };
    const BY_DAY: Rules = Rules {
        by_day: true,
        utc_offset_secs: -5 * 3600,
        default_per_page: 50,
        ignore_time_filters: false,
    };

    fn items() -> Vec<Value> {
        (0..10).map(|i| json!({"id": format!("{i}"), "updated_at": 1_000_000 + i * 10_000, "role": if i % 2 == 0 { "user" } else { "lead" }})).collect()
    }

    fn since(b: i64) -> Value {
        json!({"query": {"operator": "OR", "value": [
            {"field": "updated_at", "operator": ">", "value": b},
            {"field": "updated_at", "operator": "=", "value": b}]},
            "sort": {"field": "updated_at", "order": "ascending"}, "pagination": {"per_page": 3}})
    }

    #[test]
    fn seconds_and_days() {
        let found = search(&since(1_040_000), &items(), BY_SECOND, i64::MAX).unwrap();
        assert_eq!(found.total, 6);
        // By day: everything from the start of the day holding 1_040_000 (in UTC-5).
        let found = search(&since(1_040_000), &items(), BY_DAY, i64::MAX).unwrap();
        let day_start = (1_040_000 - 5 * 3600_i64).div_euclid(86_400) * 86_400 + 5 * 3600;
        let expected = items()
            .iter()
            .filter(|i| i["updated_at"].as_i64().unwrap() >= day_start)
            .count();
        assert_eq!(found.total, expected);
        assert!(found.total > 6);
    }

    #[test]
    fn cursors_walk_forward() {
        let mut body = since(0);
        let mut seen = Vec::new();
        loop {
            let found = search(&body, &items(), BY_SECOND, i64::MAX).unwrap();
            seen.extend(found.items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
            match found.next {
                Some(c) => body["pagination"]["starting_after"] = json!(c),
                None => break,
            }
        }
        assert_eq!(seen, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn late_records_are_not_searchable_yet() {
        let mut data = items();
        data[9]["_indexed_at"] = json!(5_000);
        assert_eq!(search(&since(0), &data, BY_SECOND, 4_000).unwrap().total, 9);
        assert_eq!(search(&since(0), &data, BY_SECOND, 6_000).unwrap().total, 10);
    }

    #[test]
    fn ignored_time_filters_leave_the_other_conditions() {
        let ignoring = Rules {
            ignore_time_filters: true,
            ..BY_SECOND
        };
        assert_eq!(
            search(&since(1_070_000), &items(), ignoring, i64::MAX).unwrap().total,
            10
        );
        // A range and a role, nested as a sync's slice asks: only the role applies.
        let mut body = since(1_070_000);
        body["query"] = json!({"operator": "AND", "value": [
            {"field": "role", "operator": "=", "value": "user"},
            {"operator": "OR", "value": [
                {"field": "updated_at", "operator": ">", "value": 1_070_000},
                {"field": "created_at", "operator": "=", "value": 1_070_000}]},
            {"field": "updated_at", "operator": "<", "value": 1_080_000}]});
        let mut body_all = body.clone();
        body_all["pagination"]["per_page"] = json!(150);
        let found = search(&body_all, &items(), ignoring, i64::MAX).unwrap();
        assert_eq!(found.total, 5);
        assert!(found.items.iter().all(|i| i["role"] == "user"));
        assert!(
            found
                .items
                .iter()
                .any(|i| i["updated_at"].as_i64().unwrap() < 1_070_000)
        );
        assert_eq!(search(&body_all, &items(), BY_SECOND, i64::MAX).unwrap().total, 0);
        // Paging walks the larger result as usual.
        let mut seen = 0;
        loop {
            let found = search(&body, &items(), ignoring, i64::MAX).unwrap();
            seen += found.items.len();
            match found.next {
                Some(c) => body["pagination"]["starting_after"] = json!(c),
                None => break,
            }
        }
        assert_eq!(seen, 5);
        // A malformed time condition is still refused.
        let bad = json!({"query": {"field": "updated_at", "operator": ">=", "value": 1}});
        let by_day_ignoring = Rules {
            ignore_time_filters: true,
            ..BY_DAY
        };
        assert!(search(&bad, &items(), by_day_ignoring, 0).is_err());
    }

    #[test]
    fn bad_queries_are_refused() {
        let body = json!({"query": {"field": "updated_at", "operator": ">=", "value": 1}});
        assert!(search(&body, &items(), BY_DAY, 0).is_err());
        assert!(search(&json!({}), &items(), BY_DAY, 0).is_err());
    }
}
