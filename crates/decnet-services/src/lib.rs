//! DECNET's protocol emulators and what they share.
//!
//! - [`service`]: the `Service`/`Instance` contract, `ConnCtx` and the event `Emitter`
//! - [`conn`]: the supervised connection (idle deadline, byte caps) every service reads from
//! - [`kit`]: what line, TLS and persona-driven protocols share (capped lines, rewind/peek, TLS, persona keys)
//! - [`registry`]: the services this build implements
//! - [`docker_api`]: dockerd's Engine API on 2375/2376, a site of the HTTP front end; container creates, execs, pulls and builds captured
//! - [`elasticsearch`]: an Elasticsearch node's REST API on 9200, a site of the HTTP front end in Netty's style; bait indices, searches, writes and Basic credentials captured
//! - [`ftp`]: the vsftpd look-alike (persona filesystem, passive and active data channels, uploads kept)
//! - [`http`]: the web server with its `https` listener (sites and their pages under `http/pages/`)
//! - [`k8s`]: kube-apiserver on 6443/8080, a site of the HTTP front end; tokens captured, bait secrets, pod creates and execs captured
//! - [`imap`]: Dovecot's IMAP over the bait world's mailboxes, with its `imaps` listener
//! - [`ldap`]: OpenLDAP's slapd or an Active Directory DC over the bait world's people and hosts; binds captured (NTLM as NetNTLMv2), every search an event
//! - [`mysql`]: MariaDB or MySQL 8 as the distro ships it; login scrambles captured crackable, a query surface over the bait world's appdb
//! - [`postgres`]: PostgreSQL of the distro's release; cleartext, md5 and SCRAM logins captured, a small query surface
//! - [`mongodb`]: mongod with authorization enabled; SCRAM-SHA-1/256 proofs captured crackable, planted logins get the bait world's appdb as collections
//! - [`mqtt`]: Mosquitto's MQTT broker (3.1, 3.1.1, 5.0) with `$SYS` and retained sensor readings; CONNECTs captured as logins
//! - [`pop3`]: Dovecot's POP3 over the same mailboxes, with its `pop3s` listener; APOP captured
//! - [`ssh`]: the SSH emulator (its own transport, per OpenSSH release), with its KEXINIT tap; [`shell`]: the fake shell it serves
//! - [`telnet`]: Linux telnetd and login(1), serving the same fake shell as SSH
//! - [`vnc`]: an RFB server whose VNC authentication captures the DES challenge response
//! - [`smtp`]: the mail server (Postfix, Exim or Sendmail persona) with STARTTLS, smtps, AUTH capture and kept messages
//! - [`redis`]: redis-server of the distro's release over a bait keyspace; AUTH, every command and payloads written to keys captured
//! - [`recorder`]: interactive session transcripts (day shards shared by sessions)
//!
//! Services only parse and answer; the engine binds sockets and enforces limits.

pub mod conn;
pub mod docker_api;
pub mod elasticsearch;
pub mod ftp;
pub mod http;
pub mod imap;
pub mod k8s;
pub mod kit;
pub mod ldap;
pub mod mongodb;
pub mod mqtt;
pub mod mysql;
pub mod pop3;
pub mod postgres;
pub mod recorder;
pub mod redis;
pub mod registry;
pub mod service;
pub mod shell;
pub mod smtp;
pub mod ssh;
pub mod telnet;
pub mod vnc;

pub use conn::Conn;
pub use registry::Registry;
pub use service::{ConnCtx, DeckyRuntime, Emitter, Instance, Service, ServiceError};
