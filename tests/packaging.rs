//! The packages a region installs from: the `.deb` (`cargo deb`) passes
//! lintian, carries the binary, the unit, the system user, the example
//! configuration as a conffile and the policies, depends on the GOST
//! engine, and its unpacked example configuration passes the unpacked
//! `esia-gate check` once the region's own files (keys, directory export)
//! are in place; the `.rpm` (`cargo generate-rpm`) carries the same files.
//! Where a container runtime runs, the Dockerfile's image answers /healthz.
//!
//! The packages are made from this build's (debug) binary, stripped: the
//! package metadata is what is tested, and a release build would add a
//! whole optimised build of every dependency to the suite. `scripts/package`
//! makes the real ones from a release build.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output().unwrap_or_else(|e| {
        panic!("{shown}: {e} (scripts/test installs lintian, dpkg-dev, rpm, cargo-deb and cargo-generate-rpm)")
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(out.status.success(), "{shown} failed:\n{}", text(&out));
    text(&out)
}

/// A target directory with this build's binary, stripped, where the
/// packagers look for a profile named `staged`.
fn staged() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("staged")).expect("staged");
    ok(Command::new("strip")
        .arg("-o")
        .arg(dir.path().join("staged/esia-gate"))
        .arg(env!("CARGO_BIN_EXE_esia-gate")));
    dir
}

fn build_deb(target: &Path) -> PathBuf {
    let deb = target.join("esia-gate.deb");
    ok(Command::new("cargo")
        .args([
            "deb",
            "--no-build",
            "--no-strip",
            "--fast",
            "--profile",
            "staged",
        ])
        .args(["-p", "esia-gate", "--output"])
        .arg(&deb)
        .env("CARGO_TARGET_DIR", target)
        .current_dir(ROOT));
    deb
}

/// Every file (not directory) under `root`, relative, sorted.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(format!(
                    "/{}",
                    p.strip_prefix(root).expect("under").display()
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The installed paths the example configuration names, moved under `root`.
fn under_root(config: &str, root: &Path) -> String {
    let mut s = config.to_string();
    for prefix in [
        "/etc/esia-gate/",
        "/var/lib/esia-gate/",
        "/var/log/esia-gate/",
        "/run/esia-gate/",
        "/usr/share/esia-gate/",
    ] {
        s = s.replace(
            &format!("\"{prefix}"),
            &format!("\"{}{prefix}", root.display()),
        );
    }
    s
}

fn check(bin: &Path, config: &Path) -> (bool, String) {
    let out = run(Command::new(bin).arg("check").arg("--config").arg(config));
    (out.status.success(), text(&out))
}

#[test]
fn the_deb_passes_lintian_and_its_example_checks_with_the_regions_files() {
    let target = staged();
    let deb = build_deb(target.path());

    // No lintian error or warning; the overrides are in
    // packaging/debian/lintian-overrides, each with its reason.
    let out = run(Command::new("lintian")
        .args(["--fail-on", "error,warning", "--display-level", ">=warning"])
        .arg(&deb));
    assert!(out.status.success(), "lintian:\n{}", text(&out));

    let field = |name: &str| ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
    let depends = field("Depends");
    for dep in [
        "libengine-gost-openssl",
        "libssl3",
        "libc6",
        "ca-certificates",
        "systemd",
    ] {
        assert!(depends.contains(dep), "Depends: {depends}");
    }
    let control = target.path().join("control");
    ok(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).expect("conffiles");
    assert_eq!(conffiles.trim(), "/etc/esia-gate/gateway.toml");
    let postinst = std::fs::read_to_string(control.join("postinst")).expect("postinst");
    assert!(postinst.contains("systemd-sysusers"), "{postinst}");
    assert!(postinst.contains("chown root:esia-gate"), "{postinst}");
    assert!(
        !postinst.contains("deb-systemd-invoke start"),
        "installed, not started: the region's keys come first\n{postinst}"
    );

    let root = target.path().join("root");
    ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let files = files_under(&root);
    for f in [
        "/usr/bin/esia-gate",
        "/usr/sbin/esia-gate-upgrade",
        "/usr/lib/systemd/system/esia-gate.service",
        "/usr/lib/sysusers.d/esia-gate.conf",
        "/etc/esia-gate/gateway.toml",
        "/usr/share/esia-gate/policies/voronezh-2017.toml",
        "/usr/share/esia-gate/dashboards/esia-gate.json",
        "/usr/share/esia-gate/dashboards/alerts.yml",
        "/usr/share/doc/esia-gate/operations.md",
        "/usr/share/doc/esia-gate/ru/operations.md",
        "/usr/share/doc/esia-gate/copyright",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} in {files:#?}");
    }
    let unit = std::fs::read(root.join("usr/lib/systemd/system/esia-gate.service")).expect("unit");
    assert_eq!(
        unit,
        std::fs::read(Path::new(ROOT).join("config/esia-gate.service")).expect("unit"),
        "the unit tests/operations_deploy.rs verifies"
    );

    // The system user, made as postinst makes it (into the unpacked tree).
    ok(Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.display()))
        .arg(root.join("usr/lib/sysusers.d/esia-gate.conf")));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    let user = passwd
        .lines()
        .find(|l| l.starts_with("esia-gate:"))
        .unwrap_or_else(|| panic!("{passwd}"));
    assert!(
        user.ends_with(":/var/lib/esia-gate:/usr/sbin/nologin"),
        "{user}"
    );

    // The unpacked example, its installed paths moved under the unpacked
    // tree, with the directories systemd makes for the service.
    let config = root.join("etc/esia-gate/gateway.toml");
    let example = std::fs::read_to_string(&config).expect("example");
    assert_eq!(
        example,
        std::fs::read_to_string(Path::new(ROOT).join("config/gateway.example.toml"))
            .expect("example")
    );
    std::fs::write(&config, under_root(&example, &root)).expect("config");
    for d in ["var/lib/esia-gate", "var/log/esia-gate", "run/esia-gate"] {
        std::fs::create_dir_all(root.join(d)).expect("dir");
    }
    let bin = root.join("usr/bin/esia-gate");
    // As installed: the region's key, certificate and directory export are
    // missing, and `check` says which file, where.
    let (passed, out) = check(&bin, &config);
    assert!(!passed, "{out}");
    let keys = root.join("etc/esia-gate/keys");
    assert!(
        out.contains("esia.certificate")
            && out.contains(&keys.join("client-cert.pem").display().to_string()),
        "{out}"
    );
    // The region puts its files where the example says.
    esia_gate_dev::keys::ensure_dev_keys(&keys).expect("keys");
    let data = target.path().join("data");
    esia_gate_dev::fixtures::write_demo_fixtures(&data).expect("fixtures");
    std::fs::copy(
        data.join(esia_gate_dev::fixtures::ACCOUNTS_FILE),
        root.join("etc/esia-gate/accounts.csv"),
    )
    .expect("accounts");
    let (passed, out) = check(&bin, &config);
    assert!(passed, "{out}");
    assert!(out.contains(": OK"), "{out}");

    // With a shipped policy, as installed, in force.
    let with_policy = example.replace("# [policy]\n", "[policy]\n").replace(
        "# file = \"/etc/esia-gate/policy.toml\"",
        "file = \"/usr/share/esia-gate/policies/voronezh-2017.toml\"",
    );
    assert!(
        with_policy.contains("\n[policy]\n") && with_policy.contains("\nfile = \""),
        "the example's [policy] section"
    );
    std::fs::write(&config, under_root(&with_policy, &root)).expect("config");
    let (passed, out) = check(&bin, &config);
    assert!(passed, "{out}");
    for policy in files
        .iter()
        .filter(|f| f.starts_with("/usr/share/esia-gate/policies/") && f.ends_with(".toml"))
    {
        let path = root.join(policy.trim_start_matches('/'));
        ok(Command::new(&bin).args(["policy", "check"]).arg(&path));
    }
}

#[test]
fn the_rpm_carries_the_same_files_and_requires_the_gost_engine() {
    let target = staged();
    let rpm = target.path().join("esia-gate.rpm");
    ok(Command::new("cargo")
        .args([
            "generate-rpm",
            "-p",
            ".",
            "--profile",
            "staged",
            "--payload-compress",
            "gzip",
        ])
        .arg("--target-dir")
        .arg(target.path())
        .arg("-o")
        .arg(&rpm)
        .current_dir(ROOT));
    let query = |what: &[&str]| ok(Command::new("rpm").arg("-qp").args(what).arg(&rpm));
    let requires = query(&["--requires"]);
    for r in [
        "openssl-gost-engine",
        "ca-certificates",
        "/usr/bin/systemd-sysusers",
        "libcrypto.so.3",
    ] {
        assert!(
            requires.lines().any(|l| l.starts_with(r)),
            "Requires:\n{requires}"
        );
    }
    assert_eq!(
        query(&["--configfiles"]).trim(),
        "/etc/esia-gate/gateway.toml"
    );
    let scripts = query(&["--scripts"]);
    assert!(
        scripts.contains("systemd-sysusers /usr/lib/sysusers.d/esia-gate.conf"),
        "{scripts}"
    );
    let mut listed: Vec<String> = query(&["--list"]).lines().map(str::to_string).collect();
    listed.sort();

    // The .deb's files, less what only Debian has.
    let deb = build_deb(target.path());
    let root = target.path().join("root");
    ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let debian_only = [
        "/usr/share/doc/esia-gate/changelog.Debian.gz",
        "/usr/share/doc/esia-gate/copyright",
        "/usr/share/lintian/overrides/esia-gate",
    ];
    let from_deb: Vec<String> = files_under(&root)
        .into_iter()
        .filter(|f| !debian_only.contains(&f.as_str()))
        .collect();
    assert_eq!(listed, from_deb);
}

/// `rust-version` in Cargo.toml is the highest `rust-version` among the
/// binary's locked dependencies (build and normal, not dev): the oldest
/// Rust that builds it.
#[test]
fn rust_version_is_the_newest_dependencys() {
    let out = run(Command::new("cargo")
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .current_dir(ROOT));
    assert!(out.status.success(), "cargo metadata:\n{}", text(&out));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata");
    let packages = meta["packages"].as_array().expect("packages");
    let by_id = |id: &str| packages.iter().find(|p| p["id"] == id).expect("package");
    let nodes = meta["resolve"]["nodes"].as_array().expect("nodes");
    let root = packages
        .iter()
        .find(|p| p["name"] == "esia-gate")
        .expect("esia-gate");
    let declared = root["rust_version"]
        .as_str()
        .expect("rust-version in Cargo.toml");
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    // Walk normal and build dependencies from the gateway.
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![root["id"].as_str().expect("id").to_string()];
    let mut newest = (vec![0], String::new());
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let p = by_id(&id);
        if let Some(v) = p["rust_version"].as_str()
            && p["name"] != "esia-gate"
            && parse(v) > newest.0
        {
            newest = (parse(v), format!("{} {} ({v})", p["name"], p["version"]));
        }
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).expect("node");
        for d in node["deps"].as_array().into_iter().flatten() {
            let kinds = d["dep_kinds"].as_array().into_iter().flatten();
            if kinds
                .clone()
                .any(|k| k["kind"].is_null() || k["kind"] == "build")
            {
                todo.push(d["pkg"].as_str().expect("pkg").to_string());
            }
        }
    }
    let mut declared_parts = parse(declared);
    declared_parts.resize(newest.0.len().max(declared_parts.len()), 0);
    let mut newest_parts = newest.0.clone();
    newest_parts.resize(declared_parts.len(), 0);
    assert_eq!(
        declared_parts, newest_parts,
        "Cargo.toml says rust-version = {declared}; the newest dependency needs {}",
        newest.1
    );
}

/// A container runtime that answers, if any: podman, then docker.
fn container_runtime() -> Option<&'static str> {
    ["podman", "docker"].into_iter().find(|rt| {
        Command::new(rt)
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_image_answers_healthz_where_a_container_runtime_runs() {
    let Some(rt) = container_runtime() else {
        eprintln!(
            "SKIPPED: no container runtime answers here (`podman info` and `docker info` fail): \
             the Dockerfile is not built on this machine"
        );
        return;
    };
    // The base images come from a registry; without one the build cannot start.
    for base in ["rust:1-bookworm", "debian:bookworm-slim"] {
        let present = run(Command::new(rt).args(["image", "inspect", base]))
            .status
            .success()
            || run(Command::new(rt).args(["pull", base])).status.success();
        if !present {
            eprintln!(
                "SKIPPED: {rt} runs, but the base image {base} can be neither found nor pulled"
            );
            return;
        }
    }
    let tag = format!("esia-gate-test:{}", std::process::id());
    ok(Command::new(rt)
        .args(["build", "-t", &tag, "."])
        .current_dir(ROOT));

    // A configuration as a region mounts it: keys, directory, an admin token
    // (the admin listener binds 0.0.0.0 inside the container).
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path();
    esia_gate_dev::keys::ensure_dev_keys(&etc.join("keys")).expect("keys");
    esia_gate_dev::fixtures::write_demo_fixtures(&etc.join("data")).expect("fixtures");
    std::fs::write(
        etc.join("keys/admin-token"),
        "a-container-admin-token-of-enough-length\n",
    )
    .expect("token");
    let config = format!(
        "[listen]\npublic = \"0.0.0.0:8080\"\nadmin = \"0.0.0.0:9090\"\nupgrade_sock = \"/var/lib/esia-gate/upgrade.sock\"\n\
         [upstream]\nurl = \"http://127.0.0.1:8000\"\n[gateway]\npublic_url = \"http://127.0.0.1:8080\"\n\
         [esia]\nmode = \"v2\"\nbase_url = \"https://esia-portal1.test.gosuslugi.ru\"\nclient_id = \"DIARY\"\n\
         scope = \"openid fullname snils\"\ncertificate = \"keys/{}\"\nprivate_key = \"keys/{}\"\n\
         trusted_certificates = [\"keys/{}\"]\n[directory]\ncsv = \"data/accounts.csv\"\n\
         [store]\npath = \"/var/lib/esia-gate/esia-gate.redb\"\n[admin]\ntoken_file = \"keys/admin-token\"\n",
        esia_gate_dev::keys::CLIENT_CERT,
        esia_gate_dev::keys::CLIENT_KEY,
        esia_gate_dev::keys::ESIA_CERT,
    );
    std::fs::write(etc.join("gateway.toml"), config).expect("config");
    // The image's user (uid 10001) reads the mounted files.
    ok(Command::new("chmod").args(["-R", "a+rX"]).arg(etc));
    let port = support::free_port();
    let name = format!("esia-gate-test-{}", std::process::id());
    ok(Command::new(rt)
        .args([
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            &format!("127.0.0.1:{port}:9090"),
            "-v",
        ])
        .arg(format!("{}:/etc/esia-gate:ro", etc.display()))
        .arg(&tag));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let answered = loop {
        let out = Command::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{port}/healthz")])
            .output();
        if out.as_ref().is_ok_and(|o| o.status.success()) {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let logs = run(Command::new(rt).args(["logs", &name]));
    let _ = Command::new(rt).args(["rm", "-f", &name]).output();
    let _ = Command::new(rt).args(["rmi", "-f", &tag]).output();
    assert!(
        answered,
        "the container never answered /healthz:\n{}",
        text(&logs)
    );
}
