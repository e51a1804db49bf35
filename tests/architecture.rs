//! The module structure, read from `src/`: layers import only downward, and no modules form an
//! import cycle. A new upward or sideways import, or a loop between two files of one module,
//! fails this test with the modules and the file that imports.
//!
//! Every `use` tree and every `crate::…` / `super::…` path in a file is an import of the module
//! it names (the longest module path that exists). An import between a module and its own
//! submodules is not counted (a parent and its children are one unit); any other import is
//! counted between the two siblings under their nearest common parent. At the top, the
//! siblings must follow [`LAYERS`]; inside a module, siblings may import each other but never in
//! a cycle. Nothing imports from the crate root (`lib.rs`): it only wires the modules together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, bottom to top: a module imports only modules of lower layers; the
/// modules of one layer never import each other.
const LAYERS: &[&[&str]] = &[
    &["wire", "telemetry"],
    &["zone"],
    &["config"],
    &["probe"],
    &["health"],
    &["select", "cutover"],
    &["state", "cluster"],
    &["dns", "xfr"],
    &["status"],
    &["engine"],
    &["check"],
    &["simulate"],
    &["admin", "watch"],
    &["fuzzing"],
    &["server"],
    &["main"],
];

/// One import: from the module of `file` to a module, and where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    from: Vec<String>,
    to: Vec<String>,
    file: String,
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

/// The text without comments (so doc links and prose are not imports) and without string
/// literals.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            'r' if !out.chars().next_back().is_some_and(is_ident)
                && matches!(chars.peek(), Some('#') | Some('"')) =>
            {
                // A raw string: r"…", r#"…"#, with as many hashes to close as it opened.
                let mut hashes = 0;
                while chars.peek() == Some(&'#') {
                    chars.next();
                    hashes += 1;
                }
                if chars.next() != Some('"') {
                    out.push('r');
                    continue;
                }
                let mut closing = None;
                for c in chars.by_ref() {
                    match (closing, c) {
                        (Some(n), '#') if n < hashes => closing = Some(n + 1),
                        (_, '"') => closing = Some(0),
                        _ => closing = None,
                    }
                    if closing == Some(hashes) {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('x', '\n') or a lifetime ('a): skip only a literal.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.next();
                    chars.next();
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.next();
                    chars.next();
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The paths a `use` tree names: `a::{b, c::{d, e}}` is `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{')
        && tree.ends_with('}')
    {
        let mut base = prefix.to_vec();
        base.extend(
            tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from),
        );
        let inner = &tree[open + 1..tree.len() - 1];
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &base, out);
        return;
    }
    let path = tree.split(" as ").next().unwrap_or(tree);
    let mut p = prefix.to_vec();
    p.extend(
        path.split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
    );
    out.push(p);
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path a file's code names that starts with `crate`, `super` or (in main.rs) `gslbd`.
fn paths_in(code: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    // `use` trees.
    let mut at = 0;
    while let Some(i) = code[at..].find("use ") {
        let start = at + i;
        at = start + 4;
        if start > 0 && code[..start].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let Some(end) = code[start..].find(';') else {
            break;
        };
        let mut trees = Vec::new();
        expand(&code[start + 4..start + end], &[], &mut trees);
        out.extend(trees.into_iter().map(|t| (start, t)));
    }
    // Paths in expressions and types.
    for root in ["crate::", "super::", "gslbd::"] {
        let mut at = 0;
        while let Some(i) = code[at..].find(root) {
            let start = at + i;
            at = start + root.len();
            if start > 0 && code[..start].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let len = code[start..]
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(code.len() - start);
            let path: Vec<String> = code[start..start + len]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            out.push((start, path));
        }
    }
    out
}

/// Every import between two modules of the crate in `src/`.
fn imports(root: &Path) -> (BTreeSet<Vec<String>>, Vec<Import>) {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(root, f)).collect();
    let mut found = Vec::new();
    for file in &files {
        let me = module_of(root, file);
        let code = code_of(&std::fs::read_to_string(file).expect("read a source file"));
        // Inside an inline module (a file's `mod tests { … }`), `super` is the file's module.
        let inline = code
            .match_indices("mod ")
            .find(|(i, _)| {
                code[i + 4..]
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|t| t.starts_with('{'))
                    && !code[..*i].chars().next_back().is_some_and(is_ident)
            })
            .map_or(usize::MAX, |(i, _)| i);
        for (at, path) in paths_in(&code) {
            let Some(first) = path.first() else { continue };
            let mut target = match first.as_str() {
                "crate" => path[1..].to_vec(),
                "gslbd" if me == ["main"] => path[1..].to_vec(),
                "super" => {
                    let ups = path.iter().take_while(|p| *p == "super").count();
                    let ups = if at >= inline { ups - 1 } else { ups };
                    let mut base = me.clone();
                    base.truncate(base.len().saturating_sub(ups));
                    base.extend(path.iter().skip_while(|p| *p == "super").cloned());
                    base
                }
                _ => continue,
            };
            while !target.is_empty() && !modules.contains(&target) {
                target.pop();
            }
            let named_root_item = target.is_empty() && path.len() > 1 && path[1] != "*";
            if (target.is_empty() && !named_root_item) || target == me {
                continue;
            }
            found.push(Import {
                from: me.clone(),
                to: target,
                file: file
                    .strip_prefix(root)
                    .unwrap_or(file)
                    .display()
                    .to_string(),
            });
        }
    }
    found.sort();
    found.dedup();
    (modules, found)
}

/// The siblings an import runs between (their common parent, from, to); `None` between a
/// module and its own submodule.
fn siblings(i: &Import) -> Option<(Vec<String>, String, String)> {
    let common = i.from.iter().zip(&i.to).take_while(|(a, b)| a == b).count();
    let (a, b) = (i.from.get(common)?, i.to.get(common)?);
    Some((i.from[..common].to_vec(), a.clone(), b.clone()))
}

/// The cycles (strongly connected sets of more than one node) of a graph.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = edges
        .keys()
        .chain(edges.values().flat_map(|v| v.iter()))
        .collect();
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for n in &nodes {
        let set: BTreeSet<String> = nodes
            .iter()
            .filter(|m| reached[*n].contains(**m) && reached[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        if set.len() > 1 && !out.contains(&set) {
            out.push(set);
        }
    }
    out
}

/// What is wrong with the imports: upward or sideways imports between layers, imports from
/// the crate root, and cycles between the submodules of one module.
fn violations(imports: &[Import]) -> Vec<String> {
    let layer = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
    let mut wrong = Vec::new();
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut seen_at: BTreeMap<(Vec<String>, String, String), String> = BTreeMap::new();
    for i in imports {
        if i.to.is_empty() {
            wrong.push(format!(
                "{} imports from the crate root (lib.rs) in {}: move what it needs down",
                i.from.join("::"),
                i.file
            ));
            continue;
        }
        let Some((parent, a, b)) = siblings(i) else {
            continue;
        };
        if parent.is_empty() {
            match (layer(&a), layer(&b)) {
                (Some(x), Some(y)) if y > x => wrong.push(format!(
                    "upward import: {a} imports {b} (a higher layer) in {}",
                    i.file
                )),
                (Some(x), Some(y)) if y == x => wrong.push(format!(
                    "sideways import: {a} imports {b} (the same layer) in {}",
                    i.file
                )),
                (None, _) | (_, None) => wrong.push(format!(
                    "{a} imports {b} in {}: add the module to LAYERS in tests/architecture.rs",
                    i.file
                )),
                _ => {}
            }
            continue;
        }
        seen_at
            .entry((parent.clone(), a.clone(), b.clone()))
            .or_insert_with(|| i.file.clone());
        graphs
            .entry(parent)
            .or_default()
            .entry(a)
            .or_default()
            .insert(b);
    }
    for (parent, edges) in &graphs {
        for cycle in cycles(edges) {
            let through: Vec<String> = seen_at
                .iter()
                .filter(|((p, a, b), _)| p == parent && cycle.contains(a) && cycle.contains(b))
                .map(|((_, a, b), f)| format!("{a} -> {b} ({f})"))
                .collect();
            wrong.push(format!(
                "import cycle in {}: {}",
                parent.join("::"),
                through.join(", ")
            ));
        }
    }
    wrong.dedup();
    wrong
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn layers_import_only_downward_and_no_modules_form_a_cycle() {
    let (modules, imports) = imports(&src());
    assert!(
        modules.len() > 50,
        "src/ was read: {} modules",
        modules.len()
    );
    let top: BTreeSet<&str> = modules
        .iter()
        .filter_map(|m| m.first().map(String::as_str))
        .collect();
    let listed: BTreeSet<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    let unlisted: Vec<&&str> = top.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "modules missing from LAYERS: {unlisted:?}"
    );
    let wrong = violations(&imports);
    assert!(
        wrong.is_empty(),
        "{} violations:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_checker_finds_an_upward_import_a_sideways_one_and_a_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    write(
        "lib.rs",
        "pub mod zone;\npub mod dns;\npub mod xfr;\npub fn notify() {}\n",
    );
    write(
        "zone/mod.rs",
        "//! `crate::dns` in a comment is no import.\nuse crate::dns::Handler;\n",
    );
    write(
        "dns/mod.rs",
        "mod a;\nmod b;\nuse crate::{zone, xfr::serve};\n",
    );
    write("dns/a.rs", "use super::b::B;\npub struct A;\n");
    write(
        "dns/b.rs",
        "pub struct B(super::a::A);\nfn f() { let s = \"crate::xfr\"; }\n",
    );
    write(
        "xfr/mod.rs",
        "fn f() { crate::notify(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    );
    let (_, imports) = imports(root);
    let wrong = violations(&imports);
    let has = |s: &str| wrong.iter().any(|w| w.contains(s));
    assert!(has("upward import: zone imports dns"), "{wrong:#?}");
    assert!(has("sideways import: dns imports xfr"), "{wrong:#?}");
    assert!(has("import cycle in dns: a -> b"), "{wrong:#?}");
    assert!(has("xfr imports from the crate root"), "{wrong:#?}");
    assert_eq!(
        wrong.len(),
        4,
        "nothing else (comments, strings, tests' super::*): {wrong:#?}"
    );
}
