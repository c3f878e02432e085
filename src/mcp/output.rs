//! Output schemas (`Tool.outputSchema`, MCP 2025-06-18 §Tools "Output
//! Schema"): the shape of each tool's `structuredContent`.
//!
//! A schema admits both the tool's result and relay's error result
//! (`{"error_code", "error"}` with `isError: true`), because clients such
//! as the TypeScript SDK validate `structuredContent` against the schema
//! whatever `isError` says. Each success shape names the top-level fields
//! the tool always returns, with their JSON types; objects stay open
//! (`additionalProperties` allowed) so adding a field is not a break.

use serde_json::{Map, Value, json};

use crate::error::ErrorCode;

/// JSON types used below, as JSON Schema `type` values.
const INT: &str = "integer";
const STR: &str = "string";
const BOOL: &str = "boolean";
const OBJ: &str = "object";
const ARR: &str = "array";

/// `(field, type)` pairs a success result always has; a type may be a
/// list such as `["object", "null"]`, written `"object|null"`.
type Shape = &'static [(&'static str, &'static str)];

/// The success shape of `tool`, or `None` for a name that is no tool.
fn success(tool: &str) -> Option<Shape> {
    Some(match tool {
        "register_agent" => &[
            ("agent", OBJ),
            ("token", "string|null"),
            ("created", BOOL),
            ("bound", BOOL),
        ],
        "unregister_agent" => &[("unregistered", STR)],
        "discover_agents" => &[("count", INT), ("agents", ARR)],
        "set_status" => &[("agent", OBJ)],
        "health_check" => &[
            ("status", STR),
            ("relay_version", STR),
            ("schema_version", INT),
            ("transport", STR),
            ("agent", "object|null"),
            ("unread_messages", "integer|null"),
        ],
        "send_message" => &[
            ("message_id", INT),
            ("thread_id", INT),
            ("to", STR),
            ("recipient_registered", BOOL),
            ("created_at", STR),
            ("ack_required", BOOL),
            ("ack_deadline", "string|null"),
        ],
        "broadcast" => &[
            ("message_id", INT),
            ("recipient_count", INT),
            ("recipients", ARR),
            ("ack_required", BOOL),
            ("ack_deadline", "string|null"),
        ],
        "get_messages" => &[("box", STR), ("messages", ARR), ("unread_remaining", INT)],
        "post_task" => &[("task", OBJ), ("deduped", BOOL)],
        "update_task" => &[("task", OBJ), ("cancelled", BOOL)],
        "get_task" => &[("task", OBJ), ("events", ARR)],
        "get_tasks" => &[("count", INT), ("tasks", ARR)],
        "spawn_agent" => &[
            ("agent", OBJ),
            ("mode", STR),
            ("launched", BOOL),
            ("launcher", "array|null"),
            ("argv", ARR),
            ("command_line", STR),
        ],
        "create_channel" => &[("channel", OBJ)],
        "join_channel" => &[("channel", STR), ("joined", BOOL), ("already_member", BOOL)],
        "leave_channel" => &[("channel", STR), ("left", BOOL)],
        "post_to_channel" => &[("channel_message_id", INT), ("channel", STR), ("created_at", STR)],
        "get_channel_messages" => &[("channel", STR), ("messages", ARR), ("unread_remaining", INT)],
        "list_channels" => &[("count", INT), ("channels", ARR)],
        "register_webhook" => &[("webhook", OBJ)],
        "list_webhooks" => &[("count", INT), ("webhooks", ARR)],
        "delete_webhook" => &[("deleted", INT)],
        "rotate_token" => &[
            ("agent", STR),
            ("token", STR),
            ("auth_state", STR),
            ("grace_until", "string|null"),
        ],
        "revoke_token" => &[
            ("agent", STR),
            ("auth_state", STR),
            ("recovery_token", "string|null"),
            ("recovery_expires_at", "string|null"),
        ],
        "acknowledge_message" => &[
            ("message_id", INT),
            ("thread_id", INT),
            ("sender", STR),
            ("acknowledged_at", STR),
            ("note", "string|null"),
        ],
        "get_outstanding" => &[("count", INT), ("total", INT), ("overdue", INT), ("messages", ARR)],
        "search_messages" => &[("count", INT), ("results", ARR), ("capped", BOOL), ("partial", BOOL)],
        "reserve_paths" => &[
            ("project", STR),
            ("granted", ARR),
            ("conflicts", ARR),
            ("deduped", BOOL),
        ],
        "renew_reservations" => &[
            ("project", STR),
            ("count", INT),
            ("reservations", ARR),
            ("not_found", ARR),
        ],
        "release_paths" => &[("project", STR), ("count", INT), ("released", ARR)],
        "list_reservations" => &[("count", INT), ("reservations", ARR)],
        _ => return None,
    })
}

fn object(shape: Shape) -> Value {
    let mut properties = Map::new();
    for (field, ty) in shape {
        let ty: Value = match ty.split_once('|') {
            Some((a, b)) => json!([a, b]),
            None => json!(ty),
        };
        properties.insert((*field).to_owned(), json!({ "type": ty }));
    }
    let required: Vec<&str> = shape.iter().map(|(f, _)| *f).collect();
    json!({ "type": "object", "properties": properties, "required": required })
}

/// The error result every tool may return (SPEC §3, §8).
pub fn error_schema() -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "properties": {
            "error_code": { "type": "string", "enum": codes },
            "error": { "type": "string" }
        },
        "required": ["error_code", "error"]
    })
}

/// The `outputSchema` of `tool`: its result or an error result. `None`
/// for a name that is no tool.
pub fn schema(tool: &str) -> Option<Map<String, Value>> {
    let success = object(success(tool)?);
    match json!({ "type": "object", "anyOf": [success, error_schema()] }) {
        Value::Object(map) => Some(map),
        _ => unreachable!("a JSON object literal"),
    }
}
