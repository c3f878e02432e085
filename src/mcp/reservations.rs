//! File reservations (SPEC §9): protocol only; the rules are the store's ([`crate::store::reservations`]).

use serde_json::{Value, json};

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};
use crate::store::reservations::{DEFAULT_LIST_LIMIT, ReserveRequest};

fn to_value<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("cannot serialise the result: {e}")))
}

impl RelayServer {
    /// `reserve_paths {project, paths, exclusive? = true, ttl_seconds,
    /// reason, request_id?}`. Returns `{project, granted, conflicts,
    /// deduped}`; a refused path is a conflict in a successful result.
    ///
    /// Errors: those of [`crate::store::Store::reserve_paths`].
    pub(crate) async fn reserve_paths(&self, call: &Call, a: args::ReservePaths) -> Result<Value> {
        let req = ReserveRequest {
            project: a.project,
            paths: a.paths,
            exclusive: a.exclusive,
            ttl_seconds: a.ttl_seconds,
            reason: a.reason,
            request_id: a.request_id,
        };
        to_value(self.with_caller(call, move |s, c| s.reserve_paths(c, &req)).await?)
    }

    /// `renew_reservations {project, paths?, ttl_seconds?}`. Returns
    /// `{project, count, reservations, not_found}`.
    ///
    /// Errors: those of [`crate::store::Store::renew_reservations`].
    pub(crate) async fn renew_reservations(&self, call: &Call, a: args::RenewReservations) -> Result<Value> {
        let r = self
            .with_caller(call, move |s, c| {
                s.renew_reservations(c, &a.project, a.paths.as_deref(), a.ttl_seconds)
            })
            .await?;
        Ok(json!({
            "project": r.project,
            "count": r.reservations.len(),
            "reservations": r.reservations,
            "not_found": r.not_found,
        }))
    }

    /// `release_paths {project, paths?}`. Returns `{project, count,
    /// released}`.
    ///
    /// Errors: those of [`crate::store::Store::release_paths`].
    pub(crate) async fn release_paths(&self, call: &Call, a: args::ReleasePaths) -> Result<Value> {
        let r = self
            .with_caller(call, move |s, c| s.release_paths(c, &a.project, a.paths.as_deref()))
            .await?;
        Ok(json!({ "project": r.project, "count": r.released.len(), "released": r.released }))
    }

    /// `list_reservations {project?, agent?, limit? = 200}`. Returns
    /// `{count, reservations}` (live ones only).
    ///
    /// Errors: those of [`crate::store::Store::list_reservations`].
    pub(crate) async fn list_reservations(&self, call: &Call, a: args::ListReservations) -> Result<Value> {
        let limit = a.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        let list = self
            .with_caller(call, move |s, c| {
                s.list_reservations(c, a.project.as_deref(), a.agent.as_deref(), limit)
            })
            .await?;
        Ok(json!({ "count": list.len(), "reservations": list }))
    }
}
