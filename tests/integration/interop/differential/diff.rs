//! Field-by-field comparison of decoded responses: each response's pretty `Debug` output is
//! flattened into `path = value` lines (e.g. `topics[0].partitions[1].error_code = 3`), so two
//! responses compare per field without hand-written comparisons for every message type.

use std::collections::BTreeMap;
use std::fmt::Debug;

/// Fields that legitimately differ between any two clusters, ignored in every step.
pub const IGNORED_FIELDS: &[(&str, &str)] = &[
    (
        "throttle_time_ms",
        "quota throttling is per broker and not part of conformance",
    ),
    ("cluster_id", "each cluster has its own id"),
    ("topic_id", "topic ids are random UUIDs"),
    ("host", "listener addresses differ by construction"),
    ("port", "listener ports differ by construction"),
];

/// One allowed difference: the step, a glob over the field path (`*` matches anything), and why.
pub struct Allowed {
    pub step: &'static str,
    pub field: &'static str,
    pub reason: &'static str,
}

/// A difference no allow-list entry explains.
#[derive(Debug)]
pub struct Difference {
    pub step: String,
    pub field: String,
    pub kafka: String,
    pub strom: String,
}

/// Flattens `{:#?}` output into path → value.
pub fn flatten(value: &impl Debug) -> BTreeMap<String, String> {
    let text = format!("{value:#?}");
    let mut out = BTreeMap::new();
    // Each open container: its path, whether it is a list (children get indices), next index.
    let mut stack: Vec<(String, bool, usize)> = vec![(String::new(), false, 0)];
    for raw in text.lines() {
        let line = raw.trim().trim_end_matches(',');
        if matches!(line, "}" | "]" | ")") {
            stack.pop();
            continue;
        }
        let (name, rest) = split_field(line);
        let top = stack
            .last_mut()
            .expect("invariant: the root frame is never popped");
        let path = match name {
            Some(n) if top.0.is_empty() => n.to_string(),
            Some(n) => format!("{}.{n}", top.0),
            None if top.1 => {
                top.2 += 1;
                format!("{}[{}]", top.0, top.2 - 1)
            }
            // The single field of a tuple struct or `Some(..)` keeps its parent's path.
            None => top.0.clone(),
        };
        if rest.ends_with('[') {
            stack.push((path, true, 0));
        } else if rest.ends_with('{') || rest.ends_with('(') {
            stack.push((path, false, 0));
        } else {
            out.insert(path, rest.to_string());
        }
    }
    out
}

/// Splits `name: value` when the line starts with a Rust field name.
fn split_field(line: &str) -> (Option<&str>, &str) {
    if let Some((name, rest)) = line.split_once(": ")
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return (Some(name), rest);
    }
    (None, line)
}

/// `*` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// Compares two flattened responses; returns the differences that neither the ignored fields
/// nor `allowed` explain, and marks the allow-list entries used (by index into `used`).
pub fn compare(
    step: &str,
    kafka: &BTreeMap<String, String>,
    strom: &BTreeMap<String, String>,
    allowed: &[Allowed],
    used: &mut [bool],
) -> Vec<Difference> {
    let mut found = Vec::new();
    let missing = "<absent>".to_string();
    let keys: std::collections::BTreeSet<&String> = kafka.keys().chain(strom.keys()).collect();
    for key in keys {
        let (k, s) = (
            kafka.get(key).unwrap_or(&missing),
            strom.get(key).unwrap_or(&missing),
        );
        if k == s {
            continue;
        }
        let last = key.rsplit('.').next().unwrap_or(key);
        if IGNORED_FIELDS.iter().any(|(f, _)| *f == last) {
            continue;
        }
        let hit = allowed
            .iter()
            .position(|a| glob(a.step, step) && glob(a.field, key));
        match hit {
            Some(i) => used[i] = true,
            None => found.push(Difference {
                step: step.to_string(),
                field: key.clone(),
                kafka: k.clone(),
                strom: s.clone(),
            }),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fields are read only through `Debug`, which is what `flatten` consumes.
    #[allow(dead_code)]
    #[derive(Debug)]
    struct Inner {
        code: i16,
        name: Option<String>,
    }
    #[allow(dead_code)]
    #[derive(Debug)]
    struct Outer {
        items: Vec<Inner>,
        id: (i32,),
    }

    #[test]
    fn flatten_names_nested_fields_and_list_items() {
        let v = Outer {
            items: vec![
                Inner {
                    code: 3,
                    name: Some("a: b".into()),
                },
                Inner {
                    code: 0,
                    name: None,
                },
            ],
            id: (7,),
        };
        let f = flatten(&v);
        assert_eq!(f["items[0].code"], "3");
        assert_eq!(f["items[0].name"], "\"a: b\"");
        assert_eq!(f["items[1].name"], "None");
        assert_eq!(f["id"], "7");
    }

    #[test]
    fn compare_reports_only_unlisted_differences() {
        let kafka = flatten(&Inner {
            code: 17,
            name: Some("x".into()),
        });
        let strom = flatten(&Inner {
            code: 3,
            name: Some("y".into()),
        });
        let allowed = [Allowed {
            step: "metadata.*",
            field: "name",
            reason: "test",
        }];
        let mut used = [false];
        let found = compare("metadata.one", &kafka, &strom, &allowed, &mut used);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "code");
        assert_eq!(
            (found[0].kafka.as_str(), found[0].strom.as_str()),
            ("17", "3")
        );
        assert!(used[0], "the allow-list entry was used");
        let other_step = compare("produce.one", &kafka, &strom, &allowed, &mut used);
        assert_eq!(other_step.len(), 2, "entries apply only to their steps");
    }

    #[test]
    fn glob_matches_wildcards() {
        assert!(glob("topics[*].error_message", "topics[0].error_message"));
        assert!(glob("*", "anything"));
        assert!(!glob("topics[*].name", "topics[0].error_code"));
    }
}
