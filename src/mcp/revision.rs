//! What each MCP protocol revision may carry: a session that negotiated
//! an older revision gets no field that revision does not define (a
//! strict client may refuse, or misread, a field it does not know).
//!
//! Fields relay sends, by the revision that introduced them (the MCP
//! specification's changelogs):
//! - 2025-03-26: tool `annotations`.
//! - 2025-06-18: tool `outputSchema` and `title`, `CallToolResult.structuredContent`,
//!   `Implementation.title`.
//! - 2025-11-25: `Implementation.description`, `icons` and `websiteUrl`.
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

/// Removes from an `initialize` result what its negotiated revision lacks.
pub fn initialize_result(mut info: InitializeResult) -> InitializeResult {
    let v = info.protocol_version.clone();
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
}
