//! Kafka's `ConfigDef` vocabulary: config types, validators, defaults, and the parsing and
//! printing rules that go with them.
//!
//! Every config Strom knows is one [`ConfigDef`] row in a table (see `broker_defs` and
//! `topic_defs`), so parsing, defaults, validation messages and DescribeConfigs output all come
//! from one place and behave as Kafka's `ConfigDef.parseType` / `convertToString` do.

/// Kafka's `ConfigDef.Type`. The discriminant is the `ConfigType` id DescribeConfigs returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Password = 9,
}

impl ConfigType {
    /// The id DescribeConfigs uses for this type.
    pub fn id(self) -> i8 {
        self as i8
    }

    /// The name Kafka prints in "Not a number of type INT".
    fn java_name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Password => "PASSWORD",
        }
    }
}

/// A parsed config value. Passwords are kept as strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (a config whose default is `null`, such as `log.retention.ms`).
    Null,
    Bool(bool),
    Str(String),
    Int(i32),
    Short(i16),
    Long(i64),
    Double(f64),
    List(Vec<String>),
}

impl Value {
    /// `ConfigDef.convertToString`: how Kafka prints a value in DescribeConfigs (`None` for null).
    pub fn to_kafka_string(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => b.to_string(),
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Short(n) => n.to_string(),
            Value::Long(n) => n.to_string(),
            Value::Double(d) => java_double_string(*d),
            Value::List(items) => items.join(","),
        })
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_i16(&self) -> Option<i16> {
        match self {
            Value::Short(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Long(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// The string of a `STRING`/`PASSWORD`/`CLASS` value; `None` for null.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The value as a number, for range checks (Kafka compares `Number.doubleValue()`).
    fn as_number(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(f64::from(*n)),
            Value::Short(n) => Some(f64::from(*n)),
            Value::Long(n) => Some(*n as f64),
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }
}

/// A config's default: Kafka's `NO_DEFAULT_VALUE`, `null`, or a value written as Kafka writes
/// it in `server.properties` (parsed with the config's own type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    Required,
    Null,
    Is(&'static str),
}

/// Kafka's validators, with their exact rejection messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    Any,
    /// `Range.atLeast(min)`.
    AtLeast(i64),
    /// `Range.between(min, max)`.
    Between(i64, i64),
    /// `ValidString.in(...)` (case-sensitive).
    OneOf(&'static [&'static str]),
    /// `ValidList.in(...)`: every element must be one of these.
    EachOneOf(&'static [&'static str]),
    /// gzip's level: 1 to 9, or -1 for the codec's default.
    GzipLevel,
}

/// Why a raw value was rejected: the value as Kafka shows it in the message (raw for parse
/// errors, parsed for validator errors) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub shown: String,
    pub reason: String,
}

/// One row of a config table: Kafka's name, type, default and validator, and what it is for.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub ty: ConfigType,
    pub default: DefaultValue,
    pub validator: Validator,
    pub doc: &'static str,
}

impl ConfigDef {
    /// Parses and validates a raw value as Kafka's `ConfigDef.parseValue` does.
    pub fn parse(&self, raw: &str) -> Result<Value, Rejection> {
        let value = parse_type(self.ty, raw)?;
        self.validate(&value)?;
        Ok(value)
    }

    /// The parsed default; `Null` for a required config (it has none).
    pub fn default_value(&self) -> Value {
        match self.default {
            DefaultValue::Required | DefaultValue::Null => Value::Null,
            DefaultValue::Is(raw) => {
                let parsed = parse_type(self.ty, raw);
                parsed.expect("valid default") // invariant: table defaults parse (tested per table)
            }
        }
    }

    fn validate(&self, value: &Value) -> Result<(), Rejection> {
        let reject = |shown: String, reason: String| Err(Rejection { shown, reason });
        let shown = || value.to_kafka_string().unwrap_or_else(|| "null".into());
        match self.validator {
            Validator::Any => Ok(()),
            Validator::AtLeast(min) => match value.as_number() {
                Some(n) if n < min as f64 => {
                    reject(shown(), format!("Value must be at least {min}"))
                }
                _ => Ok(()),
            },
            Validator::Between(min, max) => match value.as_number() {
                Some(n) if n < min as f64 => {
                    reject(shown(), format!("Value must be at least {min}"))
                }
                Some(n) if n > max as f64 => {
                    reject(shown(), format!("Value must be no more than {max}"))
                }
                _ => Ok(()),
            },
            Validator::OneOf(valid) => match value.as_str() {
                Some(s) if !valid.contains(&s) => reject(s.into(), one_of(valid)),
                _ => Ok(()),
            },
            Validator::EachOneOf(valid) => {
                let items = value.as_list().unwrap_or_default();
                match items.iter().find(|item| !valid.contains(&item.as_str())) {
                    Some(bad) => reject(bad.clone(), one_of(valid)),
                    None => Ok(()),
                }
            }
            Validator::GzipLevel => match value.as_i32() {
                Some(level) if level != -1 && !(1..=9).contains(&level) => reject(
                    shown(),
                    "Value must be between 1 and 9 or equal to -1".into(),
                ),
                _ => Ok(()),
            },
        }
    }
}

fn one_of(valid: &[&str]) -> String {
    format!("String must be one of: {}", valid.join(", "))
}

/// `String.trim()` in Java: strips every character up to U+0020, not Unicode whitespace.
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Kafka's `Csv.parseCsvList`: comma separated, whitespace around commas dropped, empty
/// entries skipped.
pub fn csv_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|item| item.trim_matches(is_java_regex_space))
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// `\s` in a Java regex.
fn is_java_regex_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// `ConfigDef.parseType` for a string value.
fn parse_type(ty: ConfigType, raw: &str) -> Result<Value, Rejection> {
    let trimmed = java_trim(raw);
    let not_a_number = || Rejection {
        shown: raw.to_string(),
        reason: format!("Not a number of type {}", ty.java_name()),
    };
    Ok(match ty {
        ConfigType::Boolean => {
            if trimmed.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if trimmed.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                return Err(Rejection {
                    shown: raw.to_string(),
                    reason: "Expected value to be either true or false".into(),
                });
            }
        }
        ConfigType::String | ConfigType::Password => Value::Str(trimmed.to_string()),
        ConfigType::Int => Value::Int(trimmed.parse().map_err(|_| not_a_number())?),
        ConfigType::Short => Value::Short(trimmed.parse().map_err(|_| not_a_number())?),
        ConfigType::Long => Value::Long(trimmed.parse().map_err(|_| not_a_number())?),
        ConfigType::Double => Value::Double(trimmed.parse().map_err(|_| not_a_number())?),
        ConfigType::List if trimmed.is_empty() => Value::List(Vec::new()),
        ConfigType::List => Value::List(
            trimmed
                .split(',')
                .map(|item| item.trim_matches(is_java_regex_space).to_string())
                .collect(),
        ),
    })
}

/// `Double.toString` in Java: plain decimal for magnitudes in [1e-3, 1e7), otherwise
/// computerized scientific notation (`1.7976931348623157E308`); always with a fraction digit.
pub fn java_double_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let magnitude = d.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let plain = format!("{d}");
        return if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        };
    }
    let sci = format!("{d:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    if mantissa.contains('.') {
        format!("{mantissa}E{exponent}")
    } else {
        format!("{mantissa}.0E{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(ty: ConfigType, validator: Validator) -> ConfigDef {
        ConfigDef {
            name: "x",
            ty,
            default: DefaultValue::Null,
            validator,
            doc: "",
        }
    }

    fn rejection(d: &ConfigDef, raw: &str) -> (String, String) {
        let r = d.parse(raw).expect_err("must be rejected");
        (r.shown, r.reason)
    }

    #[test]
    fn numbers_are_trimmed_and_typed() {
        let int = def(ConfigType::Int, Validator::Any);
        assert_eq!(int.parse(" 3 "), Ok(Value::Int(3)));
        assert_eq!(int.parse("+3"), Ok(Value::Int(3)));
        assert_eq!(
            rejection(&int, "abc"),
            ("abc".into(), "Not a number of type INT".into())
        );
        assert_eq!(rejection(&int, "99999999999").1, "Not a number of type INT");
        assert_eq!(rejection(&int, "1.5").1, "Not a number of type INT");
        let short = def(ConfigType::Short, Validator::Any);
        assert_eq!(rejection(&short, "40000").1, "Not a number of type SHORT");
        let long = def(ConfigType::Long, Validator::Any);
        assert_eq!(rejection(&long, "").1, "Not a number of type LONG");
        assert_eq!(long.parse("-1"), Ok(Value::Long(-1)));
        let double = def(ConfigType::Double, Validator::Any);
        assert_eq!(double.parse("0.5"), Ok(Value::Double(0.5)));
    }

    #[test]
    fn booleans_ignore_case_only() {
        let b = def(ConfigType::Boolean, Validator::Any);
        assert_eq!(b.parse("TRUE"), Ok(Value::Bool(true)));
        assert_eq!(b.parse(" false"), Ok(Value::Bool(false)));
        assert_eq!(
            rejection(&b, "yes"),
            (
                "yes".into(),
                "Expected value to be either true or false".into()
            )
        );
    }

    #[test]
    fn lists_split_on_commas_and_keep_empty_items() {
        let l = def(ConfigType::List, Validator::Any);
        assert_eq!(l.parse(""), Ok(Value::List(vec![])));
        assert_eq!(
            l.parse(" a , b,,c "),
            Ok(Value::List(vec![
                "a".into(),
                "b".into(),
                "".into(),
                "c".into()
            ]))
        );
        assert_eq!(csv_list(" /a, /b,,"), vec!["/a", "/b"]);
    }

    #[test]
    fn validator_messages_match_kafka() {
        let at_least = def(ConfigType::Int, Validator::AtLeast(1));
        assert_eq!(
            rejection(&at_least, "0"),
            ("0".into(), "Value must be at least 1".into())
        );
        let between = def(ConfigType::Double, Validator::Between(0, 1));
        assert_eq!(
            rejection(&between, "2"),
            ("2.0".into(), "Value must be no more than 1".into())
        );
        let one_of = def(
            ConfigType::String,
            Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        );
        assert_eq!(
            rejection(&one_of, "createtime"),
            (
                "createtime".into(),
                "String must be one of: CreateTime, LogAppendTime".into()
            )
        );
        let each = def(
            ConfigType::List,
            Validator::EachOneOf(&["compact", "delete"]),
        );
        assert_eq!(each.parse("compact, delete").map(|_| ()), Ok(()));
        assert_eq!(
            rejection(&each, "delete,,compact"),
            ("".into(), "String must be one of: compact, delete".into())
        );
        let gzip = def(ConfigType::Int, Validator::GzipLevel);
        assert_eq!(gzip.parse("-1"), Ok(Value::Int(-1)));
        assert_eq!(
            rejection(&gzip, "0").1,
            "Value must be between 1 and 9 or equal to -1"
        );
    }

    #[test]
    fn values_print_as_kafka_prints_them() {
        assert_eq!(java_double_string(0.5), "0.5");
        assert_eq!(java_double_string(2.0), "2.0");
        assert_eq!(java_double_string(f64::MAX), "1.7976931348623157E308");
        assert_eq!(java_double_string(1e7), "1.0E7");
        assert_eq!(java_double_string(1.5e-4), "1.5E-4");
        assert_eq!(
            Value::List(vec!["uniform".into(), "range".into()]).to_kafka_string(),
            Some("uniform,range".into())
        );
        assert_eq!(Value::Null.to_kafka_string(), None);
        assert_eq!(
            Value::Long(i64::MAX).to_kafka_string(),
            Some("9223372036854775807".into())
        );
    }

    #[test]
    fn java_trim_strips_control_characters_only() {
        assert_eq!(java_trim("\u{1} x \t"), "x");
        assert_eq!(java_trim("\u{a0}x"), "\u{a0}x");
    }
}
