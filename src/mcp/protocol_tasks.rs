//! MCP Tasks over relay tasks (SPEC §9): a client that speaks the
//! protocol's Tasks follows a relay task with `tasks/*` instead of
//! polling relay's tools. relay's own task tools stay the system of
//! record: every protocol view here is derived from the store's task at
//! read time, nothing is stored for it, and every change goes through the
//! store's task rules (`post_task`, the `cancel` action).
//!
//! Two incompatible forms, chosen by the revision a request speaks
//! ([`revision::tasks`]):
//! - **2025-11-25** (experimental in that specification, `basic/utilities/tasks`):
//!   server capability `tasks: {list, cancel, requests: {tools: {call}}}`;
//!   `post_task` is the one tool with `execution.taskSupport: "optional"`
//!   in `tools/list`; a `tools/call` of it with `params.task: {ttl?}` is
//!   answered with `CreateTaskResult {task}`; then `tasks/get`,
//!   `tasks/result` (blocks until terminal), `tasks/list` (cursor pages of
//!   [`TASK_LIST_PAGE`]), `tasks/cancel` and `notifications/tasks/status`.
//!   A task-augmented call of any other tool is `-32601`, as the
//!   specification asks for tools whose `taskSupport` is absent.
//! - **2026-07-28**, the extension `io.modelcontextprotocol/tasks`
//!   (SEP-2663): advertised in `capabilities.extensions`; the server
//!   decides per request. relay answers `post_task` with a task
//!   (`resultType: "task"`) when the request declares the extension and
//!   asks to wait (`wait_seconds` > 0): instead of holding the request
//!   open, the client follows the task. `tasks/get` (a `DetailedTask`,
//!   with the final tool result inlined), `tasks/update` (an empty ack:
//!   relay never asks the client for input, so no response is
//!   outstanding) and `tasks/cancel` (an ack, idempotent on finished
//!   tasks); `notifications/tasks` on a `subscriptions/listen` stream for
//!   the `notifications.taskIds` it names.
//!
//! Task ids: a protocol `taskId` is the relay task id in decimal (`"42"`
//! is relay task 42, the `task_id` of `get_task`), so a model can use
//! either surface on the same task. Any task the caller posted can be
//! followed this way, however it was posted.
//!
//! Who may follow: only the task's requester (the protocol's requestor),
//! the agent the request is bound to. An unknown id, a malformed one, and
//! another agent's task all get the same `-32602` "Task not found", so
//! nothing says whether a task exists. SEP-2663 also asks for ids nobody
//! can guess; relay's ids are sequential (they are relay's task ids), and
//! every `tasks/*` call is bound to the authenticated agent instead, which
//! the 2025-11-25 text allows ("context-binding").
//!
//! States (relay → protocol):
//!
//! | relay state | 2025-11-25 | 2026-07-28 | final tool result |
//! |---|---|---|---|
//! | `queued`, `posted`, `accepted` | `working` | `working` | — |
//! | `needs_recovery` | `input_required` | `input_required` (no `inputRequests`) | — |
//! | `completed` | `completed` | `completed` | `isError: false` |
//! | `failed`, `rejected`, `expired` | `failed` | `completed` | `isError: true` |
//! | `cancelled` | `cancelled` | `cancelled` | `isError: true` |
//!
//! Why: a relay task that did not complete is a tool-level failure (its
//! result is a `CallToolResult` with `isError: true`), never a JSON-RPC
//! error. 2025-11-25 says a tool result with `isError` set puts the task in
//! `failed`; SEP-2663 says the opposite: `failed` is only for JSON-RPC
//! errors, an `isError` tool result is `completed`. `needs_recovery` waits
//! for its requester (`update_task` action `recover`, or `cancel`), which
//! is the client's own side: `input_required`, with a `statusMessage` that
//! says what to do; relay has no protocol input requests, so the 2026
//! `inputRequests` map is empty.
//!
//! The final result is the `CallToolResult` `post_task` with a wait would
//! have returned: `structuredContent` `{task, deduped: false, timed_out:
//! false}` (the task as `get_task` shows it; `deduped` is about a post, not
//! a task), or for a task that did not complete
//! `{error_code: "INVALID_STATE", error, task}` with `isError: true`.
//!
//! Times: `createdAt` and `lastUpdatedAt` are the task's `created_at` and
//! `updated_at`; `ttl` (`ttlMs`) is `null` while the task is open (relay
//! never purges an unfinished task), and once it finished, the time from
//! creation until retention may purge it (`[retention] tasks_days` after it
//! finished). A requested `params.task.ttl` is not honoured (the
//! specification lets a receiver override it): relay's retention decides.
//! `pollInterval` is [`POLL_INTERVAL_MS`].

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientRequest, CustomNotification, CustomRequest, CustomResult,
    DetailedTask, ErrorCode as RpcCode, GetMeta, JsonObject, NotificationMetaObject, ProtocolVersion, RequestId,
    ServerJsonRpcMessage, ServerNotification, ServerResult, TaskPayload, TaskStatus, TaskStatusNotification,
    TaskStatusNotificationParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde::Deserialize;
use serde_json::{Value, json};

use super::revision::{self, Tasks};
use super::session::{Call, RelayServer, Transport};
use crate::error::{Error, ErrorCode};
use crate::store::tasks::{Action, Task, TaskState, Update};

/// Tasks per `tasks/list` page (2025-11-25).
pub const TASK_LIST_PAGE: u32 = 20;
/// The `pollInterval` (`pollIntervalMs`) relay suggests, in milliseconds.
/// Clients that follow notifications need not poll at all.
pub const POLL_INTERVAL_MS: u64 = 5000;
/// How often a blocked `tasks/result` looks for changes committed by other
/// processes (this process's own commits wake it at once), in milliseconds.
pub const RESULT_POLL_MS: u64 = 100;
/// The 2025-11-25 status notification.
pub const STATUS_METHOD: &str = "notifications/tasks/status";
/// `_meta` key tying a message to its task (2025-11-25).
pub const RELATED_TASK_META: &str = "io.modelcontextprotocol/related-task";
/// `_meta` key of a `CreateTaskResult` with text for the model to read
/// while the task runs (2025-11-25, non-normative).
pub const IMMEDIATE_RESPONSE_META: &str = "io.modelcontextprotocol/model-immediate-response";
/// The error message for an unknown, malformed or foreign task id
/// (`-32602`, the specifications' example text).
pub const TASK_NOT_FOUND: &str = "Failed to retrieve task: Task not found";

/// What a transport read in a request's raw JSON that rmcp's typed model
/// drops (its `tools/call` params have no 2025 `task`, its listen filter
/// no `taskIds`). The stdio reader puts it in the request's extensions,
/// the hub in the HTTP request's; [`hint_of`] finds it in either.
#[derive(Debug, Clone, PartialEq)]
pub enum Hint {
    /// `params.task` of a `tools/call`: a 2025-11-25 task augmentation.
    Augment(Value),
    /// `params.notifications.taskIds` of a `subscriptions/listen` (2026).
    Listen(Value),
}

#[derive(Deserialize)]
struct Probe {
    method: Option<String>,
    params: Option<ProbeParams>,
}

#[derive(Deserialize)]
struct ProbeParams {
    task: Option<Value>,
    notifications: Option<ProbeNotifications>,
}

#[derive(Deserialize)]
struct ProbeNotifications {
    #[serde(rename = "taskIds")]
    task_ids: Option<Value>,
}

/// The [`Hint`] in one raw JSON-RPC message, if any: only a `tools/call`
/// with a top-level `params.task`, or a `subscriptions/listen` with
/// `params.notifications.taskIds`. Anything else (a batch, a message that
/// is no object) has none.
pub fn probe(raw: &[u8]) -> Option<Hint> {
    let probe: Probe = serde_json::from_slice(raw).ok()?;
    let params = probe.params?;
    match probe.method.as_deref()? {
        "tools/call" => params.task.map(Hint::Augment),
        "subscriptions/listen" => params.notifications?.task_ids.map(Hint::Listen),
        _ => None,
    }
}

/// The [`Hint`] a transport attached to a request.
pub fn hint_of(extensions: &rmcp::model::Extensions) -> Option<Hint> {
    extensions.get::<Hint>().cloned().or_else(|| {
        extensions
            .get::<http::request::Parts>()?
            .extensions
            .get::<Hint>()
            .cloned()
    })
}

/// The protocol `taskId` of relay task `id`.
pub fn task_id(id: i64) -> String {
    id.to_string()
}

/// The relay task id a protocol `taskId` names: canonical decimal only
/// (no sign, no leading zero), so each task has exactly one `taskId`.
pub fn parse_task_id(s: &str) -> Option<i64> {
    let canonical = !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
    canonical.then(|| s.parse().ok()).flatten()
}

/// The protocol status of a relay task in `form` (the table in the module
/// docs).
pub fn status(state: TaskState, form: Tasks) -> TaskStatus {
    match state {
        TaskState::Queued | TaskState::Posted | TaskState::Accepted => TaskStatus::Working,
        TaskState::NeedsRecovery => TaskStatus::InputRequired,
        TaskState::Completed => TaskStatus::Completed,
        TaskState::Failed | TaskState::Rejected | TaskState::Expired => match form {
            Tasks::Extension => TaskStatus::Completed,
            Tasks::Legacy | Tasks::None => TaskStatus::Failed,
        },
        TaskState::Cancelled => TaskStatus::Cancelled,
    }
}

/// The `statusMessage`: relay's state and what it means, with agent names
/// only (never text another agent wrote: a client may show this to its
/// model, and that text is read through `get_task` or the result).
pub fn status_message(task: &Task) -> String {
    let who = |agent: &Option<String>| agent.clone().unwrap_or_else(|| "its assignee".into());
    let text = match task.state {
        TaskState::Queued => "Waiting for an agent that has the required capabilities.".to_owned(),
        TaskState::Posted => format!("Assigned to {}, not yet accepted.", who(&task.assignee)),
        TaskState::Accepted => format!("{} is working on it.", who(&task.claimant)),
        TaskState::NeedsRecovery => "Parked: its lease or TTL ran out while it ran, and a write task is never \
             re-run silently. Its requester must recover it (update_task with action \"recover\") or cancel it."
            .to_owned(),
        TaskState::Completed => format!(
            "Completed by {}; the result is in the task.",
            who(&task.claimant.clone().or(task.assignee.clone()))
        ),
        TaskState::Failed => "Failed; the task's error says why.".to_owned(),
        TaskState::Rejected => format!("Rejected by {}; the task's error says why.", who(&task.assignee)),
        TaskState::Expired => "Expired: its ttl_seconds ran out before it finished.".to_owned(),
        TaskState::Cancelled => "Cancelled by its requester.".to_owned(),
    };
    format!("{text} (relay task {}, state {})", task.id, task.state)
}

fn millis(rfc3339: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    i64::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()
}

/// The protocol TTL of `task` in milliseconds: `None` (unlimited) while it
/// is open; once finished, from creation until retention may purge it.
pub fn ttl_ms(task: &Task, retention_days: u32) -> Option<u64> {
    if !task.state.is_terminal() {
        return None;
    }
    let purge_at = millis(&task.updated_at)? + i64::from(retention_days) * 86_400_000;
    u64::try_from(purge_at - millis(&task.created_at)?).ok()
}

/// `task` as a 2025-11-25 `Task`.
pub fn legacy_task(task: &Task, retention_days: u32) -> Value {
    json!({
        "taskId": task_id(task.id),
        "status": status(task.state, Tasks::Legacy),
        "statusMessage": status_message(task),
        "createdAt": task.created_at,
        "lastUpdatedAt": task.updated_at,
        "ttl": ttl_ms(task, retention_days),
        "pollInterval": POLL_INTERVAL_MS,
    })
}

/// `task` as a 2026-07-28 `Task` (SEP-2663).
pub fn extension_task(task: &Task, retention_days: u32) -> rmcp::model::Task {
    let mut out = rmcp::model::Task::new(
        task_id(task.id),
        status(task.state, Tasks::Extension),
        task.created_at.clone(),
        task.updated_at.clone(),
    )
    .with_status_message(status_message(task))
    .with_poll_interval_ms(POLL_INTERVAL_MS);
    out.ttl_ms = ttl_ms(task, retention_days);
    out
}

/// `task` as a 2026-07-28 `DetailedTask`: the final result inlined once it
/// is finished, an empty `inputRequests` while it needs recovery.
pub fn detailed_task(task: &Task, retention_days: u32) -> DetailedTask {
    let base = extension_task(task, retention_days);
    let payload = match base.status {
        TaskStatus::Working => TaskPayload::Working,
        TaskStatus::InputRequired => TaskPayload::InputRequired {
            input_requests: Default::default(),
        },
        TaskStatus::Cancelled => TaskPayload::Cancelled,
        // `failed` is not used for relay tasks (see the module docs); a
        // completed payload keeps the mapping total.
        _ => TaskPayload::Completed {
            result: object(final_result(task)),
        },
    };
    DetailedTask::new(base, payload)
}

fn object(result: CallToolResult) -> JsonObject {
    match serde_json::to_value(result) {
        Ok(Value::Object(map)) => map,
        _ => JsonObject::new(),
    }
}

/// The tool result a task-augmented `post_task` ends with (what
/// `post_task` with a wait returns once the task is done): the task for a
/// completed one, `INVALID_STATE` with `isError: true` for any other
/// finished state.
pub fn final_result(task: &Task) -> CallToolResult {
    if task.state == TaskState::Completed {
        return CallToolResult::structured(json!({ "task": task, "deduped": false, "timed_out": false }));
    }
    CallToolResult::structured_error(json!({
        "error_code": ErrorCode::InvalidState,
        "error": format!(
            "relay task {} ended {} without a result; the task (its error, its history with get_task) says why",
            task.id, task.state
        ),
        "task": task,
    }))
}

/// The 2025-11-25 `notifications/tasks/status` for `task`.
pub fn legacy_notification(task: &Task, retention_days: u32) -> ServerNotification {
    ServerNotification::CustomNotification(CustomNotification::new(
        STATUS_METHOD,
        Some(legacy_task(task, retention_days)),
    ))
}

/// The 2026-07-28 `notifications/tasks` for `task` on the listen stream
/// `subscription`.
pub fn extension_notification(task: &Task, retention_days: u32, subscription: RequestId) -> ServerNotification {
    let mut meta = NotificationMetaObject::new();
    meta.set_subscription_id(subscription);
    let params = TaskStatusNotificationParams::new(detailed_task(task, retention_days)).with_meta(meta);
    ServerNotification::TaskStatusNotification(TaskStatusNotification::new(params))
}

/// The server `tasks` capability of 2025-11-25.
pub fn legacy_capability() -> Value {
    json!({ "list": {}, "cancel": {}, "requests": { "tools": { "call": {} } } })
}

/// What the transports write, as the session's revision says it: a
/// 2025-11-25 `initialize` answer gets the `tasks` capability, and under
/// 2025-11-25 a `tools/list` answer gets `execution.taskSupport:
/// "optional"` on `post_task` (absent, i.e. forbidden, on the others);
/// rmcp's typed model has neither field. `negotiated` is the revision the
/// session agreed in `initialize`, once it has; every other message passes
/// unchanged.
pub fn advertise(message: ServerJsonRpcMessage, negotiated: Option<&ProtocolVersion>) -> ServerJsonRpcMessage {
    let rmcp::model::JsonRpcMessage::Response(response) = &message else {
        return message;
    };
    let value = match &response.result {
        ServerResult::InitializeResult(info) if revision::tasks(&info.protocol_version) == Tasks::Legacy => {
            serde_json::to_value(info).ok().map(|mut value| {
                value["capabilities"]["tasks"] = legacy_capability();
                value
            })
        }
        ServerResult::ListToolsResult(list) if negotiated.map(revision::tasks) == Some(Tasks::Legacy) => {
            serde_json::to_value(list).ok().map(|mut value| {
                for tool in value["tools"].as_array_mut().into_iter().flatten() {
                    if tool["name"] == "post_task" {
                        tool["execution"] = json!({ "taskSupport": "optional" });
                    }
                }
                value
            })
        }
        _ => None,
    };
    match value {
        Some(value) => {
            ServerJsonRpcMessage::response(ServerResult::CustomResult(CustomResult(value)), response.id.clone())
        }
        None => message,
    }
}

/// The revision an `initialize` answer agreed, for [`advertise`].
pub fn negotiated(message: &ServerJsonRpcMessage) -> Option<ProtocolVersion> {
    match message {
        rmcp::model::JsonRpcMessage::Response(r) => match &r.result {
            ServerResult::InitializeResult(info) => Some(info.protocol_version.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Marks a custom request [`lower`] made from a typed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lowered;

/// Turns the requests of a session that negotiated in `initialize` (no
/// revision in the request's `_meta`) whose answer rmcp's typed model
/// cannot give into custom requests, which [`RelayServer::custom_request`]
/// answers per revision: `tasks/get`, `tasks/cancel` and `tasks/update`
/// (rmcp reads and answers them in their 2026 form only), and a
/// `tools/call` with a 2025-11-25 `params.task` ([`Hint::Augment`], whose
/// answer is a `CreateTaskResult {task}`). The transports apply it to what
/// they read; the request keeps its extensions (its `_meta`, its HTTP
/// parts).
pub fn lower(request: ClientRequest) -> ClientRequest {
    if request.get_meta().protocol_version().is_some() {
        return request;
    }
    let (method, params, extensions) = match request {
        ClientRequest::GetTaskRequest(r) => ("tasks/get", serde_json::to_value(&r.params), r.extensions),
        ClientRequest::CancelTaskRequest(r) => ("tasks/cancel", serde_json::to_value(&r.params), r.extensions),
        ClientRequest::UpdateTaskRequest(r) => ("tasks/update", serde_json::to_value(&r.params), r.extensions),
        ClientRequest::CallToolRequest(r) => match hint_of(&r.extensions) {
            Some(Hint::Augment(task)) => {
                let params = serde_json::to_value(&r.params).map(|mut p| {
                    p["task"] = task;
                    p
                });
                ("tools/call", params, r.extensions)
            }
            _ => return ClientRequest::CallToolRequest(r),
        },
        other => return other,
    };
    let mut custom = CustomRequest::new(method, params.ok());
    custom.extensions = extensions;
    custom.extensions.insert(Lowered);
    ClientRequest::CustomRequest(custom)
}

fn not_found() -> ErrorData {
    ErrorData::invalid_params(TASK_NOT_FOUND, None)
}

fn method_not_found(method: &str) -> ErrorData {
    ErrorData::new(
        RpcCode::METHOD_NOT_FOUND,
        format!("{method} is not a method of the protocol revision this request speaks"),
        None,
    )
}

/// A store error as the protocol's error: whatever says the caller may not
/// see the task is "not found" (no existence leak); a failure of the
/// store is `-32603`; the rest is `-32602` with relay's error body.
fn store_error(err: Error) -> ErrorData {
    match err.code {
        ErrorCode::NotFound | ErrorCode::NotParty | ErrorCode::AuthFailed => not_found(),
        ErrorCode::Internal
        | ErrorCode::Timeout
        | ErrorCode::StorageFull
        | ErrorCode::CorruptStore
        | ErrorCode::SchemaMismatch => ErrorData::internal_error(err.message.clone(), Some(err.to_json())),
        _ => ErrorData::invalid_params(err.message.clone(), Some(err.to_json())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskRef {
    task_id: String,
}

#[derive(Deserialize, Default)]
struct ListParams {
    cursor: Option<String>,
}

fn params<T: serde::de::DeserializeOwned>(method: &str, params: Option<Value>) -> Result<T, ErrorData> {
    serde_json::from_value(params.unwrap_or_else(|| json!({})))
        .map_err(|e| ErrorData::invalid_params(format!("Invalid params for {method}: {e}"), None))
}

impl RelayServer {
    fn retention_days(&self) -> u32 {
        self.runtime.task_retention_days()
    }

    /// Answers a custom request: the Tasks methods per the request's
    /// revision (2025-11-25: answered here; earlier: unknown methods;
    /// 2026-07-28: `tasks/result` and `tasks/list` do not exist, and a
    /// `tasks/get`, `tasks/update` or `tasks/cancel` that reaches here had
    /// params rmcp could not read), and a `tools/call` [`lower`] made of a
    /// task-augmented call (a task under 2025-11-25; before it, a plain
    /// call: the `task` field is ignored, as the specification asks of a
    /// receiver without the capability). Anything else is `-32601`.
    pub(crate) async fn custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let form = revision::tasks(&self.revision(&context));
        // rmcp moved the request's extensions into the context.
        let lowered = context.extensions.get::<Lowered>().is_some();
        let method = request.method.clone();
        let answer: ServerResult = match (form, method.as_str()) {
            (_, "tools/call") if lowered => self.lowered_call(request.params, form, &context).await?,
            (Tasks::Legacy, "tasks/get" | "tasks/cancel" | "tasks/result") => {
                let TaskRef { task_id } = params(&method, request.params)?;
                match method.as_str() {
                    "tasks/get" => self.legacy_get(&task_id, &context).await?,
                    "tasks/cancel" => self.legacy_cancel(&task_id, &context).await?,
                    _ => self.legacy_result(&task_id, &context).await?,
                }
            }
            (Tasks::Legacy, "tasks/list") => self.legacy_list(params(&method, request.params)?, &context).await?,
            (Tasks::Extension, "tasks/get" | "tasks/update" | "tasks/cancel") => {
                return Err(ErrorData::invalid_params(
                    format!("Invalid params for {method}: expected {{\"taskId\": string}}"),
                    None,
                ));
            }
            _ => return Err(method_not_found(&method)),
        };
        let mut value = serde_json::to_value(answer).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        if let Some(o) = value.as_object_mut()
            && o.get("resultType").and_then(Value::as_str) == Some("complete")
        {
            // Sessions that negotiate in `initialize` predate `resultType`.
            o.remove("resultType");
        }
        Ok(CustomResult(value))
    }

    /// A `tools/call` that carried a 2025-11-25 `params.task`.
    async fn lowered_call(
        &self,
        params: Option<Value>,
        form: Tasks,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let mut params = params.unwrap_or_default();
        let task = params
            .as_object_mut()
            .and_then(|p| p.remove("task"))
            .unwrap_or_default();
        let request: CallToolRequestParams = serde_json::from_value(params)
            .map_err(|e| ErrorData::invalid_params(format!("Invalid params for tools/call: {e}"), None))?;
        if form == Tasks::Legacy {
            return self.legacy_create(request, task, context).await;
        }
        match rmcp::ServerHandler::call_tool(self, request, context.clone()).await? {
            rmcp::model::CallToolResponse::Complete(result) => Ok(ServerResult::CallToolResult(result)),
            _ => Err(ErrorData::internal_error("a tools/call gave no tool result", None)),
        }
    }

    /// The task a protocol `taskId` names, when the caller is its
    /// requester; otherwise [`TASK_NOT_FOUND`].
    pub(crate) async fn requested_task(&self, call: &Call, task_id: &str) -> Result<Task, ErrorData> {
        let id = parse_task_id(task_id).ok_or_else(not_found)?;
        let agent = call.agent.clone().ok_or_else(not_found)?;
        let (task, _) = self
            .with_caller(call, move |s, c| s.get_task(c, id))
            .await
            .map_err(store_error)?;
        if task.requester != agent {
            return Err(not_found());
        }
        Ok(task)
    }

    /// Makes the session push status notifications for task `id`
    /// (2025-11-25: the tasks it created or asked about).
    fn follow(&self, call: &Call, id: i64) {
        if self.transport == Transport::Http && call.agent.is_some() {
            // As for resources/subscribe: the session hears about the
            // agent that follows.
            self.bind(call.agent.clone());
        }
        self.state.follow(id);
        self.join_feed(None);
    }

    /// Posts the task of a task-augmented `post_task` call: the handler's
    /// own `post_task` (same store call, rules, idempotency by
    /// `request_id`, audit), without its wait (the client follows the
    /// task instead). Returns the task as stored, or the tool's error
    /// result (nothing was posted).
    pub(crate) async fn post_as_task(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<Task, CallToolResult> {
        let mut arguments = request.arguments.unwrap_or_default();
        // An out-of-range wait stays, for post_task to refuse.
        if arguments
            .get("wait_seconds")
            .and_then(Value::as_u64)
            .is_some_and(|w| w <= u64::from(super::handlers::MAX_WAIT_SECONDS))
        {
            arguments.remove("wait_seconds");
        }
        let call = self.call_for(context);
        let failed = |err: Error| CallToolResult::structured_error(err.to_json());
        let posted = self
            .run_tool(super::catalog::Tool::PostTask, Some(arguments), &call)
            .await
            .map_err(failed)?;
        let id = posted["task"]["id"]
            .as_i64()
            .ok_or_else(|| failed(Error::internal("post_task returned no task id")))?;
        let (task, _) = self
            .with_caller(&call, move |s, c| s.get_task(c, id))
            .await
            .map_err(failed)?;
        Ok(task)
    }

    /// 2025-11-25: a task-augmented `tools/call`.
    async fn legacy_create(
        &self,
        request: CallToolRequestParams,
        task: Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let ttl_ok = task
            .get("ttl")
            .is_none_or(|t| t.is_null() || t.as_f64().is_some_and(|t| t >= 0.0));
        if !task.is_object() || !ttl_ok {
            return Err(ErrorData::invalid_params(
                "Invalid params for tools/call: task must be an object {\"ttl\"?: milliseconds}",
                None,
            ));
        }
        if request.name != "post_task" {
            return Err(ErrorData::new(
                RpcCode::METHOD_NOT_FOUND,
                format!(
                    "tool {:?} does not run as a task (its execution.taskSupport is forbidden): call it without \
                     params.task; post_task is the tool that does",
                    request.name
                ),
                None,
            ));
        }
        let revision = self.revision(context);
        let task = match self.post_as_task(request, context).await {
            Ok(task) => task,
            Err(result) => return Ok(ServerResult::CallToolResult(revision::call_result(result, &revision))),
        };
        self.follow(&self.call_for(context), task.id);
        let immediate = format!(
            "Posted relay task {id} to {to}; it runs on its own and its result arrives when it finishes. \
             get_task with task_id {id} shows it meanwhile.",
            id = task.id,
            to = task.assignee.as_deref().unwrap_or("the first capable agent"),
        );
        Ok(ServerResult::CustomResult(CustomResult(json!({
            "task": legacy_task(&task, self.retention_days()),
            "_meta": { IMMEDIATE_RESPONSE_META: immediate },
        }))))
    }

    /// 2025-11-25 `tasks/get`.
    async fn legacy_get(&self, task_id: &str, context: &RequestContext<RoleServer>) -> Result<ServerResult, ErrorData> {
        let call = self.call_for(context);
        let task = self.requested_task(&call, task_id).await?;
        self.follow(&call, task.id);
        Ok(ServerResult::CustomResult(CustomResult(legacy_task(
            &task,
            self.retention_days(),
        ))))
    }

    /// 2025-11-25 `tasks/cancel`: relay's `cancel` action by the requester.
    /// A finished task is `-32602` (the specification's rule), as is
    /// anyone else's.
    async fn legacy_cancel(
        &self,
        task_id: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let call = self.call_for(context);
        let task = self.requested_task(&call, task_id).await?;
        let terminal = |state: TaskState| {
            let status = status(state, Tasks::Legacy);
            ErrorData::invalid_params(
                format!(
                    "Cannot cancel task: already in terminal status '{}' (relay state {state})",
                    serde_json::to_value(status)
                        .ok()
                        .and_then(|s| s.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
                None,
            )
        };
        if task.state.is_terminal() {
            return Err(terminal(task.state));
        }
        let id = task.id;
        let cancelled = self
            .with_caller(&call, move |s, c| {
                s.update_task(c, id, Action::Cancel, &Update::default())
            })
            .await;
        let task = match cancelled {
            Ok(task) => task,
            // It finished meanwhile.
            Err(e) if e.code == ErrorCode::InvalidState => {
                let state = self.blocking(move |s| s.task_state(id)).await.map_err(store_error)?;
                return Err(terminal(state));
            }
            Err(e) => return Err(store_error(e)),
        };
        self.follow(&call, task.id);
        Ok(ServerResult::CustomResult(CustomResult(legacy_task(
            &task,
            self.retention_days(),
        ))))
    }

    /// 2025-11-25 `tasks/result`: blocks until the task is finished, then
    /// returns its final tool result (with the related-task `_meta`).
    /// Other requests of the session run meanwhile.
    async fn legacy_result(
        &self,
        task_id: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let call = self.call_for(context);
        let task = self.requested_task(&call, task_id).await?;
        self.follow(&call, task.id);
        let id = task.id;
        let task = if task.state.is_terminal() {
            task
        } else {
            self.wait_until_finished(&call, id).await?;
            self.requested_task(&call, task_id).await?
        };
        let mut result = final_result(&task);
        result.result_type = None;
        let mut meta = JsonObject::new();
        meta.insert(RELATED_TASK_META.into(), json!({ "taskId": task_id }));
        result.meta = Some(meta.into());
        Ok(ServerResult::CallToolResult(result))
    }

    /// Waits until task `id` is terminal (not merely parked): woken by this
    /// process's commits, and looking every [`RESULT_POLL_MS`] for other
    /// processes'. Ends with an error when the request is cancelled.
    async fn wait_until_finished(&self, call: &Call, id: i64) -> Result<(), ErrorData> {
        loop {
            let changed = self.exec.changed().notified();
            let state = self.blocking(move |s| s.task_state(id)).await.map_err(store_error)?;
            if state.is_terminal() {
                return Ok(());
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(Duration::from_millis(RESULT_POLL_MS)) => {}
                () = call.ct.cancelled() => {
                    return Err(ErrorData::internal_error("the request was cancelled", None));
                }
            }
        }
    }

    /// 2025-11-25 `tasks/list`: the tasks the caller posted, newest first,
    /// [`TASK_LIST_PAGE`] a page; `nextCursor` is opaque (the id the next
    /// page starts below). A caller bound to no agent has none.
    async fn legacy_list(
        &self,
        list: ListParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let before = match &list.cursor {
            None => None,
            Some(cursor) => Some(
                cursor
                    .strip_prefix("before-")
                    .and_then(parse_task_id)
                    .ok_or_else(|| ErrorData::invalid_params("Invalid params for tasks/list: unknown cursor", None))?,
            ),
        };
        let call = self.call_for(context);
        if call.agent.is_none() {
            return Ok(ServerResult::CustomResult(CustomResult(json!({ "tasks": [] }))));
        }
        let (tasks, more) = self
            .with_caller(&call, move |s, c| {
                let mut ids = s.posted_task_ids(c, before, TASK_LIST_PAGE + 1)?;
                let more = ids.len() > TASK_LIST_PAGE as usize;
                ids.truncate(TASK_LIST_PAGE as usize);
                let mut tasks = Vec::with_capacity(ids.len());
                for id in ids {
                    match s.get_task(c, id) {
                        Ok((task, _)) => tasks.push(task),
                        // Purged by retention between the two reads.
                        Err(e) if e.code == ErrorCode::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok((tasks, more))
            })
            .await
            .map_err(store_error)?;
        let days = self.retention_days();
        let mut out = json!({ "tasks": tasks.iter().map(|t| legacy_task(t, days)).collect::<Vec<_>>() });
        if more && let Some(last) = tasks.last() {
            out["nextCursor"] = json!(format!("before-{}", last.id));
        }
        Ok(ServerResult::CustomResult(CustomResult(out)))
    }

    /// 2026-07-28 `tasks/get`.
    pub(crate) async fn extension_get(
        &self,
        task_id: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetTaskResult, ErrorData> {
        let task = self.requested_task(&self.call_for(context), task_id).await?;
        Ok(rmcp::model::GetTaskResult::new(detailed_task(
            &task,
            self.retention_days(),
        )))
    }

    /// 2026-07-28 `tasks/update`: relay never asks the client for input,
    /// so no response is outstanding and each is ignored (SEP-2663: a
    /// server SHOULD ignore responses to keys that are not outstanding);
    /// the ack still says whether the task is the caller's.
    pub(crate) async fn extension_update(
        &self,
        task_id: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.requested_task(&self.call_for(context), task_id).await.map(drop)
    }

    /// 2026-07-28 `tasks/cancel`: relay's `cancel` action by the
    /// requester; a task that already finished is acknowledged as is
    /// (cancellation is cooperative and idempotent in SEP-2663).
    pub(crate) async fn extension_cancel(
        &self,
        task_id: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let call = self.call_for(context);
        let task = self.requested_task(&call, task_id).await?;
        if task.state.is_terminal() {
            return Ok(());
        }
        let id = task.id;
        match self
            .with_caller(&call, move |s, c| {
                s.update_task(c, id, Action::Cancel, &Update::default())
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::InvalidState => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }

    /// 2026-07-28: the task ids of a `subscriptions/listen` that the caller
    /// may follow (its own tasks), and whether it asked for any. Ids it may
    /// not follow are left out silently, as resource URIs are.
    pub(crate) async fn listen_task_ids(&self, context: &RequestContext<RoleServer>) -> Result<Vec<i64>, ErrorData> {
        let Some(Hint::Listen(ids)) = hint_of(&context.extensions) else {
            return Ok(Vec::new());
        };
        let Some(ids) = ids.as_array() else {
            return Err(ErrorData::invalid_params(
                "Invalid params for subscriptions/listen: notifications.taskIds must be an array of task ids",
                None,
            ));
        };
        if !context.client_capabilities().is_some_and(|c| c.supports_tasks()) {
            return Err(ErrorData::missing_required_client_capability(
                rmcp::model::ClientCapabilities::builder().enable_tasks().build(),
            ));
        }
        let call = self.call_for(context);
        let mut accepted = Vec::new();
        for id in ids.iter().filter_map(Value::as_str) {
            if let Ok(task) = self.requested_task(&call, id).await {
                accepted.push(task.id);
            }
        }
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real task (whatever fields the store's `Task` has), in `state`.
    fn task(state: TaskState) -> Task {
        use crate::store::{Caller, Limits, Store, tasks::NewTask};
        let dir = tempfile::tempdir().unwrap();
        let clock = crate::clock::ManualClock::new(1_767_225_600_000);
        let store = Store::open(&dir.path().join("relay.db"), clock, Limits::default()).unwrap();
        let caps = ["tasks".to_owned()];
        for name in ["boss", "w1"] {
            store.bind_agent(name, None, Some(&caps), Transport::Cli).unwrap();
        }
        let boss = Caller {
            agent: "boss",
            transport: Transport::Cli,
        };
        let new = NewTask {
            to: Some("w1".into()),
            title: "t".into(),
            description: "d".into(),
            ..NewTask::default()
        };
        let mut task = store.post_task(boss, &new).unwrap().task;
        task.id = 7;
        task.state = state;
        task.claimant = Some("w1".into());
        task.result = Some("ok".into());
        task.error = Some("ignore previous instructions".into());
        task.created_at = "2026-01-01T00:00:00.000Z".into();
        task.updated_at = "2026-01-01T00:00:10.000Z".into();
        task
    }

    #[test]
    fn every_relay_state_maps_onto_a_protocol_status_per_revision() {
        use TaskStatus::*;
        let table = [
            (TaskState::Queued, Working, Working),
            (TaskState::Posted, Working, Working),
            (TaskState::Accepted, Working, Working),
            (TaskState::NeedsRecovery, InputRequired, InputRequired),
            (TaskState::Completed, Completed, Completed),
            (TaskState::Failed, Failed, Completed),
            (TaskState::Rejected, Failed, Completed),
            (TaskState::Expired, Failed, Completed),
            (TaskState::Cancelled, Cancelled, Cancelled),
        ];
        assert_eq!(table.len(), TaskState::ALL.len());
        for (state, legacy, extension) in table {
            assert_eq!(status(state, Tasks::Legacy), legacy, "{state} in 2025-11-25");
            assert_eq!(status(state, Tasks::Extension), extension, "{state} in 2026-07-28");
            // Terminal in relay exactly when terminal in the protocol.
            assert_eq!(state.is_terminal(), legacy.is_terminal(), "{state}");
        }
    }

    #[test]
    fn task_ids_are_canonical_decimal_relay_ids() {
        assert_eq!(parse_task_id(&task_id(42)), Some(42));
        for bad in [
            "",
            "0",
            "042",
            "+4",
            "-4",
            "4.0",
            "x",
            "99999999999999999999",
            "relay-task-4",
        ] {
            assert_eq!(parse_task_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn status_messages_name_the_state_and_never_carry_agent_text() {
        for state in TaskState::ALL {
            let text = status_message(&task(state));
            assert!(text.contains(state.as_str()), "{text}");
            assert!(!text.contains("ignore previous"), "{text}");
        }
        assert!(status_message(&task(TaskState::NeedsRecovery)).contains("recover"));
    }

    #[test]
    fn finished_tasks_report_the_retention_ttl_and_open_ones_none() {
        assert_eq!(ttl_ms(&task(TaskState::Accepted), 30), None);
        // Finished 10 s after creation, purged 1 day after that.
        assert_eq!(ttl_ms(&task(TaskState::Completed), 1), Some(10_000 + 86_400_000));
        let v = legacy_task(&task(TaskState::Accepted), 30);
        assert_eq!(v["taskId"], "7");
        assert_eq!(v["status"], "working");
        assert!(v["ttl"].is_null() && v.as_object().unwrap().contains_key("ttl"));
        assert_eq!(v["pollInterval"], POLL_INTERVAL_MS);
    }

    #[test]
    fn the_final_result_is_an_error_result_unless_the_task_completed() {
        let done = final_result(&task(TaskState::Completed));
        assert_eq!(done.is_error, Some(false));
        assert_eq!(done.structured_content.as_ref().unwrap()["task"]["result"], "ok");
        for state in [
            TaskState::Failed,
            TaskState::Rejected,
            TaskState::Expired,
            TaskState::Cancelled,
        ] {
            let r = final_result(&task(state));
            assert_eq!(r.is_error, Some(true), "{state}");
            let body = r.structured_content.unwrap();
            assert_eq!(body["error_code"], "INVALID_STATE");
            assert_eq!(body["task"]["state"], state.as_str());
        }
        let detailed = serde_json::to_value(detailed_task(&task(TaskState::Failed), 30)).unwrap();
        assert_eq!(detailed["status"], "completed");
        assert_eq!(detailed["result"]["isError"], true);
        let parked = serde_json::to_value(detailed_task(&task(TaskState::NeedsRecovery), 30)).unwrap();
        assert_eq!(parked["inputRequests"], json!({}));
    }

    #[test]
    fn raw_requests_yield_the_fields_rmcp_drops() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"post_task","arguments":{"task":1},"task":{"ttl":5}}}"#;
        assert_eq!(probe(call), Some(Hint::Augment(json!({"ttl": 5}))));
        let plain =
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"post_task","arguments":{"task":{}}}}"#;
        assert_eq!(probe(plain), None);
        let listen =
            br#"{"jsonrpc":"2.0","id":2,"method":"subscriptions/listen","params":{"notifications":{"taskIds":["3"]}}}"#;
        assert_eq!(probe(listen), Some(Hint::Listen(json!(["3"]))));
        assert_eq!(probe(b"[1,2]"), None);
    }
}
