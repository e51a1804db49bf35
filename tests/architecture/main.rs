//! The module structure, read from `src/`: layers import only downward, and no modules form an
//! import cycle. A new upward or sideways import, or a loop between two files of one module,
//! fails this test with the modules and the file that imports.
//!
//! Every `use` tree and every `crate::…` / `super::…` / `gslbd::…` path in a file is an import
//! of the module it lands in (the longest module path that exists, then through re-exports:
//! `super::Item` that a parent re-exports from a sibling is an import of that sibling). An
//! import between a module and its own submodules is not counted (a parent and its children are
//! one unit); any other import is counted between the two siblings under their nearest common
//! parent. At the top, the siblings must follow [`LAYERS`]; inside a module, siblings may import
//! each other but never in a cycle. Nothing imports from the crate root (`lib.rs`, globs and
//! aliases of it included), and no `#[path]` leaves its module's directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod read;
mod scan;

use read::{Import, imports};

/// The top-level modules, bottom to top: a module imports only modules of lower layers; the
/// modules of one layer never import each other.
const LAYERS: &[&[&str]] = &[
    &["wire", "telemetry", "sched", "allocs"],
    &["zone"],
    &["dnssec"],
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
    let (modules, imports, odd) = imports(&src());
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
    let mut wrong = violations(&imports);
    wrong.extend(odd);
    assert!(
        wrong.is_empty(),
        "{} violations:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A crate in a temporary directory: its files, then what the checker says of it.
fn check(files: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let (_, imports, odd) = imports(dir.path());
    let mut wrong = violations(&imports);
    wrong.extend(odd);
    wrong
}

const LIB: (&str, &str) = (
    "lib.rs",
    "pub mod zone;\npub mod dns;\npub mod xfr;\npub mod engine;\npub fn notify() {}\n",
);

#[test]
fn the_checker_finds_an_upward_import_a_sideways_one_and_a_cycle() {
    let wrong = check(&[
        LIB,
        (
            "zone/mod.rs",
            "//! `crate::dns` in a comment is no import.\nuse crate::dns::Handler;\n",
        ),
        (
            "dns/mod.rs",
            "mod a;\nmod b;\nuse crate::{zone, xfr::serve};\n",
        ),
        ("dns/a.rs", "use super::b::B;\npub struct A;\n"),
        (
            "dns/b.rs",
            "pub struct B(super::a::A);\nfn f() { let s = \"crate::xfr\"; }\n",
        ),
        (
            "xfr/mod.rs",
            "fn f() { crate::notify(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
        ("engine/mod.rs", ""),
    ]);
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

#[test]
fn the_checker_sees_through_re_exports_globs_aliases_and_odd_syntax() {
    // Each case: one file of zone (the bottom) that reaches the engine (the top), or a cycle
    // hidden behind a parent's re-export; each must be found.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            "glob of the root",
            &[("zone/mod.rs", "use crate::*;\nfn f() { engine::go(); }\n")],
            "zone imports from the crate root",
        ),
        (
            "alias of the root",
            &[(
                "zone/mod.rs",
                "use crate as c;\nfn f() { c::engine::go(); }\n",
            )],
            "zone imports from the crate root",
        ),
        (
            "a test module first",
            &[
                ("zone/mod.rs", "mod t {}\nmod a;\n"),
                (
                    "zone/a.rs",
                    "#[cfg(test)]\nmod tests {}\nfn f() { super::super::engine::go(); }\n",
                ),
            ],
            "upward import: zone imports engine",
        ),
        (
            "use on its own line",
            &[("zone/mod.rs", "use\n    crate::{engine::go};\n")],
            "upward import: zone imports engine",
        ),
        (
            "a raw byte string",
            &[(
                "zone/mod.rs",
                "const B: &[u8] = br\"\\\\\";\nfn f() { crate::engine::go(); }\n",
            )],
            "upward import: zone imports engine",
        ),
        (
            "a raw identifier",
            &[("zone/mod.rs", "fn f() { crate::r#engine::go(); }\n")],
            "upward import: zone imports engine",
        ),
        (
            "gslbd:: from a module",
            &[("zone/mod.rs", "fn f() { ::gslbd::engine::go(); }\n")],
            "upward import: zone imports engine",
        ),
        (
            "a path attribute",
            &[("zone/mod.rs", "#[path = \"../engine/x.rs\"]\nmod x;\n")],
            "leaves its module's directory",
        ),
        (
            "a cycle through a re-export",
            &[
                (
                    "zone/mod.rs",
                    "mod a;\nmod b;\npub use a::A;\npub use b::B;\n",
                ),
                ("zone/a.rs", "pub struct A(super::B);\n"),
                ("zone/b.rs", "pub struct B(super::A);\n"),
            ],
            "import cycle in zone: a -> b",
        ),
    ];
    for (what, files, expected) in cases {
        let mut all: Vec<(&str, &str)> = vec![
            LIB,
            ("dns/mod.rs", ""),
            ("xfr/mod.rs", ""),
            ("engine/mod.rs", "pub fn go() {}\n"),
        ];
        all.extend(files.iter().copied());
        let wrong = check(&all);
        assert!(
            wrong.iter().any(|w| w.contains(expected)),
            "{what}: {wrong:#?}"
        );
    }
    // And what is no import: a nested block comment, a string, a lifetime.
    let wrong = check(&[
        LIB,
        ("dns/mod.rs", ""),
        ("xfr/mod.rs", ""),
        ("engine/mod.rs", ""),
        (
            "zone/mod.rs",
            "/* a /* nested */ crate::engine::go */\nfn f<'a>(s: &'a str) -> &'a str { \"crate::engine\"; s }\n",
        ),
    ]);
    assert!(wrong.is_empty(), "{wrong:#?}");
}
