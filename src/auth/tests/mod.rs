//! The flows driven without sockets where no network is needed, and with
//! the ESIA emulator and the sample diary on loopback where it is: one
//! file per flow, standing on [`kit`].

mod accounts;
mod children;
mod guard;
mod kit;
mod linking;
mod login;
mod password;
mod routes;
mod session;
