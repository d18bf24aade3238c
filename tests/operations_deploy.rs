//! What operators install besides the binary: the container image recipe,
//! the hardened systemd unit (reload = SIGHUP) and the upgrade script.

use std::path::{Path, PathBuf};
use std::process::Command;

fn file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_image_builds_with_the_gost_engine_and_runs_unprivileged() {
    let text = read("Dockerfile");
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let (build, runtime) = text.split_at(text.find(stages[1]).expect("runtime stage"));
    for pkg in ["cmake", "libssl-dev", "libengine-gost-openssl"] {
        assert!(build.contains(pkg), "the build stage installs {pkg}");
    }
    assert!(runtime.starts_with("FROM debian:bookworm-slim"));
    assert!(runtime.contains("libengine-gost-openssl"));
    assert!(
        !runtime.contains("libssl-dev"),
        "no build tools at run time"
    );
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !matches!(user.trim(), "root" | "0" | "0:0"),
        "runs as {user}"
    );
    assert!(runtime.contains("HEALTHCHECK"));
    assert!(
        runtime.contains("/healthz"),
        "the health check asks /healthz"
    );
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"));
}

#[test]
fn the_upgrade_script_is_an_executable_shell_script() {
    use std::os::unix::fs::PermissionsExt as _;
    let path = file("config/esia-gate-upgrade");
    let mode = std::fs::metadata(&path)
        .expect("script")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "executable");
    let syntax = Command::new("sh")
        .arg("-n")
        .arg(&path)
        .status()
        .expect("sh");
    assert!(syntax.success());
    // Without a running process it refuses, saying why.
    let out = Command::new(&path)
        .arg("999999999")
        .output()
        .expect("run the script");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no process"));
}

/// `systemd-analyze verify` and `security` on the unit, with the installed
/// paths pointed at this build.
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = read("config/esia-gate.service");
    for key in [
        "Type=notify",
        "NotifyAccess=all",
        // `systemctl reload` re-reads the configuration; the binary
        // hand-over is its own command (esia-gate-upgrade, SIGUSR2).
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/bin/esia-gate run --config /etc/esia-gate/gateway.toml",
        "ExecStartPre=/usr/bin/esia-gate check --config /etc/esia-gate/gateway.toml",
        "User=esia-gate",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "RuntimeDirectory=esia-gate",
    ] {
        assert!(unit.contains(key), "the unit sets {key:?}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(
        !unit.contains("esia-gate-upgrade $MAINPID"),
        "reload is not an upgrade"
    );
    let local = unit.replace("/usr/bin/esia-gate", env!("CARGO_BIN_EXE_esia-gate"));
    let path = dir.path().join("esia-gate.service");
    std::fs::write(&path, local).expect("unit copy");
    let analyze = |args: &[&str]| {
        let out = Command::new("systemd-analyze")
            .args(args)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                panic!("systemd-analyze is needed (apt-get install systemd, or scripts/test): {e}")
            });
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, out) = analyze(&["verify"]);
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );
    let (_, out) = analyze(&["security", "--offline=yes", "--no-pager"]);
    let exposure: f64 = out
        .lines()
        .find_map(|l| {
            l.split_once("Overall exposure level for esia-gate.service: ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("an exposure level in:\n{out}"));
    assert!(exposure <= 2.0, "exposure {exposure}:\n{out}");
}
