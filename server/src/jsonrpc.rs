//! JSON-RPC error responses for messages the HTTP and SSE layers reject themselves before they
//! reach the MCP service (too large, not JSON, not a JSON-RPC request). Pure.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A JSON-RPC error response that never reached the MCP service.
pub fn jsonrpc_error(status: StatusCode, id: &Value, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
        ),
    )
        .into_response()
}
