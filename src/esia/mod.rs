//! Talking to ESIA: the v2/v3 client, signers, token checks, person API.
//! Knows nothing of HTTP serving or policy.

pub mod broker;
pub mod client;
pub mod gost;
pub mod legacy;
pub mod protocol;
pub mod signer;
pub mod token;

pub use client::{EsiaClient, EsiaError, EsiaSettings, Way};
