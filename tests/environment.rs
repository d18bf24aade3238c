//! Settings from the environment, as a container or a systemd
//! `EnvironmentFile=` gives them: the configuration's path
//! (`ESIA_GATE_CONFIG` when `--config` is absent; the flag wins) and the
//! secrets (`ESIA_GATE_<SECTION>__<KEY>`, winning over the file's `*_file`
//! key). `esia-gate check` says which settings came from the environment,
//! by name: a secret's value is never printed, not even in an error.

use std::path::Path;
use std::process::Command;

use esia_gate_dev::demo::{Ports, prepare};

const SECRET: &str = "s3cret-from-the-environment-9f2c";

/// `esia-gate check` with `args` and the environment `env` (nothing else
/// of the test's own `ESIA_GATE_*` variables).
fn check(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_esia-gate"));
    cmd.arg("check").args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ESIA_GATE_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .envs(env.iter().copied())
        .output()
        .expect("esia-gate check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn prepared() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = prepare(dir.path(), Ports::DEMO).expect("prepare");
    let text = std::fs::read_to_string(&p.gateway_config).expect("config");
    (dir, p.gateway_config, text)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn the_configuration_path_comes_from_esia_gate_config_unless_the_flag_names_one() {
    let (_dir, path, _) = prepared();
    let (ok, out) = check(&[], &[("ESIA_GATE_CONFIG", path_str(&path))]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{}: OK", path.display())), "{out}");
    // The flag wins over the variable.
    let (ok, out) = check(
        &["--config", path_str(&path)],
        &[("ESIA_GATE_CONFIG", "/nonexistent/gateway.toml")],
    );
    assert!(ok, "{out}");
    // Neither: clap says the flag is missing and names the variable.
    let (ok, out) = check(&[], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("--config"), "{out}");
}

/// The demo configuration in broker mode with the secret in `secret_file`
/// (or none).
fn broker(text: &str, secret_file: Option<&str>) -> String {
    let file = secret_file
        .map(|f| format!("client_secret_file = \"{f}\"\n"))
        .unwrap_or_default();
    let text = text.replace("mode = \"v2\"", "mode = \"broker\"");
    format!("{text}\n[esia.broker]\n{file}")
}

#[test]
fn a_secret_from_the_environment_needs_no_file_and_is_named_never_shown() {
    let (_dir, path, text) = prepared();
    // No file at all: without the variable the key is required.
    std::fs::write(&path, broker(&text, None)).expect("config");
    let (ok, out) = check(&["-c", path_str(&path)], &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("esia.broker.client_secret_file")
            && out.contains("ESIA_GATE_ESIA__BROKER__CLIENT_SECRET"),
        "{out}"
    );
    let env = [("ESIA_GATE_ESIA__BROKER__CLIENT_SECRET", SECRET)];
    let (ok, out) = check(&["-c", path_str(&path)], &env);
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "environment: esia.broker.client_secret from ESIA_GATE_ESIA__BROKER__CLIENT_SECRET"
        ),
        "{out}"
    );
    assert!(!out.contains(SECRET), "{out}");
    // A file that does not exist is not needed when the variable is set:
    // the environment wins.
    std::fs::write(&path, broker(&text, Some("/nonexistent/secret"))).expect("config");
    let (ok, out) = check(&["-c", path_str(&path)], &env);
    assert!(ok, "{out}");
    let (ok, out) = check(&["-c", path_str(&path)], &[]);
    assert!(!ok, "without the variable the file is read: {out}");
}

#[test]
fn the_admin_token_and_the_postgres_url_come_from_the_environment() {
    let (_dir, path, text) = prepared();
    // A public admin listener needs a token: the environment gives it.
    let public_admin = text.replacen("admin = \"127.0.0.1:", "admin = \"0.0.0.0:", 1);
    std::fs::write(&path, &public_admin).expect("config");
    let (ok, out) = check(&["-c", path_str(&path)], &[]);
    assert!(!ok && out.contains("admin.token_file"), "{out}");
    let token = "0123456789abcdef0123456789abcdef";
    let (ok, out) = check(
        &["-c", path_str(&path)],
        &[("ESIA_GATE_ADMIN__TOKEN", token)],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("admin.token from ESIA_GATE_ADMIN__TOKEN"),
        "{out}"
    );
    // A token too short to be safe is refused without being shown.
    let (ok, out) = check(
        &["-c", path_str(&path)],
        &[("ESIA_GATE_ADMIN__TOKEN", "short-token-xyz")],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("ESIA_GATE_ADMIN__TOKEN"), "{out}");
    assert!(!out.contains("short-token-xyz"), "{out}");

    // A PostgreSQL URL for a configuration without [directory.postgres]
    // is a mistake, said without the URL (it holds a password).
    std::fs::write(&path, &text).expect("config");
    let url = "postgresql://gate:pg-password-77@127.0.0.1:1/diary";
    let (ok, out) = check(
        &["-c", path_str(&path)],
        &[("ESIA_GATE_DIRECTORY__POSTGRES__URL", url)],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("[directory.postgres]"), "{out}");
    assert!(!out.contains("pg-password-77"), "{out}");
}

#[test]
fn an_unknown_or_empty_variable_is_an_error_naming_it() {
    let (_dir, path, _) = prepared();
    // A typo would leave the file's secret in use without a word.
    let (ok, out) = check(
        &["-c", path_str(&path)],
        &[("ESIA_GATE_ESIA__CLIENT_SECRT", SECRET)],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("ESIA_GATE_ESIA__CLIENT_SECRT"), "{out}");
    assert!(
        out.contains("ESIA_GATE_ADMIN__TOKEN"),
        "lists what can: {out}"
    );
    assert!(!out.contains(SECRET), "{out}");
    let (ok, out) = check(
        &["-c", path_str(&path)],
        &[("ESIA_GATE_STORE__PASSWORD", "")],
    );
    assert!(!ok && out.contains("is empty"), "{out}");
    // Variables without a section are not settings (scripts use some).
    let (ok, out) = check(&["-c", path_str(&path)], &[("ESIA_GATE_TEST_THREADS", "2")]);
    assert!(ok, "{out}");
}
