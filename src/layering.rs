//! The module layering, checked: a module may import only modules below it, so data flows one
//! way (see `ARCHITECTURE.md`). The test reads the sources, so a new `use crate::…` that goes
//! up a layer fails `cargo test` with the offending file and line.

/// Top-level library modules from the bottom layer up. A module may import any module of a
/// lower rank; modules of equal rank are independent of each other.
const LAYERS: &[(&str, u8)] = &[
    ("base", 0),
    ("config", 1),
    ("storage", 2),
    ("log", 3),
    ("metadata", 4),
    ("coordinator", 5),
    ("handlers", 6),
    ("server", 7),
    ("logging", 7),
    ("service", 7),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

/// The top-level modules a text names through `crate::`, including `crate::{a, b::c}` over
/// several lines, each with the byte offset where it is named.
fn crate_modules_at(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let Some(at) = text[offset..].find("crate::") {
        offset += at + "crate::".len();
        let rest = &text[offset..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            let mut end = group.len();
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = i;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push((offset, first_ident(&group[start..i])));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            found.push((offset, first_ident(&group[start..end])));
        } else {
            found.push((offset, first_ident(rest)));
        }
    }
    found.retain(|(_, m)| !m.is_empty());
    found
}

fn first_ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn crate_modules(text: &str) -> Vec<String> {
        crate_modules_at(text).into_iter().map(|(_, m)| m).collect()
    }

    #[test]
    fn parses_grouped_imports() {
        assert_eq!(
            crate_modules("use crate::{log::X, metadata::{A, B}, base};"),
            ["log", "metadata", "base"]
        );
        assert_eq!(
            crate_modules("let t = crate::base::clock::now_ms();"),
            ["base"]
        );
        assert_eq!(
            crate_modules("use crate::{\n    config::A,\n    log::{B, C},\n};"),
            ["config", "log"]
        );
    }

    #[test]
    fn no_module_imports_a_higher_layer() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut violations = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).expect("under src");
            let top = relative
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|s| s.trim_end_matches(".rs").to_string())
                .unwrap_or_default();
            // The binary (cli/, main.rs) uses the library as `strom::`, and lib.rs declares it.
            let Some(own) = rank(&top) else { continue };
            let text = std::fs::read_to_string(&file).expect("readable source");
            // Comments (doc links included) are not imports.
            let code: String = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("//") {
                        ""
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            for (at, module) in crate_modules_at(&code) {
                if module == top {
                    continue;
                }
                match rank(&module) {
                    Some(r) if r < own => {}
                    _ => violations.push(format!(
                        "{}:{}: {top} imports {module}",
                        relative.display(),
                        code[..at].lines().count()
                    )),
                }
            }
        }
        assert!(
            violations.is_empty(),
            "imports against the layering:\n{}",
            violations.join("\n")
        );
    }
}
