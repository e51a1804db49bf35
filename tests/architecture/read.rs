//! Reading `src/`: every Rust file as the module it defines, every path it names resolved to
//! the module it lands in — through `super`, inline modules and the re-exports of parents —
//! as one [`Import`] per file and target.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::scan;

/// One import: from the module of `file` to a module, and where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Import {
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub file: String,
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

/// The module a file defines: `src/dns/rrl/mod.rs` is `dns::rrl`, `src/lib.rs` the root.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        parts.clear();
    }
    parts
}

/// A name a module re-exports (`pub use child::Item as Name;`): where it comes from.
type Reexports = BTreeMap<(Vec<String>, String), (Vec<String>, Option<String>)>;

/// A path as seen from module `me` at `at` in its code: the module path it starts from and the
/// rest (`None`: not a path into this crate).
fn absolute(me: &[String], path: &[String], depth: usize) -> Option<Vec<String>> {
    let first = path.first()?;
    match first.as_str() {
        "crate" | "gslbd" => Some(path[1..].to_vec()),
        "super" => {
            let ups = path.iter().take_while(|p| *p == "super").count();
            let ups = ups.saturating_sub(depth);
            let mut base = me.to_vec();
            if ups > base.len() {
                return None;
            }
            base.truncate(base.len() - ups);
            base.extend(path.iter().skip_while(|p| *p == "super").cloned());
            Some(base)
        }
        "self" => Some([me, &path[1..]].concat()),
        _ => None,
    }
}

/// The module an absolute path lands in: its longest prefix that is a module, then through
/// every re-export of the next name (a parent's `pub use child::Item` leads to the child).
fn landing(path: &[String], modules: &BTreeSet<Vec<String>>, reexports: &Reexports) -> Vec<String> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let mut target = path.clone();
        while !target.is_empty() && !modules.contains(&target) {
            target.pop();
        }
        let Some(name) = path.get(target.len()) else {
            return target;
        };
        match reexports.get(&(target.clone(), name.clone())) {
            Some((from, item)) if *from != target => {
                path = from.clone();
                path.extend(item.clone());
            }
            _ => return target,
        }
    }
    // A loop of re-exports (it would not compile): where the last hop landed.
    while !path.is_empty() && !modules.contains(&path) {
        path.pop();
    }
    path
}

/// Every import between two modules of the crate in `src/`, and what else is wrong with a file
/// (a `#[path]` that leaves its module's directory).
pub fn imports(root: &Path) -> (BTreeSet<Vec<String>>, Vec<Import>, Vec<String>) {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(root, f)).collect();
    let mut sources = Vec::new();
    let mut odd = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let name = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for p in scan::path_attributes(&text) {
            if p.contains("..") || p.starts_with('/') {
                odd.push(format!(
                    "{name}: #[path = {p:?}] leaves its module's directory"
                ));
            }
        }
        sources.push((module_of(root, file), name, scan::code_of(&text)));
    }
    // Pass 1: what each module re-exports.
    let mut reexports = Reexports::new();
    for (me, _, code) in &sources {
        for (_, tree, public) in scan::use_items(code) {
            if !public {
                continue;
            }
            let mut paths = Vec::new();
            scan::expand(&tree, &[], &mut paths);
            for (path, alias) in paths {
                let full = match absolute(me, &path, 0) {
                    Some(f) => f,
                    // `pub use child::Item`: a path from this module.
                    None if modules.contains(&[me.as_slice(), &path[..1]].concat()) => {
                        [me.as_slice(), &path].concat()
                    }
                    None => continue,
                };
                let Some(last) = full.last().cloned() else {
                    continue;
                };
                if last == "*" {
                    continue;
                }
                let name = alias.unwrap_or_else(|| last.clone());
                let mut from = full.clone();
                while !from.is_empty() && !modules.contains(&from) {
                    from.pop();
                }
                let item = full.get(from.len()).cloned();
                if from != *me {
                    reexports.insert((me.clone(), name), (from, item));
                }
            }
        }
    }
    // Pass 2: every path each file names, through the re-exports.
    let mut found = Vec::new();
    for (me, name, code) in &sources {
        let inline = scan::inline_modules(code);
        let depth = |at: usize| {
            inline
                .iter()
                .filter(|(a, b)| (*a..*b).contains(&at))
                .count()
        };
        let uses = scan::use_items(code);
        let spans: Vec<(usize, usize)> =
            uses.iter().map(|(s, t, _)| (*s, s + t.len() + 3)).collect();
        let mut paths: Vec<(usize, Vec<String>)> = Vec::new();
        for (at, tree, _) in &uses {
            let mut expanded = Vec::new();
            scan::expand(tree, &[], &mut expanded);
            paths.extend(expanded.into_iter().map(|(p, _)| (*at, p)));
        }
        paths.extend(scan::expr_paths(code, &spans));
        for (at, path) in paths {
            let Some(full) = absolute(me, &path, depth(at)) else {
                continue;
            };
            let target = landing(&full, &modules, &reexports);
            if target == *me || (target.is_empty() && (me.is_empty() || me == &["main"])) {
                continue;
            }
            found.push(Import {
                from: me.clone(),
                to: target,
                file: name.clone(),
            });
        }
    }
    found.sort();
    found.dedup();
    (modules, found, odd)
}
