//! Java `.properties` text, read exactly as `java.util.Properties.load(Reader)` reads it and
//! written as `Properties.store(Writer, ..)` writes it.
//!
//! Kafka's `server.properties` and `meta.properties` are in this format, and users edit them by
//! hand, so every quirk of Java's reader matters: a file that Kafka accepts must mean the same
//! thing here. The reader mirrors the JDK's `LineReader` state machine (natural lines joined
//! into logical lines) and its key/value split, and remembers where each key was written so that
//! configuration errors can cite the line.

use std::collections::HashMap;

/// Why a properties text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertiesError {
    /// A `\u` escape without four hex digits (Java throws `IllegalArgumentException`).
    #[error("Malformed \\uxxxx encoding on line {line}")]
    MalformedUnicodeEscape {
        /// 1-based natural line holding the bad escape.
        line: usize,
    },
}

/// One key with its value and the line its logical line starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
    line: usize,
}

/// An ordered set of properties: keys keep the position of their first appearance (so a
/// re-written file stays diffable), values are the last one given (as in Java).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Properties {
    /// An empty set.
    pub fn new() -> Properties {
        Properties::default()
    }

    /// Parses `.properties` text as `Properties.load(Reader)` does.
    pub fn parse(text: &str) -> Result<Properties, PropertiesError> {
        let mut props = Properties::new();
        for logical in LogicalLines::new(text) {
            let (key, value) = split_key_value(&logical)?;
            props.insert(key, value, logical.start_line());
        }
        Ok(props)
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.index.get(key).map(|&i| self.entries[i].value.as_str())
    }

    /// The 1-based line where the logical line that last set `key` starts; `None` for keys
    /// that were [`set`](Properties::set) in code or never set.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.index
            .get(key)
            .map(|&i| self.entries[i].line)
            .filter(|&line| line > 0)
    }

    /// All `(key, value)` pairs in first-appearance order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `key` to `value` (replacing any earlier value, keeping its position).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.insert(key.into(), value.into(), 0);
    }

    /// The text `Properties.store(Writer, comments)` writes, without its comment and date
    /// lines: one `key=value` line per entry, escaped so that [`parse`](Properties::parse)
    /// reads back exactly the same keys and values. Non-ASCII characters are written as they
    /// are (the `Writer` flavour of `store`, which Kafka uses for `meta.properties`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            escape_into(&mut out, &entry.key, true);
            out.push('=');
            escape_into(&mut out, &entry.value, false);
            out.push('\n');
        }
        out
    }

    fn insert(&mut self, key: String, value: String, line: usize) {
        match self.index.get(&key) {
            Some(&i) => {
                self.entries[i].value = value;
                self.entries[i].line = line;
            }
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push(Entry { key, value, line });
            }
        }
    }
}

/// Whitespace as `Properties` understands it (not Unicode whitespace).
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

/// A logical line: its characters (continuations joined, continuation backslashes and the
/// leading whitespace of continued lines removed) with the natural line of each character.
struct LogicalLine {
    chars: Vec<char>,
    lines: Vec<usize>,
}

impl LogicalLine {
    fn start_line(&self) -> usize {
        self.lines.first().copied().unwrap_or(0)
    }
}

/// Characters of the text with the 1-based natural line each belongs to (`\n`, `\r` and
/// `\r\n` each end a line; a terminator belongs to the line it ends).
struct NumberedChars<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Iterator for NumberedChars<'_> {
    type Item = (char, usize);

    fn next(&mut self) -> Option<(char, usize)> {
        let c = self.chars.next()?;
        let line = self.line;
        let ends_line = c == '\n' || (c == '\r' && self.chars.peek() != Some(&'\n'));
        if ends_line {
            self.line += 1;
        }
        Some((c, line))
    }
}

/// The JDK's `Properties.LineReader`: yields logical lines, skipping blank and comment lines.
struct LogicalLines<'a> {
    chars: std::iter::Peekable<NumberedChars<'a>>,
}

impl<'a> LogicalLines<'a> {
    fn new(text: &'a str) -> LogicalLines<'a> {
        LogicalLines {
            chars: NumberedChars {
                chars: text.chars().peekable(),
                line: 1,
            }
            .peekable(),
        }
    }

    /// Consumes the rest of a comment line, up to and including its terminator.
    fn skip_comment(&mut self) {
        for (c, _) in self.chars.by_ref() {
            if c == '\n' || c == '\r' {
                return;
            }
        }
    }
}

impl Iterator for LogicalLines<'_> {
    type Item = LogicalLine;

    fn next(&mut self) -> Option<LogicalLine> {
        let mut line = LogicalLine {
            chars: Vec::new(),
            lines: Vec::new(),
        };
        let mut skip_white_space = true;
        let mut appended_line_begin = false;
        let mut preceding_backslash = false;
        loop {
            let Some((c, n)) = self.chars.next() else {
                // End of input: a lone trailing backslash is dropped.
                if preceding_backslash {
                    line.chars.pop();
                    line.lines.pop();
                }
                return (!line.chars.is_empty()).then_some(line);
            };
            if skip_white_space {
                if is_blank(c) || (!appended_line_begin && (c == '\r' || c == '\n')) {
                    continue;
                }
                skip_white_space = false;
                appended_line_begin = false;
            }
            if line.chars.is_empty() && (c == '#' || c == '!') {
                self.skip_comment();
                skip_white_space = true;
                continue;
            }
            if c != '\n' && c != '\r' {
                line.chars.push(c);
                line.lines.push(n);
                preceding_backslash = c == '\\' && !preceding_backslash;
                continue;
            }
            if line.chars.is_empty() {
                skip_white_space = true;
                continue;
            }
            if !preceding_backslash {
                return Some(line);
            }
            // Continuation: drop the backslash and the next line's leading whitespace.
            line.chars.pop();
            line.lines.pop();
            skip_white_space = true;
            appended_line_begin = true;
            preceding_backslash = false;
            if c == '\r' && matches!(self.chars.peek(), Some(('\n', _))) {
                self.chars.next();
            }
        }
    }
}

/// Splits a logical line into its unescaped key and value, as `Properties.load0` does: the key
/// ends at the first unescaped `=`, `:` or whitespace; whitespace and at most one `=`/`:`
/// after it are skipped; the rest is the value.
fn split_key_value(logical: &LogicalLine) -> Result<(String, String), PropertiesError> {
    let chars = &logical.chars;
    let limit = chars.len();
    let mut key_len = 0;
    let mut value_start = limit;
    let mut has_sep = false;
    let mut preceding_backslash = false;
    while key_len < limit {
        let c = chars[key_len];
        if !preceding_backslash && (c == '=' || c == ':') {
            value_start = key_len + 1;
            has_sep = true;
            break;
        }
        if !preceding_backslash && is_blank(c) {
            value_start = key_len + 1;
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
        key_len += 1;
    }
    while value_start < limit {
        let c = chars[value_start];
        if !is_blank(c) {
            if !has_sep && (c == '=' || c == ':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    let key = unescape(logical, 0, key_len)?;
    let value = unescape(logical, value_start, limit)?;
    Ok((key, value))
}

/// `Properties.loadConvert`: resolves `\t \n \r \f \uXXXX`; any other escaped character stands
/// for itself. Java strings are UTF-16, so `\uXXXX` pairs form surrogate pairs; a lone
/// surrogate (which no Rust string can hold) becomes U+FFFD.
fn unescape(logical: &LogicalLine, start: usize, end: usize) -> Result<String, PropertiesError> {
    let chars = &logical.chars[start..end];
    let mut out: Vec<u16> = Vec::with_capacity(chars.len());
    let mut units = [0u16; 2];
    let mut i = 0;
    while i < chars.len() {
        let mut c = chars[i];
        i += 1;
        if c == '\\' && i < chars.len() {
            c = chars[i];
            i += 1;
            if c == 'u' {
                let digits = chars.get(i..i + 4).and_then(|d| {
                    d.iter()
                        .try_fold(0u16, |acc, d| Some(acc * 16 + d.to_digit(16)? as u16))
                });
                let Some(unit) = digits else {
                    return Err(PropertiesError::MalformedUnicodeEscape {
                        line: logical.lines[start + i - 1],
                    });
                };
                out.push(unit);
                i += 4;
                continue;
            }
            c = match c {
                't' => '\t',
                'r' => '\r',
                'n' => '\n',
                'f' => '\u{c}',
                other => other,
            };
        }
        out.extend_from_slice(c.encode_utf16(&mut units));
    }
    Ok(String::from_utf16_lossy(&out))
}

/// `Properties.saveConvert` without Unicode escaping: backslash-escapes what the reader would
/// otherwise interpret (separators, comment markers, control whitespace, and spaces where the
/// reader would skip them: all spaces in keys, a leading space in values).
fn escape_into(out: &mut String, text: &str, escape_space: bool) {
    for (i, c) in text.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' if i == 0 || escape_space => out.push_str("\\ "),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Expected values were taken from `java.util.Properties.load(Reader)` on JDK 17.
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        let props = Properties::parse(text).expect("parses");
        let mut v: Vec<_> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn separators_and_surrounding_whitespace() {
        let text = "a=1\nb:2\nc 3\nd\t=\t4\n  e  :  5  \nf==6\ng::7\nh = =8\ni\n";
        assert_eq!(
            pairs(text),
            kv(&[
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
                ("e", "5  "),
                ("f", "=6"),
                ("g", ":7"),
                ("h", "=8"),
                ("i", ""),
            ])
        );
    }

    #[test]
    fn comment_lines_start_with_hash_or_bang_only_at_line_start() {
        let text = "# comment=1\n! bang=2\n  # indented=3\nx=#notcomment\n";
        assert_eq!(pairs(text), kv(&[("x", "#notcomment")]));
    }

    #[test]
    fn comment_line_ending_in_backslash_does_not_continue() {
        assert_eq!(pairs("# comment \\\nk=1\n"), kv(&[("k", "1")]));
    }

    #[test]
    fn continuation_drops_leading_whitespace_of_next_line() {
        let text = "k=one \\\n    two \\\n\tthree\n";
        assert_eq!(pairs(text), kv(&[("k", "one two three")]));
        assert_eq!(pairs("k\\\n  ey = va\\\n  lue\n"), kv(&[("key", "value")]));
    }

    #[test]
    fn even_backslashes_do_not_continue() {
        let text = "k=a\\\\\nm=b\\\\\\\nc\n";
        assert_eq!(pairs(text), kv(&[("k", "a\\"), ("m", "b\\c")]));
    }

    #[test]
    fn continued_line_starting_with_hash_is_not_a_comment() {
        assert_eq!(
            pairs("k=x\\\n# not a comment\n"),
            kv(&[("k", "x# not a comment")])
        );
    }

    #[test]
    fn blank_line_ends_a_continuation() {
        assert_eq!(pairs("k=v\\\n\nnext=1\n"), kv(&[("k", "v"), ("next", "1")]));
        assert_eq!(
            pairs("k=v\\\n   \nnext=1\n"),
            kv(&[("k", "v"), ("next", "1")])
        );
    }

    #[test]
    fn lone_backslash_line_then_comment_is_still_a_comment() {
        assert_eq!(pairs("\\\n#c\nz=1\n"), kv(&[("z", "1")]));
    }

    #[test]
    fn escapes() {
        let text = "k=\\t\\n\\r\\f\\\\\\=\\:\\#\\!\\ x\\z\n\\ key\\=x\\:y = v\n";
        assert_eq!(
            pairs(text),
            kv(&[(" key=x:y", "v"), ("k", "\t\n\r\u{c}\\=:#! xz")])
        );
        assert_eq!(
            pairs("key with\\ space=v\na\\\\b=c\n"),
            kv(&[("a\\b", "c"), ("key", "with space=v")])
        );
    }

    #[test]
    fn unicode_escapes_including_surrogate_pairs() {
        assert_eq!(
            pairs("k=\\u0041\\u00e9\\uD83D\\uDE00\n"),
            kv(&[("k", "Aé😀")])
        );
        // A lone surrogate cannot live in a Rust string.
        assert_eq!(pairs("k=\\uDE00x\n"), kv(&[("k", "\u{fffd}x")]));
    }

    #[test]
    fn malformed_unicode_escape_names_the_line() {
        assert_eq!(
            Properties::parse("a=1\nk=\\u00G1\n"),
            Err(PropertiesError::MalformedUnicodeEscape { line: 2 })
        );
        assert_eq!(
            Properties::parse("k=\\u00\n"),
            Err(PropertiesError::MalformedUnicodeEscape { line: 1 })
        );
        assert_eq!(
            Properties::parse("a=1\nk=x\\\n  \\u004"),
            Err(PropertiesError::MalformedUnicodeEscape { line: 3 })
        );
        let msg = PropertiesError::MalformedUnicodeEscape { line: 7 }.to_string();
        assert_eq!(msg, "Malformed \\uxxxx encoding on line 7");
    }

    #[test]
    fn trailing_lone_backslash_at_end_of_input_is_dropped() {
        assert_eq!(pairs("k=v\\"), kv(&[("k", "v")]));
    }

    #[test]
    fn last_duplicate_wins_and_keeps_first_position() {
        let props = Properties::parse("k=1\nother=x\nk=2\n").expect("parses");
        assert_eq!(props.get("k"), Some("2"));
        assert_eq!(props.line_of("k"), Some(3));
        let keys: Vec<_> = props.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["k", "other"]);
    }

    #[test]
    fn cr_lf_and_lone_cr_terminate_lines() {
        let text = "a=1\r\nb=2\\\r\n  c\rd=3\re=\\\n\n  f=4\n";
        assert_eq!(
            pairs(text),
            kv(&[("a", "1"), ("b", "2c"), ("d", "3"), ("e", ""), ("f", "4")])
        );
        let props = Properties::parse(text).expect("parses");
        assert_eq!(props.line_of("d"), Some(4));
        assert_eq!(props.line_of("f"), Some(7));
    }

    #[test]
    fn empty_keys_and_blank_lines() {
        assert_eq!(
            pairs("key\n=\n:x\n  \n\t\u{c}\n"),
            kv(&[("", "x"), ("key", "")])
        );
        assert!(Properties::parse("").expect("parses").is_empty());
    }

    #[test]
    fn line_numbers_are_where_the_logical_line_starts() {
        let text = "# 启用 KRaft 模式\n\n  a = 1\nb = x\\\n  y\n\n\nc=3";
        let props = Properties::parse(text).expect("parses");
        assert_eq!(props.line_of("a"), Some(3));
        assert_eq!(props.line_of("b"), Some(4));
        assert_eq!(props.line_of("c"), Some(8));
        assert_eq!(props.get("b"), Some("xy"));
    }

    #[test]
    fn non_ascii_text_is_kept() {
        assert_eq!(
            pairs("启用=模式\n# 启用 KRaft 模式\n"),
            kv(&[("启用", "模式")])
        );
    }

    #[test]
    fn set_replaces_and_has_no_line() {
        let mut props = Properties::parse("k=1\n").expect("parses");
        props.set("k", "2");
        props.set("new", "3");
        assert_eq!(props.get("k"), Some("2"));
        assert_eq!(props.line_of("k"), None);
        assert_eq!(props.len(), 2);
    }

    #[test]
    fn to_text_escapes_like_store() {
        let mut props = Properties::new();
        props.set(" lead key:=#!", " lead  value=:#!\\\t\n\r\u{c} end ");
        props.set("uni", "é启\u{1}");
        assert_eq!(
            props.to_text(),
            "\\ lead\\ key\\:\\=\\#\\!=\\ lead  value\\=\\:\\#\\!\\\\\\t\\n\\r\\f end \nuni=é启\u{1}\n"
        );
    }

    #[test]
    fn to_text_round_trips() {
        let mut props = Properties::new();
        for (k, v) in [
            ("cluster.id", "tM3-P24CQlGgg85tMKQKXA"),
            ("a b", "  x  "),
            ("#k", "!v\\"),
            ("", ""),
            ("multi", "line1\nline2\r\n"),
        ] {
            props.set(k, v);
        }
        let back = Properties::parse(&props.to_text()).expect("parses");
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            props.iter().collect::<Vec<_>>()
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_key_and_value_round_trip(
            entries in proptest::collection::vec((any::<String>(), any::<String>()), 0..8)
        ) {
            let mut props = Properties::new();
            for (k, v) in &entries {
                props.set(k.clone(), v.clone());
            }
            let back = Properties::parse(&props.to_text()).expect("store output parses");
            prop_assert_eq!(back.iter().collect::<Vec<_>>(), props.iter().collect::<Vec<_>>());
        }
    }
}
