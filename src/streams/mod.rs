//! The streams, as data: one row per stream holds all that makes it: its endpoint and paging
//! style with their options, its key and replication, the API versions that have it (and an
//! endpoint that moves with the version), the schema of its records in Intercom's description,
//! and for a child stream its parent. The runners (`crate::runners`) read a stream as its
//! [`Read`] says; the catalog, the state, the README's stream table ([`markdown_table`]) and the
//! schema-drift test read the same rows. This module holds data only, and reads none of those.

pub mod exports;
pub mod report;
pub mod reshape;

use std::fmt::Write as _;

use serde_json::Value;

pub use report::Report;
pub use reshape::Reshape;

use crate::version::ApiVersion;
use exports::{Key, Kind, message, reporting};

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

/// An endpoint, and where its answers hold the records.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Path and query, as the oldest version that has it names it.
    pub path: &'static str,
    /// The key of the records' array: the first of these an answer has (Intercom names some
    /// lists differently in its examples and its schemas).
    pub records: &'static [&'static str],
    /// `per_page`, sent with the first request when set.
    pub per_page: Option<u32>,
    /// Where a later version of the API moved it.
    pub moved: Option<Moved>,
}

/// An endpoint as a later version has it.
#[derive(Debug, Clone, Copy)]
pub struct Moved {
    pub since: ApiVersion,
    pub path: &'static str,
    pub records: &'static [&'static str],
}

impl Endpoint {
    /// The path and the records' keys in `version`.
    pub fn at(&self, version: ApiVersion) -> (&'static str, &'static [&'static str]) {
        match self.moved {
            Some(moved) if version >= moved.since => (moved.path, moved.records),
            _ => (self.path, self.records),
        }
    }

    /// The first request's path and query in `version`, `per_page` included.
    pub fn first(&self, version: ApiVersion) -> String {
        let (path, _) = self.at(version);
        match self.per_page {
            Some(n) if path.contains('?') => format!("{path}&per_page={n}"),
            Some(n) => format!("{path}?per_page={n}"),
            None => path.to_owned(),
        }
    }
}

/// How a stream's records are read: the paging style, with its endpoint and options.
#[derive(Debug, Clone, Copy)]
pub enum Read {
    /// `GET` a list, following `pages.next` (a link or a cursor). An incremental stream of this
    /// kind reads everything and emits what changed.
    List(Endpoint),
    /// `GET` a list Intercom sorts by the replication key, newest first: an incremental run
    /// stops at the first page that reaches past its start (unless the order does not hold).
    NewestFirst(Endpoint),
    /// The Search API, in slices of the replication key.
    Search(Search),
    /// A scroll (`scroll_param`, an empty page at the end), read whole each run.
    Scroll(Endpoint),
    /// `created_at_after`/`created_at_before` windows, many at once.
    Windows(Endpoint),
    /// One of Intercom's legacy count reports, one row per counted thing.
    Report(Endpoint, Report),
    /// A list read whole, then each of its records read on its own (`{id}` in `path`), and the
    /// object under `field` of that answer written as the record's row (an article's
    /// statistics): a history, stamped with the sync's start.
    Details {
        list: Endpoint,
        path: &'static str,
        field: &'static str,
        /// The row's column of the record's id (`article_id`).
        id: &'static str,
    },
    /// A child's records, read with each record of its parent (see [`Parent`]).
    Child(Fetch),
    /// One of Intercom's asynchronous exports: a job per time window, polled, then
    /// downloaded ([`exports`]).
    Export(exports::Export),
}

/// A search endpoint and what its records need.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub endpoint: Endpoint,
    /// A filter beside the time filter: `role = user`.
    pub role: Option<&'static str>,
    /// Whether Intercom compares this search's timestamps by calendar day (contacts, 2.14).
    pub by_day: bool,
    /// Lists the records carry cut short, read whole when their field is selected.
    pub fills: &'static [Fill],
    /// Where a version lists the records deleted, read after the search.
    pub deleted: Option<Deleted>,
}

/// A list a record carries cut short (at most 10 items, `has_more`), and where it is whole:
/// `{id}` in `path` is the record's id. Fills that share a path share one request, and so do
/// a fill and a child's fetch.
#[derive(Debug, Clone, Copy)]
pub struct Fill {
    pub field: &'static str,
    pub path: &'static str,
    /// Whether the endpoint pages (`page`, `per_page`).
    pub paged: bool,
    /// Only the items of this `consent_type` (the two subscription lists share an endpoint).
    pub consent: Option<&'static str>,
}

/// A feed of deleted records, newest first by `deleted_at`, that a version has.
#[derive(Debug, Clone, Copy)]
pub struct Deleted {
    pub since: ApiVersion,
    pub endpoint: Endpoint,
}

/// Where a child's records are, for one parent.
#[derive(Debug, Clone, Copy)]
pub struct Fetch {
    /// `GET` path and query; `{id}` is the parent's id.
    pub path: &'static str,
    /// The keys down to the records' array in the answer
    /// (`conversation_parts.conversation_parts`); the last may also be `data` in an answer, as
    /// in some of Intercom's examples.
    pub records: &'static [&'static str],
    /// Whether the endpoint pages (`page`, `per_page`).
    pub paged: bool,
    /// Whether the parent's own records carry the list (ticket parts come with the ticket
    /// search): it is fetched only when cut short.
    pub embedded: bool,
    /// Read only for parents whose list under this field says it has items (a contact's
    /// `notes`): the others cost no request.
    pub only_when: Option<&'static str>,
    /// The most Intercom returns for one parent (conversation parts: the newest 500): a list
    /// that reaches it is named in the log.
    pub cap: Option<usize>,
    /// What the rows are: each record of the list, or one row per parent.
    pub rows: Rows,
}

/// The rows a child writes for one parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Each record of the parent's list is a row.
    Each,
    /// One row per parent, holding its list (empty too) under this column: a parent that left
    /// every item has its row replaced.
    List(&'static str),
    /// One row per parent, holding the answer, which is text (not JSON), under this column.
    Text(&'static str),
}

/// What a child stream's rows carry of their parent.
#[derive(Debug, Clone, Copy)]
pub struct Parent {
    pub stream: &'static str,
    /// The parent, singular, as messages name it.
    pub noun: &'static str,
    /// The column of the parent's id.
    pub id: &'static str,
    /// The column of the parent's `updated_at`: where each row sits in the bookmark order of
    /// the parent's read.
    pub time: &'static str,
    /// The column of the parent's `created_at`, for rows that carry it.
    pub created: Option<&'static str>,
    /// The column of the list's `total_count`, for rows that carry it.
    pub total: Option<&'static str>,
}

/// The name of a stream's records in Intercom's API description (`components.schemas`).
#[derive(Debug, Clone, Copy)]
pub struct Described {
    pub name: &'static str,
    /// Where in the stream's rows those records are, when not at the top (`segments[]`: a
    /// contact's segments are a list in its one row).
    pub within: Option<&'static str>,
    /// From this version on, another name (2.16 lists conversation attributes on their own).
    pub moved: Option<(ApiVersion, &'static str)>,
}

impl Described {
    pub fn at(&self, version: ApiVersion) -> &'static str {
        match self.moved {
            Some((since, name)) if version >= since => name,
            _ => self.name,
        }
    }
}

#[derive(Debug)]
pub struct Stream {
    pub name: &'static str,
    /// The JSON Schema from `schemas/`.
    pub schema_file: SchemaFile,
    pub key: &'static [&'static str],
    pub replication: Replication,
    pub selected_by_default: bool,
    pub read: Read,
    /// Changes applied to each item before it is shaped to the schema.
    pub reshape: &'static [Reshape],
    /// False for an endpoint no version of Intercom's API description documents (the count
    /// reports, company segments): a 404 there means Intercom retired it, and the stream is
    /// skipped with a warning instead of failing.
    pub documented: bool,
    /// The first API version that has the stream's endpoint.
    pub since: ApiVersion,
    /// The schema of its records in Intercom's API description, for the drift test.
    pub described: Option<Described>,
    /// For a child stream: its parent, whose read writes it.
    pub parent: Option<Parent>,
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

    /// Whether the stream is a history of snapshots (`snapshot_at` in its key): no row of it is
    /// ever retired by a newer table version.
    pub fn is_history(&self) -> bool {
        self.key.contains(&"snapshot_at")
    }

    /// Whether `version` of the API has the stream's endpoint.
    pub fn exists_in(&self, version: ApiVersion) -> bool {
        version >= self.since
    }

    /// The streams whose parent this is, in table order.
    pub fn children(&self) -> impl Iterator<Item = &'static Stream> + '_ {
        ALL.iter()
            .filter(move |s| s.parent.is_some_and(|p| p.stream == self.name))
    }
}

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
const DATA: &[&str] = &["data"];
const UPDATED_AT: Replication = Replication::Incremental("updated_at");

/// An endpoint with its records under one key.
const fn at(path: &'static str, records: &'static [&'static str]) -> Endpoint {
    Endpoint {
        path,
        records,
        per_page: None,
        moved: None,
    }
}

/// A page-number endpoint, read 150 a page.
const fn paged(path: &'static str, records: &'static [&'static str]) -> Endpoint {
    Endpoint {
        per_page: Some(150),
        ..at(path, records)
    }
}

/// A full-table stream keyed by `id`, in every version.
const fn full(name: &'static str, schema_file: SchemaFile, read: Read, described: &'static str) -> Stream {
    Stream {
        name,
        schema_file,
        key: ID,
        replication: Replication::FullTable,
        selected_by_default: true,
        read,
        reshape: &[],
        documented: true,
        since: ApiVersion::V2_14,
        described: Some(Described {
            name: described,
            within: None,
            moved: None,
        }),
        parent: None,
    }
}

/// A full-table list stream: the one-line row a new list stream takes.
const fn list(name: &'static str, schema_file: SchemaFile, endpoint: Endpoint, described: &'static str) -> Stream {
    full(name, schema_file, Read::List(endpoint), described)
}

const fn incremental(name: &'static str, schema_file: SchemaFile, read: Read, described: &'static str) -> Stream {
    Stream {
        replication: UPDATED_AT,
        ..full(name, schema_file, read, described)
    }
}

/// A count report: a history keyed by the sync's time, in no API description.
const fn report(
    name: &'static str,
    schema_file: SchemaFile,
    key: &'static [&'static str],
    path: &'static str,
    report: Report,
) -> Stream {
    Stream {
        key,
        documented: false,
        described: None,
        ..full(name, schema_file, Read::Report(at(path, &[]), report), "")
    }
}

/// A contact search, for one role or all.
const fn contacts(role: Option<&'static str>) -> Read {
    Read::Search(Search {
        endpoint: Endpoint {
            // 2.16 returns merge_history only when asked.
            moved: Some(Moved {
                since: ApiVersion::V2_16,
                path: "/contacts/search?include_merge_history=true",
                records: DATA,
            }),
            ..at("/contacts/search", DATA)
        },
        role,
        // Contact search compares timestamps by calendar day in 2.14.
        by_day: true,
        fills: CONTACT_FILLS,
        deleted: None,
    })
}

/// A contact's addressable lists: cut at 10 by the search, each whole at its own endpoint; both
/// subscription lists come from one, told apart by the subscription type's consent (an opt-in
/// type listed there is one the contact opted into, an opt-out type one they opted out of).
const CONTACT_FILLS: &[Fill] = &[
    Fill {
        field: "tags",
        path: "/contacts/{id}/tags",
        paged: false,
        consent: None,
    },
    Fill {
        field: "companies",
        path: "/contacts/{id}/companies",
        paged: true,
        consent: None,
    },
    Fill {
        field: "notes",
        path: "/contacts/{id}/notes",
        paged: true,
        consent: None,
    },
    Fill {
        field: "opted_in_subscription_types",
        path: "/contacts/{id}/subscriptions",
        paged: false,
        consent: Some("opt_in"),
    },
    Fill {
        field: "opted_out_subscription_types",
        path: "/contacts/{id}/subscriptions",
        paged: false,
        consent: Some("opt_out"),
    },
];

/// A contact's addressable lists that become plain arrays.
const CONTACT_RESHAPE: &[Reshape] = &[
    Reshape::Unwrap {
        field: "tags",
        inner: DATA,
    },
    Reshape::Unwrap {
        field: "companies",
        inner: DATA,
    },
    Reshape::Unwrap {
        field: "opted_in_subscription_types",
        inner: DATA,
    },
    Reshape::Unwrap {
        field: "opted_out_subscription_types",
        inner: DATA,
    },
];

const CONTACT: Parent = Parent {
    stream: "contacts",
    noun: "contact",
    id: "contact_id",
    time: "contact_updated_at",
    created: None,
    total: None,
};

const CONVERSATION: Parent = Parent {
    stream: "conversations",
    noun: "conversation",
    id: "conversation_id",
    time: "conversation_updated_at",
    created: Some("conversation_created_at"),
    total: Some("conversation_total_parts"),
};

const TICKET: Parent = Parent {
    stream: "tickets",
    noun: "ticket",
    id: "ticket_id",
    time: "ticket_updated_at",
    created: Some("ticket_created_at"),
    total: Some("ticket_total_parts"),
};

/// A conversation, as its handling events carry it.
const CONVERSATION_EVENTS: Parent = Parent {
    created: None,
    total: None,
    ..CONVERSATION
};

const CALL: Parent = Parent {
    stream: "calls",
    noun: "call",
    id: "call_id",
    time: "call_updated_at",
    created: None,
    total: None,
};

/// A child stream read with each changed parent, incremental on its parent's `updated_at`
/// column, keyed by `key`; not selected by default (it costs a request per parent).
const fn per_parent(
    name: &'static str,
    schema_file: SchemaFile,
    key: &'static [&'static str],
    parent: Parent,
    fetch: Fetch,
) -> Stream {
    Stream {
        key,
        replication: Replication::Incremental(parent.time),
        selected_by_default: false,
        described: None,
        ..child(name, schema_file, parent, fetch, "")
    }
}

/// What a child reads for each parent, by default: its list at one request, paged or not,
/// each record a row.
const fn fetch(path: &'static str, records: &'static [&'static str], paged: bool) -> Fetch {
    Fetch {
        path,
        records,
        paged,
        embedded: false,
        only_when: None,
        cap: None,
        rows: Rows::Each,
    }
}

/// A stream that only later versions of the API have.
const fn since(version: ApiVersion, stream: Stream) -> Stream {
    Stream {
        since: version,
        ..stream
    }
}

/// Its records described under another name, or not at the top of its rows.
const fn described(name: &'static str, within: Option<&'static str>) -> Described {
    Described {
        name,
        within,
        moved: None,
    }
}

/// A child stream, incremental with its parent, on `key`.
const fn child(
    name: &'static str,
    schema_file: SchemaFile,
    parent: Parent,
    fetch: Fetch,
    described: &'static str,
) -> Stream {
    Stream {
        parent: Some(parent),
        ..incremental(name, schema_file, Read::Child(fetch), described)
    }
}

/// Intercom's most parts of one parent: the newest 500.
const PARTS_CAP: Option<usize> = Some(500);

const ATTRIBUTE_KEY: &[&str] = &["_sdc_record_hash"];

/// An attribute stream: singer-io's key, the model named when Intercom leaves it out.
const fn attributes(
    name: &'static str,
    schema_file: SchemaFile,
    endpoint: Endpoint,
    reshape: &'static [Reshape],
) -> Stream {
    Stream {
        key: ATTRIBUTE_KEY,
        reshape,
        ..list(name, schema_file, endpoint, "data_attribute")
    }
}

/// Every stream of the tap, in the order of the catalog.
pub static ALL: &[Stream] = &[
    list("admins", schema!("admins"), at("/admins", &["admins"]), "admin"),
    list("teams", schema!("teams"), at("/teams", &["teams"]), "team"),
    list("tags", schema!("tags"), at("/tags", DATA), "tag"),
    incremental(
        "segments",
        schema!("segments"),
        Read::List(at("/segments?include_count=true", &["segments"])),
        "segment",
    ),
    // `type=company` is in no 2.x description of GET /segments.
    Stream {
        documented: false,
        ..incremental(
            "company_segments",
            schema!("company_segments"),
            Read::List(at("/segments?type=company&include_count=true", &["segments"])),
            "segment",
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
        ..incremental(
            "companies",
            schema!("companies"),
            Read::Scroll(at("/companies/scroll", DATA)),
            "company",
        )
    },
    Stream {
        reshape: CONTACT_RESHAPE,
        ..incremental("contacts", schema!("contacts"), contacts(None), "contact")
    },
    // A contact's notes, read with each changed contact that has any: a request per contact,
    // so only when chosen.
    Stream {
        replication: Replication::Incremental("contact_updated_at"),
        selected_by_default: false,
        ..child(
            "contact_notes",
            schema!("contact_notes"),
            CONTACT,
            Fetch {
                path: "/contacts/{id}/notes",
                records: DATA,
                paged: true,
                embedded: false,
                only_when: Some("notes"),
                cap: None,
                rows: Rows::Each,
            },
            "note",
        )
    },
    // Each changed contact's segments, as one row replaced on each read: membership changes
    // without the contact's updated_at moving (README: what an incremental run can miss).
    Stream {
        reshape: &[Reshape::IdsOf {
            from: "segments",
            to: "segment_ids",
        }],
        described: Some(described("segment", Some("segments[]"))),
        ..per_parent(
            "contact_segments",
            schema!("contact_segments"),
            &["contact_id"],
            CONTACT,
            Fetch {
                rows: Rows::List("segments"),
                ..fetch("/contacts/{id}/segments", DATA, false)
            },
        )
    },
    // The events of each changed contact: Intercom keeps 90 days of them.
    Stream {
        described: Some(described("data_event", None)),
        ..per_parent(
            "data_events",
            schema!("data_events"),
            &["contact_id", "event_name", "created_at"],
            CONTACT,
            fetch("/events?type=user&intercom_user_id={id}", &["events"], true),
        )
    },
    // Users and leads are contacts of one role, in the contacts schema.
    Stream {
        reshape: CONTACT_RESHAPE,
        selected_by_default: false,
        ..incremental("users", schema!("contacts"), contacts(Some("user")), "contact")
    },
    Stream {
        reshape: CONTACT_RESHAPE,
        selected_by_default: false,
        ..incremental("leads", schema!("contacts"), contacts(Some("lead")), "contact")
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
            Read::Search(Search {
                endpoint: at("/conversations/search", &["conversations"]),
                role: None,
                by_day: false,
                fills: &[],
                deleted: Some(Deleted {
                    since: ApiVersion::V2_16,
                    endpoint: Endpoint {
                        per_page: Some(60),
                        ..at("/conversations/deleted?order=desc", &["conversations"])
                    },
                }),
            }),
            "conversation_list_item",
        )
    },
    // Parts come only with GET /conversations/{id}; plain-text bodies, as singer-io asks.
    child(
        "conversation_parts",
        schema!("conversation_parts"),
        CONVERSATION,
        Fetch {
            path: "/conversations/{id}?display_as=plaintext",
            records: &["conversation_parts", "conversation_parts"],
            paged: false,
            embedded: false,
            only_when: None,
            cap: PARTS_CAP,
            rows: Rows::Each,
        },
        "conversation_part",
    ),
    // Pauses and resumes of each changed conversation's handling; an event has no id.
    Stream {
        reshape: &[Reshape::Lift {
            from: &["teammate", "id"],
            to: "teammate_id",
        }],
        since: ApiVersion::V2_15,
        described: Some(described("handling_event", None)),
        ..per_parent(
            "conversation_handling_events",
            schema!("conversation_handling_events"),
            &["conversation_id", "timestamp", "type", "teammate_id"],
            CONVERSATION_EVENTS,
            fetch("/conversations/{id}/handling_events", &["handling_events"], false),
        )
    },
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
        ..incremental(
            "tickets",
            schema!("tickets"),
            Read::Search(Search {
                endpoint: at("/tickets/search", &["tickets"]),
                role: None,
                by_day: false,
                fills: &[],
                deleted: None,
            }),
            "ticket",
        )
    },
    // The ticket search carries each ticket's parts; one cut short is read whole.
    child(
        "ticket_parts",
        schema!("ticket_parts"),
        TICKET,
        Fetch {
            path: "/tickets/{id}",
            records: &["ticket_parts", "ticket_parts"],
            paged: false,
            embedded: true,
            only_when: None,
            cap: PARTS_CAP,
            rows: Rows::Each,
        },
        "ticket_part",
    ),
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
        ..list(
            "ticket_types",
            schema!("ticket_types"),
            at("/ticket_types", DATA),
            "ticket_type",
        )
    },
    Stream {
        reshape: &[Reshape::Unwrap {
            field: "ticket_types",
            inner: &["data", "ticket_types"],
        }],
        ..list(
            "ticket_states",
            schema!("ticket_states"),
            at("/ticket_states", DATA),
            "ticket_state_detailed",
        )
    },
    list(
        "subscription_types",
        schema!("subscription_types"),
        at("/subscription_types", DATA),
        "subscription_type",
    ),
    attributes(
        "contact_attributes",
        schema!("contact_attributes"),
        at("/data_attributes?model=contact", DATA),
        &[Reshape::DefaultModel("contact"), Reshape::RecordHash],
    ),
    attributes(
        "company_attributes",
        schema!("company_attributes"),
        at("/data_attributes?model=company", DATA),
        &[Reshape::DefaultModel("company"), Reshape::RecordHash],
    ),
    // 2.16 answers model=conversation with 422 and lists conversation attributes on their own.
    Stream {
        described: Some(Described {
            name: "data_attribute",
            within: None,
            moved: Some((ApiVersion::V2_16, "conversation_attribute")),
        }),
        ..attributes(
            "conversation_attributes",
            schema!("conversation_attributes"),
            Endpoint {
                moved: Some(Moved {
                    since: ApiVersion::V2_16,
                    path: "/conversations/attributes",
                    records: DATA,
                }),
                ..at("/data_attributes?model=conversation", DATA)
            },
            &[
                Reshape::DefaultModel("conversation"),
                Reshape::OptionObjects,
                Reshape::RecordHash,
            ],
        )
    },
    Stream {
        reshape: &[Reshape::Unwrap {
            field: "tags",
            inner: &["tags"],
        }],
        ..incremental(
            "articles",
            schema!("articles"),
            Read::NewestFirst(paged("/articles", DATA)),
            "article_list_item",
        )
    },
    list(
        "help_centers",
        schema!("help_centers"),
        paged("/help_center/help_centers", DATA),
        "help_center",
    ),
    list(
        "help_center_collections",
        schema!("help_center_collections"),
        paged("/help_center/collections", DATA),
        "collection",
    ),
    Stream {
        replication: Replication::Incremental("created_at"),
        ..full(
            "activity_logs",
            schema!("activity_logs"),
            Read::Windows(at("/admins/activity_logs", &["activity_logs"])),
            "activity_log",
        )
    },
    // Every call, read in full each run (no filter), emitting those that changed.
    incremental(
        "calls",
        schema!("calls"),
        Read::List(Endpoint {
            per_page: Some(25),
            ..at("/calls", DATA)
        }),
        "call",
    ),
    // The transcript of each changed call that has one: a text file, kept whole.
    per_parent(
        "call_transcripts",
        schema!("call_transcripts"),
        &["call_id"],
        CALL,
        Fetch {
            only_when: Some("transcription_url"),
            rows: Rows::Text("transcript"),
            ..fetch("/calls/{id}/transcript", &[], false)
        },
    ),
    list(
        "news_items",
        schema!("news_items"),
        at("/news/news_items", DATA),
        "news_item",
    ),
    list(
        "newsfeeds",
        schema!("newsfeeds"),
        at("/news/newsfeeds", DATA),
        "newsfeed",
    ),
    // Views, conversions and reactions change without the article's updated_at moving: a
    // history, one snapshot of every article per sync.
    Stream {
        key: &["snapshot_at", "article_id"],
        ..full(
            "article_statistics",
            schema!("article_statistics"),
            Read::Details {
                list: paged("/articles", DATA),
                path: "/articles/{id}",
                field: "statistics",
                id: "article_id",
            },
            "article_statistics",
        )
    },
    list(
        "away_status_reasons",
        schema!("away_status_reasons"),
        at("/away_status_reasons", DATA),
        "away_status_reason",
    ),
    list(
        "internal_articles",
        schema!("internal_articles"),
        paged("/internal_articles", DATA),
        "internal_article_list_item",
    ),
    since(
        ApiVersion::V2_15,
        list("brands", schema!("brands"), at("/brands", DATA), "brand"),
    ),
    since(
        ApiVersion::V2_15,
        list("emails", schema!("emails"), at("/emails", DATA), "email_setting"),
    ),
    since(
        ApiVersion::V2_16,
        list("macros", schema!("macros"), paged("/macros", DATA), "macro"),
    ),
    since(
        ApiVersion::V2_16,
        list(
            "office_hours_schedules",
            schema!("office_hours_schedules"),
            at("/office_hours_schedules", DATA),
            "office_hours_schedule",
        ),
    ),
    since(
        ApiVersion::V2_16,
        list(
            "content_snippets",
            schema!("content_snippets"),
            Endpoint {
                per_page: Some(50),
                ..at("/content_snippets", DATA)
            },
            "content_snippet",
        ),
    ),
    report("counts", schema!("counts"), &["snapshot_at"], "/counts", Report::Totals),
    report(
        "conversation_counts",
        schema!("conversation_counts"),
        &["snapshot_at"],
        "/counts?type=conversation",
        Report::Conversations,
    ),
    report(
        "admin_conversation_counts",
        schema!("admin_conversation_counts"),
        &["snapshot_at", "admin_id"],
        "/counts?type=conversation&count=admin",
        Report::AdminConversations,
    ),
    report(
        "user_segment_counts",
        schema!("user_segment_counts"),
        &["snapshot_at", "segment_name"],
        "/counts?type=user&count=segment",
        Report::UserSegments,
    ),
    report(
        "user_tag_counts",
        schema!("user_tag_counts"),
        &["snapshot_at", "tag_name"],
        "/counts?type=user&count=tag",
        Report::UserTags,
    ),
    // The company reports are paged; Intercom's example pages by 5.
    report(
        "company_segment_counts",
        schema!("company_segment_counts"),
        &["snapshot_at", "segment_name"],
        "/counts?type=company&count=segment&per_page=150",
        Report::CompanySegments,
    ),
    report(
        "company_tag_counts",
        schema!("company_tag_counts"),
        &["snapshot_at", "tag_name"],
        "/counts?type=company&count=tag&per_page=150",
        Report::CompanyTags,
    ),
    report(
        "company_user_counts",
        schema!("company_user_counts"),
        &["snapshot_at", "remote_company_id"],
        "/counts?type=company&count=user&per_page=150",
        Report::CompanyUsers,
    ),
    // The asynchronous exports, not selected by default: each starts jobs in Intercom.
    reporting(
        "reporting_admin_status_change",
        schema!("reporting_admin_status_change"),
        "admin_status_change",
        "status_started_at",
        Key::Hash(&["teammate_raw_id", "status_started_at"]),
    ),
    reporting(
        "reporting_call",
        schema!("reporting_call"),
        "call",
        "call_started_at",
        Key::Natural(&["call_id"]),
    ),
    reporting(
        "reporting_call_team_stats",
        schema!("reporting_call_team_stats"),
        "call_team_stats",
        "call_started_at",
        Key::Hash(&["call_id", "call_team_raw_id"]),
    ),
    reporting(
        "reporting_call_teammate_stats",
        schema!("reporting_call_teammate_stats"),
        "call_teammate_stats",
        "call_started_at",
        Key::Hash(&["call_id", "call_teammate_raw_id"]),
    ),
    reporting(
        "reporting_consolidated_conversation_part",
        schema!("reporting_consolidated_conversation_part"),
        "consolidated_conversation_part",
        "part_created_at",
        Key::Natural(&["conversation_part_id"]),
    ),
    reporting(
        "reporting_conversation",
        schema!("reporting_conversation"),
        "conversation",
        "conversation_started_at",
        Key::Natural(&["conversation_id"]),
    ),
    reporting(
        "reporting_conversation_rating_sent",
        schema!("reporting_conversation_rating_sent"),
        "conversation_rating_sent",
        "rating_requested_at",
        Key::Hash(&["conversation_id", "rating_requested_at"]),
    ),
    reporting(
        "reporting_conversation_sla_status_log",
        schema!("reporting_conversation_sla_status_log"),
        "conversation_sla_status_log",
        "sla_status_updated_at",
        Key::Hash(&[
            "conversation_id",
            "sla_name",
            "sla_metric_type",
            "sla_status_updated_at",
        ]),
    ),
    reporting(
        "reporting_conversation_state",
        schema!("reporting_conversation_state"),
        "conversation_state",
        "state_started_at",
        Key::Hash(&["conversation_id", "state_started_at"]),
    ),
    reporting(
        "reporting_copilot_prompt_response_pair",
        schema!("reporting_copilot_prompt_response_pair"),
        "copilot_prompt_response_pair",
        "prompt_sent_at",
        Key::Hash(&["conversation_id", "teammate_raw_id", "prompt_sent_at"]),
    ),
    reporting(
        "reporting_teammate_handling_conversation",
        schema!("reporting_teammate_handling_conversation"),
        "teammate_handling_conversation",
        "handling_started_at",
        Key::Hash(&["conversation_id", "teammate_raw_id", "handling_started_at"]),
    ),
    reporting(
        "reporting_ticket_time_in_state",
        schema!("reporting_ticket_time_in_state"),
        "ticket_time_in_state",
        "state_started_at",
        Key::Hash(&["ticket_id", "ticket_state_raw_id", "state_started_at"]),
    ),
    reporting(
        "reporting_tickets",
        schema!("reporting_tickets"),
        "tickets",
        "ticket_created_at",
        Key::Natural(&["ticket_id"]),
    ),
    message(
        Kind {
            stream: "message_receipts",
            files: &["receipts", "receipt"],
            event: None,
            first: None,
            identity: &[],
        },
        schema!("message_receipts"),
    ),
    message(
        Kind {
            stream: "message_opens",
            files: &["opens", "open"],
            event: Some("opened_at"),
            first: Some("first_open"),
            identity: &["receipt_id", "opened_at"],
        },
        schema!("message_opens"),
    ),
    message(
        Kind {
            stream: "message_clicks",
            files: &["clicks", "click"],
            event: Some("clicked_at"),
            first: Some("first_click"),
            identity: &["receipt_id", "clicked_at"],
        },
        schema!("message_clicks"),
    ),
    message(
        Kind {
            stream: "message_replies",
            files: &["replies", "reply"],
            event: Some("replied_at"),
            first: Some("first_reply"),
            identity: &["receipt_id", "replied_at"],
        },
        schema!("message_replies"),
    ),
    message(
        Kind {
            stream: "message_completions",
            files: &["completions", "completion"],
            event: Some("completed_at"),
            first: Some("first_completion"),
            identity: &["receipt_id", "completed_at"],
        },
        schema!("message_completions"),
    ),
    message(
        Kind {
            stream: "message_dismissals",
            files: &["dismissals", "dismissal"],
            event: Some("dismissed_at"),
            first: Some("first_dismisall"),
            identity: &["receipt_id", "dismissed_at"],
        },
        schema!("message_dismissals"),
    ),
    message(
        Kind {
            stream: "message_unsubscribes",
            files: &["unsubscribes", "unsubscribe"],
            event: Some("unsubscribed_at"),
            first: Some("first_unsubscribe"),
            identity: &["receipt_id", "unsubscribed_at"],
        },
        schema!("message_unsubscribes"),
    ),
    message(
        Kind {
            stream: "message_bounces",
            files: &["hard_bounces", "bounces", "hard_bounce", "bounce"],
            event: Some("bounced_at"),
            first: Some("first_hard_bounce"),
            identity: &["receipt_id", "bounced_at"],
        },
        schema!("message_bounces"),
    ),
    message(
        Kind {
            stream: "message_survey_answers",
            files: &["survey_answers", "survey_answer", "answers"],
            event: Some("answered_at"),
            first: None,
            identity: &["receipt_id", "answered_at", "question"],
        },
        schema!("message_survey_answers"),
    ),
];

pub fn find(name: &str) -> Option<&'static Stream> {
    ALL.iter().find(|s| s.name == name)
}

/// The README's table of streams, from the rows: each stream's source, key and replication.
pub fn markdown_table() -> String {
    let mut out = String::from("| stream | source | key | replication |\n|---|---|---|---|\n");
    for stream in ALL {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            stream.name,
            source(stream),
            stream.key.join(", "),
            replication(stream)
        );
    }
    out
}

/// Where a stream's records come from, as the README says it.
fn source(stream: &Stream) -> String {
    let get = |endpoint: &Endpoint| {
        let mut text = format!("`GET {}`", endpoint.path);
        if let Some(moved) = endpoint.moved.filter(|m| !m.path.starts_with(endpoint.path)) {
            let _ = write!(text, " (from {}: `GET {}`)", moved.since, moved.path);
        }
        text
    };
    match &stream.read {
        Read::List(endpoint) | Read::NewestFirst(endpoint) | Read::Windows(endpoint) | Read::Report(endpoint, _) => {
            get(endpoint)
        }
        Read::Details { list, path, field, .. } => format!("`{field}` of `GET {path}` for each of {}", get(list)),
        Read::Scroll(endpoint) => format!("{}, the scroll", get(endpoint)),
        Read::Search(search) => {
            let mut text = format!("`POST {}`", search.endpoint.path);
            if let Some(role) = search.role {
                let _ = write!(text, ", `role = {role}`");
            }
            text
        }
        Read::Export(exports::Export::Reporting { dataset, .. }) => {
            format!("the reporting data export, dataset `{dataset}`")
        }
        Read::Export(exports::Export::Message(kind)) => {
            format!("the message data export, its {}", kind.files[0].replace('_', " "))
        }
        Read::Child(fetch) => {
            let noun = stream.parent.map_or("parent", |p| p.noun);
            let path = fetch.path;
            if fetch.embedded {
                format!("the list each changed {noun} carries (`GET {path}` when cut short)")
            } else {
                format!("`GET {path}` of each changed {noun}")
            }
        }
    }
}

/// How a stream is replicated, as the README says it.
fn replication(stream: &Stream) -> String {
    let mut text = match (stream.replication, &stream.read) {
        (Replication::FullTable, _) if stream.is_history() => "full table, a history of snapshots".to_owned(),
        (Replication::FullTable, _) => "full table".to_owned(),
        (Replication::Incremental(key), Read::List(_) | Read::Scroll(_)) => {
            format!("incremental, `{key}` (reads all, emits what changed)")
        }
        (Replication::Incremental(key), Read::NewestFirst(_)) => {
            format!("incremental, `{key}` (newest first, stops at the bookmark)")
        }
        (Replication::Incremental(key), Read::Export(_)) => format!("incremental, `{key}`, in windows"),
        (Replication::Incremental(key), Read::Child(_)) => {
            let noun = stream.parent.map_or("parent", |p| p.noun);
            format!("incremental, with its {noun} (`{key}`)")
        }
        (Replication::Incremental(key), _) => format!("incremental, `{key}`"),
    };
    if stream.since > ApiVersion::V2_14 {
        let _ = write!(text, "; API {} and later", stream.since);
    }
    if !stream.selected_by_default {
        text.push_str("; not selected by default");
    }
    text
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
            if let Some(parent) = stream.parent {
                assert!(
                    find(parent.stream).is_some(),
                    "{}: no parent {}",
                    stream.name,
                    parent.stream
                );
                for column in [Some(parent.id), Some(parent.time), parent.created, parent.total]
                    .into_iter()
                    .flatten()
                {
                    assert!(
                        props.contains_key(column),
                        "{}: {column} is not in the schema",
                        stream.name
                    );
                }
                assert!(
                    matches!(stream.read, Read::Child(_) | Read::Export(_)),
                    "{}: a child reads with its parent",
                    stream.name
                );
            } else {
                assert!(
                    !matches!(stream.read, Read::Child(_)),
                    "{}: a child without parent",
                    stream.name
                );
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

    /// The README's stream table is the table's. `TAP_INTERCOM_REGENERATE=1` rewrites it.
    #[test]
    fn the_readme_stream_table_is_current() {
        crate::about::readme_section_is("streams-table", &markdown_table());
    }

    #[test]
    fn endpoints_move_with_the_version() {
        let attributes = find("conversation_attributes").unwrap();
        let Read::List(endpoint) = attributes.read else {
            panic!("a list")
        };
        assert_eq!(endpoint.at(ApiVersion::V2_15).0, "/data_attributes?model=conversation");
        assert_eq!(endpoint.at(ApiVersion::V2_16).0, "/conversations/attributes");
        assert_eq!(
            attributes.described.unwrap().at(ApiVersion::V2_16),
            "conversation_attribute"
        );
        let Read::Search(search) = find("contacts").unwrap().read else {
            panic!("a search")
        };
        assert_eq!(search.endpoint.first(ApiVersion::V2_14), "/contacts/search");
        assert_eq!(
            search.endpoint.first(ApiVersion::V2_16),
            "/contacts/search?include_merge_history=true"
        );
        let Read::NewestFirst(articles) = find("articles").unwrap().read else {
            panic!("newest first")
        };
        assert_eq!(articles.first(ApiVersion::V2_14), "/articles?per_page=150");
        let children: Vec<&str> = find("contacts").unwrap().children().map(|s| s.name).collect();
        assert_eq!(children, ["contact_notes", "contact_segments", "data_events"]);
    }
}
