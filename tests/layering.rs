//! The rooms stay as DESIGN.md draws them. Imports between the gateway's
//! top-level modules only point down the layers below; sibling files of one
//! module never import each other in a circle; no source file grows past
//! ~600 lines; the gateway's binary depends on no web framework and no part
//! of the development stack, and carries none of the emulator's pages.
//! Read from the sources themselves (`use` lines and `crate::`/`super::`
//! paths), so a new import that points up fails here, not in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first: a module may use only modules of a lower
/// layer (and its own).
const LAYERS: &[&[&str]] = &[
    &["telemetry", "clock"],
    &["config"],
    &["policy"],
    &["identity"],
    &["store"],
    &["esia"],
    &["pages"],
    &["auth"],
    &["admin"],
    &["proxy"],
    &["app"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without its unit tests (a test may use what it likes) and
/// without comments.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::NAME` paths in the code.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let path: Vec<String> = after
            .split("::")
            .map(|seg| {
                seg.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|s| !s.is_empty())
            .collect();
        out.push(path);
        rest = after;
    }
    out
}

/// `super::NAME` and `super::{NAME, ...}` names in the code.
fn super_names(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("super::") {
        let after = &rest[i + "super::".len()..];
        if let Some(list) = after.strip_prefix('{') {
            let inner = list.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != "super" {
                out.push(name);
            }
        }
        rest = after;
    }
    out
}

/// `src/a/b/c.rs` → `["a", "b", "c"]`; `mod.rs` names its folder.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

fn sources() -> (PathBuf, Vec<PathBuf>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    (src, files)
}

#[test]
fn imports_between_modules_only_point_down() {
    let (src, files) = sources();
    let mut wrong = Vec::new();
    for f in &files {
        let path = module_path(&src, f);
        let Some(top) = path.first().cloned() else {
            continue;
        };
        if matches!(top.as_str(), "lib" | "main") {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            wrong.push(format!(
                "{}: module `{top}` has no layer in tests/layering.rs",
                f.display()
            ));
            continue;
        };
        let code = code_of(&std::fs::read_to_string(f).unwrap_or_default());
        for p in crate_paths(&code) {
            let Some(target) = p.first() else { continue };
            if *target == top {
                continue;
            }
            match layer_of(target) {
                Some(l) if l < own => {}
                Some(_) => wrong.push(format!(
                    "{}: `{top}` uses `crate::{}`, which is not below it",
                    f.display(),
                    p.join("::")
                )),
                None => wrong.push(format!(
                    "{}: `crate::{target}` has no layer in tests/layering.rs",
                    f.display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn sibling_files_never_import_each_other_in_a_circle() {
    let (src, files) = sources();
    // Edges between sibling modules (children of one parent), by path.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(&src, f)).collect();
    for f in &files {
        let me = module_path(&src, f);
        if me.len() < 2 {
            continue;
        }
        let parent = &me[..me.len() - 1];
        let code = code_of(&std::fs::read_to_string(f).unwrap_or_default());
        let mut targets = Vec::new();
        // `super::x` from a file is a sibling `x` when `x` is a module.
        let is_mod_rs = f.file_name().is_some_and(|n| n == "mod.rs");
        if !is_mod_rs {
            for name in super_names(&code) {
                let mut t = parent.to_vec();
                t.push(name);
                targets.push(t);
            }
        }
        for p in crate_paths(&code) {
            if p.len() > parent.len() && p[..parent.len()] == *parent {
                targets.push(p[..=parent.len()].to_vec());
            }
        }
        for t in targets {
            if t != me && modules.contains(&t) {
                edges.entry(me.clone()).or_default().insert(t);
            }
        }
    }
    // Any cycle among those edges.
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let names: Vec<String> = trail.iter().map(|m| m.join("::")).collect();
                    cycles.push(format!("{} -> {}", names.join(" -> "), start.join("::")));
                } else if seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("dev").join("src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).ok()?.lines().count();
            (n > 600).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}

#[test]
fn the_gateways_dependencies_hold_no_web_framework_and_no_dev_stack() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "-p",
            "esia-gate",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && tree.contains("pingora"),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No web framework, no development stack, and no protobuf (prometheus
    // without its default features).
    for crate_name in ["axum ", "esia-gate-dev ", "protobuf "] {
        assert!(
            !tree.lines().any(|l| l.starts_with(crate_name)),
            "{crate_name}is a normal dependency of the gateway:\n{tree}"
        );
    }
    // One HTTP client stack: openidconnect rides on the gateway's reqwest.
    let mut clients: Vec<&str> = tree
        .lines()
        .filter(|l| l.starts_with("reqwest ") || l.starts_with("hyper "))
        .map(|l| l.split(" (").next().unwrap_or(l))
        .collect();
    clients.sort();
    clients.dedup();
    assert_eq!(clients.len(), 2, "one reqwest, one hyper: {clients:?}");
}

#[test]
fn openidconnect_is_used_only_where_esia_is_talked_to() {
    let (src, files) = sources();
    let outside: Vec<String> = files
        .iter()
        .filter(|f| module_path(&src, f).first().is_some_and(|m| m != "esia"))
        .filter(|f| {
            code_of(&std::fs::read_to_string(f).unwrap_or_default()).contains("openidconnect")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "openidconnect outside src/esia: {outside:?}"
    );
}

#[test]
fn the_gateways_binary_carries_none_of_the_emulators_pages() {
    let bin = std::fs::read(env!("CARGO_BIN_EXE_esia-gate")).expect("the gateway's binary");
    let holds = |needle: &str| bin.windows(needle.len()).any(|w| w == needle.as_bytes());
    // Sanity: the search finds the gateway's own page texts.
    assert!(holds("Войти через Госуслуги"));
    for emulator_text in [
        esia_gate_dev::emulator::BROKER_LOGIN_TITLE,
        esia_gate_dev::demo::DEMO_BROKER_SECRET,
        "Что дневник получил от шлюза",
        "__emulator/fault",
        "__diary/stats",
    ] {
        assert!(
            !holds(emulator_text),
            "the production binary contains the development stack's `{emulator_text}`"
        );
    }
}
