//! File reservations (SPEC §9): protocol only; the rules are the store's ([`crate::store::reservations`]).

use serde_json::Value;

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};

impl RelayServer {
    /// `reserve_paths` (SPEC §9). Not yet implemented (issue 13 scaffold).
    pub(crate) async fn reserve_paths(&self, _call: &Call, _a: args::ReservePaths) -> Result<Value> {
        Err(Error::internal("reserve_paths is not implemented yet"))
    }
    /// `renew_reservations` (SPEC §9). Not yet implemented (issue 13 scaffold).
    pub(crate) async fn renew_reservations(&self, _call: &Call, _a: args::RenewReservations) -> Result<Value> {
        Err(Error::internal("renew_reservations is not implemented yet"))
    }
    /// `release_paths` (SPEC §9). Not yet implemented (issue 13 scaffold).
    pub(crate) async fn release_paths(&self, _call: &Call, _a: args::ReleasePaths) -> Result<Value> {
        Err(Error::internal("release_paths is not implemented yet"))
    }
    /// `list_reservations` (SPEC §9). Not yet implemented (issue 13 scaffold).
    pub(crate) async fn list_reservations(&self, _call: &Call, _a: args::ListReservations) -> Result<Value> {
        Err(Error::internal("list_reservations is not implemented yet"))
    }
}
