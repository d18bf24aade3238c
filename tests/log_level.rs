//! Pingora logs through the `log` crate, on every request at `debug` and
//! `trace`. With the gateway's logging started at `info`, those records
//! must stop at `log`'s own level check — one comparison — instead of
//! being built and carried into `tracing` to be filtered there.
//! (Its own process: logging is started once per process.)

#[test]
fn at_info_the_log_crate_stops_debug_records_itself() {
    // SAFETY: no other thread runs yet in this test binary's only test.
    unsafe { std::env::remove_var("RUST_LOG") };
    esia_gate::telemetry::logging::init("info", "json", None).expect("logging");
    assert_eq!(log::max_level(), log::LevelFilter::Info);
    assert_eq!(
        tracing::level_filters::LevelFilter::current(),
        tracing::level_filters::LevelFilter::INFO
    );
    assert!(
        !log::log_enabled!(target: "pingora_core::protocols::http::v1::client", log::Level::Debug)
    );
    assert!(!log::log_enabled!(target: "pingora_proxy", log::Level::Trace));
    assert!(log::log_enabled!(target: "pingora_core::server", log::Level::Info));
}
