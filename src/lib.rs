//! esia-gate: a Pingora reverse proxy that moves an unmodified school diary
//! to login through ESIA (Госуслуги). The folders follow the diagram in
//! DESIGN.md: configuration, the ESIA client, identity (directory and
//! matching), policy, store, the Pingora glue, pages, admin and the
//! development stack (ESIA emulator and sample diary).

pub mod admin;
pub mod app;
pub mod config;
pub mod demo;
pub mod dev;
pub mod esia;
pub mod identity;
pub mod pages;
pub mod policy;
pub mod proxy;
pub mod store;
