//! esia-gate: a Pingora reverse proxy that moves an unmodified school diary
//! to login through ESIA (Госуслуги). The modules follow the diagram in
//! DESIGN.md, from the bottom up: `telemetry` (metrics and logs, a leaf),
//! `config`, `policy`, `identity`, `store`, `esia`, `pages`, then `auth`
//! (the login flows as plain functions), `admin` (health and reports),
//! `proxy` (the Pingora glue) and `app` (the server). Imports only point
//! down; `tests/layering.rs` keeps it so. The development stack (ESIA
//! emulator, sample diary, demo) is the `esia-gate-dev` crate beside this
//! one, never part of the gateway's binary.

pub mod admin;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod esia;
pub mod identity;
pub mod pages;
pub mod policy;
pub mod proxy;
pub mod store;
pub mod telemetry;
