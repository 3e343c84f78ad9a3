//! Elasticsearch (listener `elasticsearch`, port 9200): one node's REST API as
//! a site of the HTTP front end.

pub mod api;
pub mod data;
pub mod json;
