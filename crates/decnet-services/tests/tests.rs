//! Integration tests of the protocol emulators over real loopback sockets,
//! driven by real clients where they are installed.

// Test code may stop at the first surprise: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod deadlines;
mod docker_api;
mod elasticsearch;
mod ftp;
mod harness;
mod http;
mod http_realism;
mod http_xmlrpc;
mod imap;
mod k8s;
mod ldap;
mod mongodb;
mod mqtt;
mod mysql;
mod pop3;
mod postgres;
mod redis;
mod shell_artifacts;
mod shell_bash;
mod smtp;
mod ssh;
mod ssh_clients;
mod ssh_realism;
mod ssh_transfer;
mod telnet;
mod vnc;
