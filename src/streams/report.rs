//! Intercom's legacy count reports (`GET /counts`), turned into rows.
//!
//! Intercom answers with objects keyed by display name (`{"user": {"segment": [{"Active": 12}]}}`).
//! Each report becomes one row per counted thing, stamped with the sync's `snapshot_at`, which is
//! part of the key: a table of counts grows into a history, one snapshot per run.

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// `GET /counts`: workspace totals.
    Totals,
    /// `GET /counts?type=conversation`: open, closed, assigned, unassigned.
    Conversations,
    /// `GET /counts?type=conversation&count=admin`: open and closed per admin.
    AdminConversations,
    /// `GET /counts?type=user&count=segment` (users and leads together).
    UserSegments,
    /// `GET /counts?type=user&count=tag`.
    UserTags,
    /// `GET /counts?type=company&count=segment`.
    CompanySegments,
    /// `GET /counts?type=company&count=tag`.
    CompanyTags,
    /// `GET /counts?type=company&count=user`: users per company.
    CompanyUsers,
}

impl Report {
    /// Where the name-keyed list sits, and the column the name goes to.
    fn named_list(self) -> Option<([&'static str; 2], &'static str)> {
        match self {
            Report::UserSegments => Some((["user", "segment"], "segment_name")),
            Report::UserTags => Some((["user", "tag"], "tag_name")),
            Report::CompanySegments => Some((["company", "segment"], "segment_name")),
            Report::CompanyTags => Some((["company", "tag"], "tag_name")),
            _ => None,
        }
    }

    /// The key column besides `snapshot_at`, if the report has several rows.
    pub fn key_column(self) -> Option<&'static str> {
        match self {
            Report::Totals | Report::Conversations => None,
            Report::AdminConversations => Some("admin_id"),
            Report::CompanyUsers => Some("remote_company_id"),
            _ => self.named_list().map(|(_, column)| column),
        }
    }

    /// The rows of one page of the report.
    pub fn rows(self, page: &Value, snapshot_at: &str) -> Result<Vec<Value>, String> {
        let at = |path: &[&str]| {
            path.iter()
                .try_fold(page, |v, k| v.get(*k))
                .ok_or_else(|| format!("the answer has no {}", path.join(".")))
        };
        let count = |path: &[&str]| -> Value {
            path.iter()
                .try_fold(page, |v, k| v.get(*k))
                .cloned()
                .unwrap_or(Value::Null)
        };
        if let Some((path, name_column)) = self.named_list() {
            let list = at(&path)?
                .as_array()
                .ok_or_else(|| format!("{} is not a list", path.join(".")))?;
            let mut rows = Vec::with_capacity(list.len());
            for entry in list {
                let (name, n) = single_pair(entry)?;
                rows.push(json!({"snapshot_at": snapshot_at, name_column: name, "count": n}));
            }
            return Ok(rows);
        }
        Ok(match self {
            Report::Totals => vec![json!({
                "snapshot_at": snapshot_at,
                "company_count": count(&["company", "count"]),
                "user_count": count(&["user", "count"]),
                "lead_count": count(&["lead", "count"]),
                "tag_count": count(&["tag", "count"]),
                "segment_count": count(&["segment", "count"]),
            })],
            Report::Conversations => {
                let c = at(&["conversation"])?;
                vec![json!({
                    "snapshot_at": snapshot_at,
                    "open": c.get("open"), "closed": c.get("closed"),
                    "assigned": c.get("assigned"), "unassigned": c.get("unassigned"),
                })]
            }
            Report::AdminConversations => at(&["conversation", "admin"])?
                .as_array()
                .ok_or("conversation.admin is not a list")?
                .iter()
                .map(|a| {
                    json!({
                        "snapshot_at": snapshot_at,
                        "admin_id": a.get("id"), "name": a.get("name"),
                        "open": a.get("open"), "closed": a.get("closed"),
                    })
                })
                .collect(),
            Report::CompanyUsers => at(&["company", "user"])?
                .as_array()
                .ok_or("company.user is not a list")?
                .iter()
                .map(|entry| company_users_row(entry, snapshot_at))
                .collect::<Result<_, _>>()?,
            _ => unreachable!("named lists are handled above"),
        })
    }
}

/// `{"<name>": n}`: the one name and its count.
fn single_pair(entry: &Value) -> Result<(String, Value), String> {
    let map = entry.as_object().ok_or("a count entry is not an object")?;
    let mut pairs = map.iter();
    match (pairs.next(), pairs.next()) {
        (Some((name, n)), None) => Ok((name.clone(), n.clone())),
        _ => Err(format!("the count entry {entry} is not one name with its count")),
    }
}

/// `{"<company name>": n, "remote_company_id": "6"}`: the name is the key that is not the id.
fn company_users_row(entry: &Value, snapshot_at: &str) -> Result<Value, String> {
    let map: &Map<String, Value> = entry.as_object().ok_or("a count entry is not an object")?;
    let remote = map.get("remote_company_id").cloned().unwrap_or(Value::Null);
    let mut others = map.iter().filter(|(k, _)| k.as_str() != "remote_company_id");
    let (name, n) = match (others.next(), others.next()) {
        (Some((name, n)), None) => (name.clone(), n.clone()),
        _ => {
            return Err(format!(
                "the company count entry {entry} is not one company name with its count"
            ));
        }
    };
    Ok(json!({"snapshot_at": snapshot_at, "remote_company_id": remote, "company_name": name, "user_count": n}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2024-01-01T00:00:00Z";

    #[test]
    fn totals_flatten_to_one_row() {
        let page = json!({"type": "count.hash", "company": {"count": 3}, "user": {"count": 5},
                          "lead": {"count": 1}, "tag": {"count": 9}, "segment": {"count": 2}});
        assert_eq!(
            Report::Totals.rows(&page, AT).unwrap(),
            vec![
                json!({"snapshot_at": AT, "company_count": 3, "user_count": 5, "lead_count": 1, "tag_count": 9, "segment_count": 2})
            ]
        );
    }

    #[test]
    fn name_keyed_lists_become_rows() {
        let page = json!({"type": "count", "user": {"segment": [{"Active": 12}, {"id=10": 0}]}});
        assert_eq!(
            Report::UserSegments.rows(&page, AT).unwrap(),
            vec![
                json!({"snapshot_at": AT, "segment_name": "Active", "count": 12}),
                json!({"snapshot_at": AT, "segment_name": "id=10", "count": 0}),
            ]
        );
        let page = json!({"type": "count", "company": {"user": [{"Acme": 4, "remote_company_id": "6"}]}});
        assert_eq!(
            Report::CompanyUsers.rows(&page, AT).unwrap(),
            vec![json!({"snapshot_at": AT, "remote_company_id": "6", "company_name": "Acme", "user_count": 4})]
        );
        let page =
            json!({"type": "count", "conversation": {"admin": [{"id": "1", "name": "Ann", "open": 2, "closed": 3}]}});
        assert_eq!(Report::AdminConversations.rows(&page, AT).unwrap()[0]["admin_id"], "1");
    }

    #[test]
    fn unexpected_shapes_are_errors() {
        assert!(Report::UserTags.rows(&json!({"type": "count"}), AT).is_err());
        assert!(
            Report::UserTags
                .rows(&json!({"user": {"tag": [{"a": 1, "b": 2}]}}), AT)
                .is_err()
        );
        assert!(
            Report::CompanyUsers
                .rows(&json!({"company": {"user": [{"remote_company_id": "1"}]}}), AT)
                .is_err()
        );
    }
}
