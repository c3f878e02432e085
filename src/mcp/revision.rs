//! What each MCP protocol revision may carry: a session that negotiated
//! an older revision gets no field that revision does not define (a
//! strict client may refuse, or misread, a field it does not know).
//!
//! Fields relay sends, by the revision that introduced them (the MCP
//! specification's changelogs):
//! - 2025-03-26: tool `annotations`.
//! - 2025-06-18: tool `outputSchema` and `title`, `CallToolResult.structuredContent`,
//!   `Implementation.title`.
//! - 2025-11-25: `Implementation.description`, `icons` and `websiteUrl`;
//!   the experimental Tasks (server capability `tasks`, tool
//!   `execution.taskSupport`, `tasks/get`, `tasks/result`, `tasks/list`,
//!   `tasks/cancel`, `notifications/tasks/status`).
//! - 2026-07-28: capability `extensions`, among them the Tasks extension
//!   `io.modelcontextprotocol/tasks` (SEP-2663), which replaces the
//!   2025-11-25 Tasks and is not wire-compatible with them.
//!
//! Older 2025 clients negotiate down to these revisions in `initialize`;
//! a 2026-07-28 request names its revision in `_meta` on every request.

use rmcp::model::{CallToolResult, InitializeResult, ProtocolVersion, Tool};

/// Whether `v` defines tool annotations (2025-03-26).
pub fn has_annotations(v: &ProtocolVersion) -> bool {
    *v >= ProtocolVersion::V_2025_03_26
}

/// Whether `v` defines structured tool output and titles (2025-06-18).
pub fn has_structured_output(v: &ProtocolVersion) -> bool {
    *v >= ProtocolVersion::V_2025_06_18
}

/// Whether `v` defines `Implementation.description` and icons (2025-11-25).
pub fn has_implementation_details(v: &ProtocolVersion) -> bool {
    *v >= ProtocolVersion::V_2025_11_25
}

/// The MCP Tasks a revision speaks ([`super::protocol_tasks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tasks {
    /// No Tasks (before 2025-11-25): `tasks/*` are unknown methods.
    None,
    /// The experimental Tasks of 2025-11-25: the client asks with
    /// `params.task` on `tools/call`.
    Legacy,
    /// The 2026-07-28 extension `io.modelcontextprotocol/tasks`: the
    /// client declares the extension, the server decides per request.
    Extension,
}

/// Which Tasks `v` speaks (SEP-2663 "Backward Compatibility": the 2025-11-25
/// form only under 2025-11-25, the extension from 2026-07-28 on).
pub fn tasks(v: &ProtocolVersion) -> Tasks {
    if *v >= ProtocolVersion::V_2026_07_28 {
        Tasks::Extension
    } else if *v == ProtocolVersion::V_2025_11_25 {
        Tasks::Legacy
    } else {
        Tasks::None
    }
}

/// Whether `v` defines capability `extensions` (2026-07-28).
pub fn has_extensions(v: &ProtocolVersion) -> bool {
    *v >= ProtocolVersion::V_2026_07_28
}

/// Removes from an `initialize` result what its negotiated revision lacks.
/// The 2025-11-25 `tasks` capability, which rmcp's typed model cannot
/// carry, is added where the result is written
/// ([`super::protocol_tasks::advertise`]).
pub fn initialize_result(mut info: InitializeResult) -> InitializeResult {
    let v = info.protocol_version.clone();
    if !has_extensions(&v) {
        info.capabilities.extensions = None;
    }
    if !has_structured_output(&v) {
        info.server_info.title = None;
    }
    if !has_implementation_details(&v) {
        info.server_info.description = None;
        info.server_info.icons = None;
        info.server_info.website_url = None;
    }
    info
}

/// A tool definition as revision `v` knows it.
pub fn tool(mut tool: Tool, v: &ProtocolVersion) -> Tool {
    if !has_annotations(v) {
        tool.annotations = None;
    }
    if !has_structured_output(v) {
        tool.output_schema = None;
        tool.title = None;
    }
    if !has_implementation_details(v) {
        tool.icons = None;
    }
    tool
}

/// A tool result as revision `v` knows it: before 2025-06-18 the JSON
/// travels only as the text block that every result also carries.
pub fn call_result(mut result: CallToolResult, v: &ProtocolVersion) -> CallToolResult {
    if !has_structured_output(v) {
        result.structured_content = None;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_compare_by_date() {
        assert!(has_annotations(&ProtocolVersion::V_2025_03_26));
        assert!(!has_annotations(&ProtocolVersion::V_2024_11_05));
        assert!(!has_structured_output(&ProtocolVersion::V_2025_03_26));
        assert!(has_structured_output(&ProtocolVersion::V_2025_11_25));
        assert!(!has_implementation_details(&ProtocolVersion::V_2025_06_18));
        assert!(has_implementation_details(&ProtocolVersion::V_2026_07_28));
    }

    #[test]
    fn each_revision_speaks_its_own_tasks() {
        assert_eq!(tasks(&ProtocolVersion::V_2025_06_18), Tasks::None);
        assert_eq!(tasks(&ProtocolVersion::V_2025_03_26), Tasks::None);
        assert_eq!(tasks(&ProtocolVersion::V_2025_11_25), Tasks::Legacy);
        assert_eq!(tasks(&ProtocolVersion::V_2026_07_28), Tasks::Extension);
        assert!(!has_extensions(&ProtocolVersion::V_2025_11_25));
    }
}
