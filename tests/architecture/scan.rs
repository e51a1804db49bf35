//! Reading a Rust file for the module paths it names, without a parser: comments, strings and
//! character literals are removed first (nested block comments, raw and byte strings, raw
//! identifiers), then `use` trees and `crate::` / `super::` / `gslbd::` paths are read, with
//! where each sits (inside which inline `mod x { … }`).

pub fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The text with comments, strings and character literals blanked (each string becomes `""`),
/// and raw identifiers (`r#name`) written as plain ones.
pub fn code_of(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let prev_ident = out.chars().next_back().is_some_and(is_ident);
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        // Raw strings (r"…", r#"…"#, br"…") and raw identifiers (r#name).
        let raw_start = if c == 'r' && !prev_ident {
            Some(i + 1)
        } else if c == 'b' && at(i + 1) == 'r' && !prev_ident {
            Some(i + 2)
        } else {
            None
        };
        if let Some(mut j) = raw_start {
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) == '"' {
                j += 1;
                loop {
                    if j >= chars.len() {
                        break;
                    }
                    if chars[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
                continue;
            }
            if c == 'r' && hashes == 1 && is_ident(at(j)) {
                i = j;
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
            continue;
        }
        if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            if at(i + 2) == '\'' {
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Where each `use` item is: (start, the tree's text, whether it is `pub`).
pub fn use_items(code: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    for (start, _) in code.match_indices("use") {
        let before = code[..start].chars().next_back();
        let after = code[start + 3..].chars().next();
        if before.is_some_and(is_ident) || !after.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(end) = code[start..].find(';') else {
            continue;
        };
        let head = code[..start].trim_end();
        let public = head.ends_with("pub") || (head.ends_with(')') && head.contains("pub("));
        out.push((start, code[start + 3..start + end].to_string(), public));
    }
    out
}

/// The paths a `use` tree names, with the name each is bound to: `a::{b, c::{d as e}}` is
/// `a::b` (b) and `a::c::d` (e).
pub fn expand(tree: &str, prefix: &[String], out: &mut Vec<(Vec<String>, Option<String>)>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    let split = |s: &str| -> Vec<String> {
        s.split("::")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    };
    if let Some(open) = tree.find('{')
        && tree.ends_with('}')
    {
        let mut base = prefix.to_vec();
        base.extend(split(&tree[..open]));
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
    let mut parts = tree.split(" as ");
    let path = parts.next().unwrap_or(tree);
    let alias = parts.next().map(|a| a.trim().to_string());
    let mut p = prefix.to_vec();
    p.extend(split(path));
    out.push((p, alias));
}

/// Every `crate::…`, `super::…` and `gslbd::…` path outside `use` items, with its position.
pub fn expr_paths(code: &str, uses: &[(usize, usize)]) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    for root in ["crate::", "super::", "gslbd::"] {
        for (start, _) in code.match_indices(root) {
            if code[..start].chars().next_back().is_some_and(is_ident)
                || uses.iter().any(|(a, b)| (*a..*b).contains(&start))
            {
                continue;
            }
            let len = code[start..]
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(code.len() - start);
            let path = code[start..start + len]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            out.push((start, path));
        }
    }
    out
}

/// The spans of inline modules (`mod name { … }`): inside one, `super` is one level less up.
pub fn inline_modules(code: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    for (start, _) in code.match_indices("mod") {
        if code[..start].chars().next_back().is_some_and(is_ident)
            || !code[start + 3..].starts_with(char::is_whitespace)
        {
            continue;
        }
        let rest = code[start + 3..].trim_start();
        let name_len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if name_len == 0 || !rest[name_len..].trim_start().starts_with('{') {
            continue;
        }
        let Some(open) = code[start..].find('{').map(|o| start + o) else {
            continue;
        };
        let mut depth = 0;
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        spans.push((open, open + i));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    spans
}

/// The values of `#[path = "…"]` attributes (read from the raw text: `code_of` blanks strings).
pub fn path_attributes(text: &str) -> Vec<String> {
    text.match_indices("#[path")
        .filter_map(|(i, _)| {
            let rest = &text[i..];
            let open = rest.find('"')?;
            let close = rest[open + 1..].find('"')?;
            Some(rest[open + 1..open + 1 + close].to_string())
        })
        .collect()
}
