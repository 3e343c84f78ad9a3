//! The typed fleet config and its sources (INI files, `decnet deploy` flags, the demo fleet).

pub mod model;
