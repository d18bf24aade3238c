//! The development stack, never in the production binary: an ESIA emulator
//! that speaks v2/v3, the legacy endpoints and a broker strictly; a sample
//! legacy diary (normal, IIS-like and PHP-like); a small signing service;
//! throwaway keys and test persons; the demo that starts them beside the
//! gateway on loopback; and what the tests need to run real servers (free
//! ports, a real `redis-server`, a real PostgreSQL). It uses the gateway only through its
//! public library (the ESIA protocol strings, GOST signatures, and
//! `app` to run the gateway in the demo).

pub mod demo;
pub mod diary;
pub mod diary_mode;
pub mod emulator;
pub mod fixtures;
pub mod keys;
pub mod legacy_pages;
pub mod ports;
pub mod postgres;
pub mod redis;
pub mod signing_service;
pub mod tls_proxy;

mod html;
