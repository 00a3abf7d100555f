//! Each library's public API is a deliberate list: `crates/core/public-api.txt` (the core,
//! `sip_resync_core`) and `crates/agent/public-api.txt` (the agent, `sip_resync`) hold one line
//! per public item (modules, types, functions, constants, fields, variants, inherent methods
//! and trait implementations), and this test fails when a library and its list differ.
//!
//! The list is read from rustdoc's JSON output. That output is still unstable in rustdoc, so
//! the test enables it on the stable toolchain with `RUSTC_BOOTSTRAP=1` (for this rustdoc
//! invocation only, in its own target directory) and reads only the few fields that every
//! format version since 40 has: `index`, `root`, `visibility`, `inner`. After a deliberate change
//! of the API, rewrite the list with
//!
//! ```text
//! UPDATE_PUBLIC_API=1 cargo test --test public_api
//! ```
//!
//! and review the diff of `public-api.txt` like any other change.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs rustdoc on one library of the workspace and returns its JSON description.
fn rustdoc_json(package: &str, lib: &str) -> Value {
    let target = repo().join("target").join("public-api");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo())
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTDOCFLAGS")
        .args(["rustdoc", "--quiet", "--lib", "-p", package, "--"])
        .args(["-Z", "unstable-options", "--output-format", "json"])
        .args(["--cap-lints", "allow"])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo rustdoc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = target.join("doc").join(format!("{lib}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("rustdoc JSON")
}

/// Walks the public items reachable from the crate root.
struct Walker<'a> {
    index: &'a serde_json::Map<String, Value>,
    lines: BTreeSet<String>,
    seen: HashSet<(String, String)>,
}

fn id_key(id: &Value) -> String {
    match id {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn kind(item: &Value) -> (&str, &Value) {
    match &item["inner"] {
        Value::Object(m) => {
            let (k, v) = m.iter().next().expect("inner has one key");
            (k.as_str(), v)
        }
        Value::String(s) => (s.as_str(), &Value::Null),
        _ => ("?", &Value::Null),
    }
}

fn is_public(item: &Value) -> bool {
    item["visibility"] == "public"
}

fn path_text(p: &Value) -> String {
    // A trait path: `{"path": "Display", "id": .., "args": ..}` (older formats: `name`).
    p.get("path")
        .or_else(|| p.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

impl<'a> Walker<'a> {
    fn item(&self, id: &Value) -> Option<&'a Value> {
        self.index.get(&id_key(id))
    }

    fn module(&mut self, path: &str, items: &Value) {
        for id in items.as_array().into_iter().flatten() {
            let Some(item) = self.item(id) else { continue };
            if !is_public(item) {
                continue;
            }
            let (k, inner) = kind(item);
            if k == "use" {
                let name = inner["name"].as_str().unwrap_or("?");
                let glob = inner["is_glob"].as_bool().unwrap_or(false);
                match inner.get("id").and_then(|t| self.item(t)) {
                    Some(target) if glob => {
                        if let ("module", m) = kind(target) {
                            self.module(path, &m["items"]);
                        }
                    }
                    Some(target) => self.named(&format!("{path}::{name}"), target),
                    None if glob => {
                        let source = inner["source"].as_str().unwrap_or("?");
                        self.lines
                            .insert(format!("pub use {path}::* = {source}::*"));
                    }
                    None => {
                        let source = inner["source"].as_str().unwrap_or("?");
                        self.lines
                            .insert(format!("pub use {path}::{name} = {source}"));
                    }
                }
                continue;
            }
            let Some(name) = item["name"].as_str() else {
                continue;
            };
            self.named(&format!("{path}::{name}"), item);
        }
    }

    fn named(&mut self, path: &str, item: &'a Value) {
        let (k, inner) = kind(item);
        if !self.seen.insert((path.to_string(), id_key(&item["id"]))) {
            return;
        }
        match k {
            "module" => {
                self.lines.insert(format!("mod {path}"));
                self.module(path, &inner["items"]);
            }
            "struct" => {
                self.lines.insert(format!("struct {path}"));
                let fields = match &inner["kind"] {
                    Value::Object(m) => m
                        .get("plain")
                        .map(|p| p["fields"].clone())
                        .or_else(|| m.get("tuple").cloned())
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                for (i, f) in fields.as_array().into_iter().flatten().enumerate() {
                    if let Some(field) = self.item(f).filter(|f| is_public(f)) {
                        let name = field["name"].as_str().map_or(i.to_string(), str::to_string);
                        self.lines.insert(format!("field {path}::{name}"));
                    }
                }
                self.impls(path, &inner["impls"]);
            }
            "enum" => {
                self.lines.insert(format!("enum {path}"));
                for v in inner["variants"].as_array().into_iter().flatten() {
                    if let Some(variant) = self.item(v) {
                        let name = variant["name"].as_str().unwrap_or("?");
                        self.lines.insert(format!("variant {path}::{name}"));
                        if let Value::Object(m) = &variant["inner"]["variant"]["kind"] {
                            if let Some(st) = m.get("struct") {
                                for f in st["fields"].as_array().into_iter().flatten() {
                                    if let Some(field) = self.item(f) {
                                        let fname = field["name"].as_str().unwrap_or("?");
                                        self.lines.insert(format!("field {path}::{name}::{fname}"));
                                    }
                                }
                            }
                        }
                    }
                }
                self.impls(path, &inner["impls"]);
            }
            "trait" => {
                self.lines.insert(format!("trait {path}"));
                for i in inner["items"].as_array().into_iter().flatten() {
                    if let Some(m) = self.item(i) {
                        let name = m["name"].as_str().unwrap_or("?");
                        self.lines.insert(format!("trait-item {path}::{name}"));
                    }
                }
            }
            "function" => {
                self.lines.insert(format!("fn {path}"));
            }
            "constant" | "static" => {
                self.lines.insert(format!("const {path}"));
            }
            "type_alias" => {
                self.lines.insert(format!("type {path}"));
            }
            "macro" => {
                self.lines.insert(format!("macro {path}"));
            }
            other => {
                self.lines.insert(format!("{other} {path}"));
            }
        }
    }

    fn impls(&mut self, path: &str, impls: &Value) {
        for i in impls.as_array().into_iter().flatten() {
            let Some(imp) = self.item(i) else { continue };
            let (_, inner) = kind(imp);
            if inner["is_synthetic"].as_bool() == Some(true) || !inner["blanket_impl"].is_null() {
                continue;
            }
            match &inner["trait"] {
                Value::Null => {
                    for m in inner["items"].as_array().into_iter().flatten() {
                        let Some(method) = self.item(m).filter(|m| is_public(m)) else {
                            continue;
                        };
                        let name = method["name"].as_str().unwrap_or("?");
                        let what = match kind(method).0 {
                            "function" => "fn",
                            "assoc_const" => "const",
                            _ => "assoc",
                        };
                        self.lines.insert(format!("{what} {path}::{name}"));
                    }
                }
                t => {
                    let tr = path_text(t);
                    self.lines.insert(format!("impl {tr} for {path}"));
                }
            }
        }
    }
}

/// The public items of a library, one line each, sorted.
fn public_items(package: &str, lib: &str) -> Vec<String> {
    let doc = rustdoc_json(package, lib);
    let index = doc["index"].as_object().expect("index");
    let root = index.get(&id_key(&doc["root"])).expect("root module");
    let mut walker = Walker {
        index,
        lines: BTreeSet::new(),
        seen: HashSet::new(),
    };
    walker.module(lib, &kind(root).1["items"]);
    walker.lines.into_iter().collect()
}

fn read_list(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_core_public_api_is_its_checked_in_list() {
    check("sip-resync-core", "sip_resync_core", "crates/core");
}

#[test]
fn the_agent_public_api_is_its_checked_in_list() {
    check("sip-resync", "sip_resync", "crates/agent");
}

fn check(package: &str, lib: &str, dir: &str) {
    let items = public_items(package, lib);
    let path = repo().join(dir).join("public-api.txt");
    let items_only = |lines: &[String]| lines.iter().filter(|l| !l.starts_with("impl ")).count();
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        let mut text = String::from(
            "# The public API of the {lib} library, one item per line.\n\
             # Checked by tests/public_api.rs; rewrite with\n\
             #   UPDATE_PUBLIC_API=1 cargo test --test public_api\n",
        )
        .replace("{lib}", lib);
        for line in &items {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        println!(
            "wrote {}: {} items, {} trait implementations",
            path.display(),
            items_only(&items),
            items.len() - items_only(&items)
        );
        return;
    }
    let listed = read_list(&path);
    let have: BTreeSet<&String> = items.iter().collect();
    let want: BTreeSet<&String> = listed.iter().collect();
    let added: Vec<_> = have.difference(&want).collect();
    let removed: Vec<_> = want.difference(&have).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the public API of {lib} differs from {}\n\
         in the code, not in the list:\n  {}\n\
         in the list, not in the code:\n  {}\n\
         If the change is deliberate: UPDATE_PUBLIC_API=1 cargo test --test public_api",
        path.display(),
        added
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        removed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
    );
    assert!(items_only(&items) > 20, "the walk found the API: {items:?}");
}
