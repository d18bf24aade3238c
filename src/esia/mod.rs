//! Talking to ESIA: the [`EsiaProvider`] trait and its three
//! implementations (`v2`, `legacy`, `broker`, one per `config::EsiaMode`),
//! what they share (`http`, `endpoints`, `person`, `token`, `error`), the
//! client secret signers and ESIA's protocol strings, and [`EsiaClient`],
//! the handle the rest of the gateway holds. Knows nothing of HTTP serving
//! or policy.

pub mod broker;
pub mod client;
pub mod endpoints;
pub mod error;
pub mod gost;
pub mod http;
pub mod legacy;
pub mod person;
pub mod protocol;
pub mod provider;
pub mod signer;
pub mod token;
pub mod v2;

pub use client::EsiaClient;
pub use error::EsiaError;
pub use provider::{Authorization, EsiaProvider, EsiaSettings, LoginResult, Shared, Tokens};
