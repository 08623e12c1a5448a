//! The streams, as data: one table row per stream, naming its endpoint, key, replication and
//! the few reshapings its records need. Behaviour that does not fit a row (the searches, the
//! companies scroll, parents and their parts, the count reports) is a small named [`Source`]
//! variant, run by its module of `crate::runners`. This module holds data only: the catalog,
//! the state and the runners read it, and it reads none of them.

pub mod report;
pub mod reshape;

use serde_json::Value;

pub use report::Report;
pub use reshape::Reshape;

/// The column of every stream that keeps what Intercom sent and the stream's schema file does
/// not declare: an object of values by path (`location.zip`, `tags[2].color`). A property a
/// later release declares gets its own column and leaves this one; no column changes type.
pub const UNDECLARED: &str = "undeclared_properties";

/// How a stream is replicated by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    FullTable,
    /// Incremental on this key (`updated_at`, `created_at`).
    Incremental(&'static str),
}

impl Replication {
    pub fn key(self) -> Option<&'static str> {
        match self {
            Replication::FullTable => None,
            Replication::Incremental(key) => Some(key),
        }
    }
}

/// Where a stream's records come from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// `GET path`; the items are the array under `records`. Follows `pages.next`, whether a
    /// link (page-number lists) or a cursor. `per_page` is sent on the first request when set.
    /// An incremental stream of this kind reads everything and emits what changed.
    List {
        path: &'static str,
        records: &'static str,
        per_page: Option<u32>,
    },
    /// One of Intercom's legacy count reports, one row per counted thing.
    Counts(Report),
    /// `POST /contacts/search`, for one `role` or all; long lists fetched in full.
    Contacts { role: Option<&'static str> },
    /// `GET /companies/scroll`: everything read, what changed emitted.
    Companies,
    /// A search whose records have parts, written by the child stream.
    Parents(Family),
    /// `GET /articles`, newest first: stops at the bookmark.
    Articles,
    /// `GET /admins/activity_logs` in `created_at` windows.
    ActivityLogs,
    /// Rows written by the parent stream's run.
    Child,
}

#[derive(Debug)]
pub struct Stream {
    pub name: &'static str,
    /// The JSON Schema from `schemas/`.
    pub schema_file: SchemaFile,
    pub key: &'static [&'static str],
    pub replication: Replication,
    pub selected_by_default: bool,
    pub source: Source,
    /// Changes applied to each item before it is shaped to the schema.
    pub reshape: &'static [Reshape],
    /// False for an endpoint no version of Intercom's API description documents (the count
    /// reports, company segments): a 404 there means Intercom retired it, and the stream is
    /// skipped with a warning instead of failing.
    pub documented: bool,
    /// For a child stream: the stream whose run writes it.
    pub parent: Option<&'static str>,
    /// For a child stream: the column of its records that holds the parent's `updated_at`,
    /// where each record sits in the bookmark order of the parent's search.
    pub parent_time: Option<&'static str>,
}

impl Stream {
    /// The stream's schema: its file's, with the column that keeps what Intercom sends and
    /// the file does not declare (`undeclared_properties`).
    pub fn schema(&self) -> Value {
        // The table test parses every schema, so this cannot fail in a released binary.
        let mut schema: Value = serde_json::from_str(self.schema_file.text).expect("schemas/ hold valid JSON (tested)");
        if let Some(props) = schema["properties"].as_object_mut() {
            props.insert(
                UNDECLARED.into(),
                serde_json::json!({"type": ["object", "null"], "additionalProperties": true}),
            );
        }
        schema
    }
}

/// A parent whose records carry parts (conversations, tickets): one description of what
/// differs between them, for one runner.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The parent, singular: in messages, and in the parts' columns (`conversation_id`).
    pub parent: &'static str,
    /// The search endpoint, and where its answers hold the records.
    pub search: &'static str,
    pub records: &'static str,
    /// The list of parts in a parent: `{"<parts>": {"<parts>": [...], "total_count": n}}`.
    pub parts: &'static str,
    /// Where one parent is read whole: `{prefix}{id}{suffix}`.
    pub fetch_prefix: &'static str,
    pub fetch_suffix: &'static str,
    /// Whether the search's records carry their parts (else each parent is fetched).
    pub embedded: bool,
    /// Where the API version may list the parents deleted (`GET /conversations/deleted`).
    pub deleted: Option<&'static str>,
}

pub const CONVERSATIONS: Family = Family {
    parent: "conversation",
    search: "/conversations/search",
    records: "conversations",
    parts: "conversation_parts",
    // Plain-text bodies, as singer-io's tap asks for them.
    fetch_prefix: "/conversations/",
    fetch_suffix: "?display_as=plaintext",
    embedded: false,
    deleted: Some("/conversations/deleted"),
};

pub const TICKETS: Family = Family {
    parent: "ticket",
    search: "/tickets/search",
    records: "tickets",
    parts: "ticket_parts",
    fetch_prefix: "/tickets/",
    fetch_suffix: "",
    embedded: true,
    // No version lists deleted tickets.
    deleted: None,
};

/// A schema file of `schemas/`, embedded in the binary.
#[derive(Debug, Clone, Copy)]
pub struct SchemaFile {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! schema {
    ($name:literal) => {
        SchemaFile {
            name: $name,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/", $name, ".json")),
        }
    };
}

const ID: &[&str] = &["id"];
const UPDATED_AT: Replication = Replication::Incremental("updated_at");

const fn list(path: &'static str, records: &'static str) -> Source {
    Source::List {
        path,
        records,
        per_page: None,
    }
}

const fn paged(path: &'static str, records: &'static str) -> Source {
    Source::List {
        path,
        records,
        per_page: Some(150),
    }
}

const fn full(name: &'static str, schema_file: SchemaFile, source: Source) -> Stream {
    Stream {
        name,
        schema_file,
        key: ID,
        replication: Replication::FullTable,
        selected_by_default: true,
        source,
        reshape: &[],
        documented: true,
        parent: None,
        parent_time: None,
    }
}

const fn report(name: &'static str, schema_file: SchemaFile, key: &'static [&'static str], report: Report) -> Stream {
    Stream {
        name,
        schema_file,
        key,
        replication: Replication::FullTable,
        selected_by_default: true,
        source: Source::Counts(report),
        reshape: &[],
        // GET /counts is in no version of Intercom's API description.
        documented: false,
        parent: None,
        parent_time: None,
    }
}

const fn incremental(name: &'static str, schema_file: SchemaFile, source: Source) -> Stream {
    Stream {
        replication: UPDATED_AT,
        ..full(name, schema_file, source)
    }
}

const fn child(name: &'static str, schema_file: SchemaFile, parent: &'static str, time: &'static str) -> Stream {
    Stream {
        parent: Some(parent),
        parent_time: Some(time),
        ..incremental(name, schema_file, Source::Child)
    }
}

/// A contact's addressable lists that become plain arrays.
const CONTACT_RESHAPE: &[Reshape] = &[
    Reshape::Unwrap {
        field: "tags",
        inner: &["data"],
    },
    Reshape::Unwrap {
        field: "companies",
        inner: &["data"],
    },
    Reshape::Unwrap {
        field: "opted_in_subscription_types",
        inner: &["data"],
    },
    Reshape::Unwrap {
        field: "opted_out_subscription_types",
        inner: &["data"],
    },
];

const ATTRIBUTE_KEY: &[&str] = &["_sdc_record_hash"];

/// Every stream of the tap, in the order of the catalog.
pub static ALL: &[Stream] = &[
    full("admins", schema!("admins"), list("/admins", "admins")),
    full("teams", schema!("teams"), list("/teams", "teams")),
    full("tags", schema!("tags"), list("/tags", "data")),
    incremental(
        "segments",
        schema!("segments"),
        list("/segments?include_count=true", "segments"),
    ),
    // `type=company` is in no 2.x description of GET /segments.
    Stream {
        documented: false,
        ..incremental(
            "company_segments",
            schema!("company_segments"),
            list("/segments?type=company&include_count=true", "segments"),
        )
    },
    Stream {
        reshape: &[
            Reshape::Unwrap {
                field: "tags",
                inner: &["tags"],
            },
            Reshape::Unwrap {
                field: "segments",
                inner: &["segments"],
            },
        ],
        ..incremental("companies", schema!("companies"), Source::Companies)
    },
    Stream {
        reshape: CONTACT_RESHAPE,
        ..incremental("contacts", schema!("contacts"), Source::Contacts { role: None })
    },
    // A contact's notes, read with each changed contact that has any: a request per contact,
    // so only when chosen.
    Stream {
        replication: Replication::Incremental("contact_updated_at"),
        selected_by_default: false,
        ..child(
            "contact_notes",
            schema!("contact_notes"),
            "contacts",
            "contact_updated_at",
        )
    },
    // Users and leads are contacts of one role, in the contacts schema.
    Stream {
        reshape: CONTACT_RESHAPE,
        selected_by_default: false,
        ..incremental("users", schema!("contacts"), Source::Contacts { role: Some("user") })
    },
    Stream {
        reshape: CONTACT_RESHAPE,
        selected_by_default: false,
        ..incremental("leads", schema!("contacts"), Source::Contacts { role: Some("lead") })
    },
    Stream {
        reshape: &[
            Reshape::Unwrap {
                field: "tags",
                inner: &["tags"],
            },
            Reshape::Unwrap {
                field: "contacts",
                inner: &["contacts"],
            },
            Reshape::RenameInner {
                field: "teammates",
                from: "teammates",
                to: "admins",
            },
        ],
        ..incremental(
            "conversations",
            schema!("conversations"),
            Source::Parents(CONVERSATIONS),
        )
    },
    child(
        "conversation_parts",
        schema!("conversation_parts"),
        "conversations",
        "conversation_updated_at",
    ),
    Stream {
        reshape: &[
            Reshape::Unwrap {
                field: "contacts",
                inner: &["contacts"],
            },
            // The parts are the rows of ticket_parts.
            Reshape::Omit("ticket_parts"),
            // Older answers give the state as its category alone.
            Reshape::TextAsObject {
                field: "ticket_state",
                key: "category",
            },
        ],
        ..incremental("tickets", schema!("tickets"), Source::Parents(TICKETS))
    },
    child("ticket_parts", schema!("ticket_parts"), "tickets", "ticket_updated_at"),
    Stream {
        reshape: &[
            Reshape::Unwrap {
                field: "ticket_states",
                inner: &["data", "ticket_states"],
            },
            Reshape::Unwrap {
                field: "ticket_type_attributes",
                inner: &["ticket_type_attributes", "data"],
            },
        ],
        ..full("ticket_types", schema!("ticket_types"), list("/ticket_types", "data"))
    },
    Stream {
        reshape: &[Reshape::Unwrap {
            field: "ticket_types",
            inner: &["data", "ticket_types"],
        }],
        ..full(
            "ticket_states",
            schema!("ticket_states"),
            list("/ticket_states", "data"),
        )
    },
    full(
        "subscription_types",
        schema!("subscription_types"),
        list("/subscription_types", "data"),
    ),
    Stream {
        key: ATTRIBUTE_KEY,
        reshape: &[Reshape::DefaultModel("contact"), Reshape::RecordHash],
        ..full(
            "contact_attributes",
            schema!("contact_attributes"),
            list("/data_attributes?model=contact", "data"),
        )
    },
    Stream {
        key: ATTRIBUTE_KEY,
        reshape: &[Reshape::DefaultModel("company"), Reshape::RecordHash],
        ..full(
            "company_attributes",
            schema!("company_attributes"),
            list("/data_attributes?model=company", "data"),
        )
    },
    Stream {
        key: ATTRIBUTE_KEY,
        reshape: &[
            Reshape::DefaultModel("conversation"),
            Reshape::OptionObjects,
            Reshape::RecordHash,
        ],
        ..full(
            "conversation_attributes",
            schema!("conversation_attributes"),
            list("/data_attributes?model=conversation", "data"),
        )
    },
    Stream {
        reshape: &[Reshape::Unwrap {
            field: "tags",
            inner: &["tags"],
        }],
        ..incremental("articles", schema!("articles"), Source::Articles)
    },
    full(
        "help_centers",
        schema!("help_centers"),
        paged("/help_center/help_centers", "data"),
    ),
    full(
        "help_center_collections",
        schema!("help_center_collections"),
        paged("/help_center/collections", "data"),
    ),
    Stream {
        replication: Replication::Incremental("created_at"),
        ..full("activity_logs", schema!("activity_logs"), Source::ActivityLogs)
    },
    report("counts", schema!("counts"), &["snapshot_at"], Report::Totals),
    report(
        "conversation_counts",
        schema!("conversation_counts"),
        &["snapshot_at"],
        Report::Conversations,
    ),
    report(
        "admin_conversation_counts",
        schema!("admin_conversation_counts"),
        &["snapshot_at", "admin_id"],
        Report::AdminConversations,
    ),
    report(
        "user_segment_counts",
        schema!("user_segment_counts"),
        &["snapshot_at", "segment_name"],
        Report::UserSegments,
    ),
    report(
        "user_tag_counts",
        schema!("user_tag_counts"),
        &["snapshot_at", "tag_name"],
        Report::UserTags,
    ),
    report(
        "company_segment_counts",
        schema!("company_segment_counts"),
        &["snapshot_at", "segment_name"],
        Report::CompanySegments,
    ),
    report(
        "company_tag_counts",
        schema!("company_tag_counts"),
        &["snapshot_at", "tag_name"],
        Report::CompanyTags,
    ),
    report(
        "company_user_counts",
        schema!("company_user_counts"),
        &["snapshot_at", "remote_company_id"],
        Report::CompanyUsers,
    ),
];

pub fn find(name: &str) -> Option<&'static Stream> {
    ALL.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Node;
    use std::collections::HashSet;

    #[test]
    fn the_table_is_consistent() {
        let mut names = HashSet::new();
        for stream in ALL {
            assert!(names.insert(stream.name), "{} appears twice", stream.name);
            let schema = stream.schema();
            Node::compile(&schema).unwrap_or_else(|e| panic!("{}: {e}", stream.name));
            let props = schema["properties"].as_object().unwrap();
            if let Some(time) = stream.parent_time {
                assert!(props.contains_key(time), "{}: {time} is not in the schema", stream.name);
            }
            for key in stream.key.iter().copied().chain(stream.replication.key()) {
                let prop = props
                    .get(key)
                    .unwrap_or_else(|| panic!("{}: {key} is not in the schema", stream.name));
                assert!(prop["type"].is_string(), "{}: {key} must not be nullable", stream.name);
            }
            for reshape in stream.reshape {
                if let Some(field) = reshape.field() {
                    assert!(props.contains_key(field), "{}: reshapes missing {field}", stream.name);
                }
            }
        }
    }

    #[test]
    fn every_schema_file_belongs_to_a_stream() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas");
        let used: HashSet<String> = ALL.iter().map(|s| format!("{}.json", s.schema_file.name)).collect();
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(used.contains(&name), "schemas/{name} is used by no stream");
        }
    }

    #[test]
    fn schemas_follow_the_portable_style() {
        fn walk(v: &Value, path: &str) {
            let obj = v.as_object().unwrap_or_else(|| panic!("{path}: not an object"));
            for banned in ["anyOf", "oneOf", "allOf", "$ref"] {
                assert!(!obj.contains_key(banned), "{path}: {banned}");
            }
            assert!(obj.contains_key("type"), "{path}: no type");
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    walk(sub, &format!("{path}.{k}"));
                }
            }
            if let Some(items) = obj.get("items") {
                walk(items, &format!("{path}[]"));
            }
        }
        for stream in ALL {
            walk(&stream.schema(), stream.name);
        }
    }
}
