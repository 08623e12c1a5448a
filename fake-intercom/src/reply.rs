//! The shapes every answer of the fake shares: Intercom's error envelope, a JSON 200, and the
//! host that page links name.

use serde_json::{Value, json};

use crate::server::Response;

/// Where page links point: Intercom's canonical host, as the real API answers, so that the tap
/// must not follow links to another host blindly.
pub const LINK_BASE: &str = "https://api.intercom.io";

/// Intercom's error envelope.
pub fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"type": "error.list", "request_id": format!("fake-{status}-{code}"),
                "errors": [{"code": code, "message": message}]}),
    )
}

pub fn not_found() -> Response {
    error(404, "not_found", "Resource Not Found")
}

pub fn ok(body: Value) -> Response {
    Response::json(200, &body)
}
