//! The Intercom API versions the tap knows, and what differs between them for its streams.
//!
//! The schemas, and so the column types, are 2.14's whatever the version: a value that a newer
//! version sends in another type (2.16's contact `owner_id` as a string, its ticket assignee
//! ids as integers) is converted to 2.14's type when it is shaped, or is an error naming the
//! field when it cannot be. Fields that only newer versions send are nullable columns, null on
//! older versions. Which version a stream's endpoint comes with, and where a version moved it,
//! is in the stream's row (`crate::streams`); this module holds which versions are known.

use std::fmt;

/// A version of Intercom's REST API whose shapes the tap knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiVersion {
    V2_14,
    V2_15,
    V2_16,
}

impl ApiVersion {
    /// Every known version, oldest first.
    pub const KNOWN: &'static [ApiVersion] = &[ApiVersion::V2_14, ApiVersion::V2_15, ApiVersion::V2_16];

    /// The version the tap uses unless told otherwise.
    pub const DEFAULT: ApiVersion = ApiVersion::V2_14;

    /// The version named by `text` (as the `Intercom-Version` header writes it), if known.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        Self::KNOWN.iter().copied().find(|v| v.as_str() == text)
    }

    /// As the `Intercom-Version` header writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2_14 => "2.14",
            ApiVersion::V2_15 => "2.15",
            ApiVersion::V2_16 => "2.16",
        }
    }

    /// The known versions, for messages: `2.14, 2.15, 2.16`.
    pub fn known_list() -> String {
        Self::KNOWN.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_versions_parse_and_others_do_not() {
        for v in ApiVersion::KNOWN {
            assert_eq!(ApiVersion::parse(v.as_str()), Some(*v));
        }
        for text in ["2.13", "2.99", "Unstable", "Preview", "2.1", "", "2.14\n", " 2.14"] {
            assert_eq!(ApiVersion::parse(text), None, "{text}");
        }
        assert_eq!(ApiVersion::known_list(), "2.14, 2.15, 2.16");
    }
}
