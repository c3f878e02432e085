//! Clients of a remote hub (SPEC §7): `relay pair`, and `relay worker`,
//! `relay hook` and `relay tail` with `--hub` on a machine without the
//! store.
