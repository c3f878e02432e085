//! The dashboard's HTTP API (issue 12): routes, access levels, actions.
