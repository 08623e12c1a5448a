//! The streams of Intercom's asynchronous exports (intercom-api.md §6), as data: one per
//! reporting dataset, and one per kind of interaction of the message data export. Their
//! columns are the schema files' (`schemas/reporting_*.json`, `schemas/message_*.json`): each
//! named by the attribute's id, its label in the description. The runner is
//! `crate::runners::exports`; how a download becomes rows is `crate::exports`.

use super::{Parent, Read, Replication, SchemaFile, Stream};
use crate::version::ApiVersion;

/// Which export a stream reads.
#[derive(Debug, Clone, Copy)]
pub enum Export {
    /// A reporting dataset, by its id (`conversation`), with the columns of its key.
    Reporting { dataset: &'static str, key: Key },
    /// One kind of interaction of the message data export.
    Message(Kind),
}

/// How a row of an export is keyed.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    /// The dataset's own id column (`conversation_id`).
    Natural(&'static [&'static str]),
    /// No id: `_sdc_record_hash`, the SHA-256 of these columns' values as Intercom sent them,
    /// so that the same row read again (a reload, a window's lookback) is the same row.
    Hash(&'static [&'static str]),
}

/// The column of a key made of a row's identifying columns.
pub const HASH: &str = "_sdc_record_hash";

/// A kind of interaction of the message data export.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub stream: &'static str,
    /// The names its file has in the export's ZIP (`opens_20240101_000000.csv`), without the
    /// time stamp Intercom adds.
    pub files: &'static [&'static str],
    /// The column of the time of the interaction (`opened_at`); none for the receipts.
    pub event: Option<&'static str>,
    /// The column of the export's one-CSV form (one row per receipt) that holds the first time
    /// of this interaction (`first_open`): each receipt with one is a row of this stream.
    pub first: Option<&'static str>,
    /// The columns hashed into the key; none for the receipts, keyed by `receipt_id`.
    pub identity: &'static [&'static str],
}

/// The receipts: every other kind of interaction refers to one.
pub const RECEIPTS: &str = "message_receipts";

/// A reporting dataset's stream, incremental on the dataset's time attribute.
pub(super) const fn reporting(
    name: &'static str,
    schema_file: SchemaFile,
    dataset: &'static str,
    time: &'static str,
    key: Key,
) -> Stream {
    Stream {
        name,
        schema_file,
        key: match key {
            Key::Natural(columns) => columns,
            Key::Hash(_) => &[HASH],
        },
        replication: Replication::Incremental(time),
        selected_by_default: false,
        read: Read::Export(Export::Reporting { dataset, key }),
        reshape: &[],
        documented: true,
        since: ApiVersion::V2_14,
        described: None,
        parent: None,
    }
}

const fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A message data stream, incremental on `received_at` (the export is windowed by the time a
/// message was sent). Every kind but the receipts is a child of the receipts: one export job
/// per window brings all kinds, and the receipts' read writes them all.
pub(super) const fn message(kind: Kind, schema_file: SchemaFile) -> Stream {
    let receipts = eq(kind.stream, RECEIPTS);
    Stream {
        name: kind.stream,
        schema_file,
        key: if receipts { &["receipt_id"] } else { &[HASH] },
        replication: Replication::Incremental("received_at"),
        selected_by_default: false,
        read: Read::Export(Export::Message(kind)),
        reshape: &[],
        documented: true,
        since: ApiVersion::V2_14,
        described: None,
        parent: if receipts {
            None
        } else {
            Some(Parent {
                stream: RECEIPTS,
                noun: "receipt",
                id: "receipt_id",
                time: "received_at",
                created: None,
                total: None,
            })
        },
    }
}
