//! decnet-api integration tests: the router in-process (`oneshot`, `MockConnectInfo`)
//! and one real-socket smoke test with the SSE stream.

mod auth;
mod errors;
mod pagination;
mod routes;
mod smoke;
mod support;
mod users;
