//! The development stack shipped with the gateway: an ESIA emulator that
//! speaks v2/v3 strictly, and a sample legacy diary. Both know nothing of
//! the gateway's internals; they only share the protocol module.

pub mod diary;
pub mod diary_mode;
pub mod emulator;
pub mod fixtures;
pub mod keys;
pub mod legacy_pages;
pub mod ports;
pub mod signing_service;

mod html;

#[cfg(test)]
mod flow_tests;
