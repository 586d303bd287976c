//! Kafka's topic-name rules (`org.apache.kafka.common.internals.Topic.validate`).

/// Why a topic name was rejected, worded as Kafka's `InvalidTopicException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTopicName {
    /// The empty string.
    #[error("Topic name is illegal, it can't be empty")]
    Empty,
    /// `.` or `..`, which would name a directory's self or parent.
    #[error("Topic name cannot be \".\" or \"..\"")]
    Dots,
    #[error(
        "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, topic name: {0}"
    )]
    /// Longer than a partition directory name allows.
    TooLong(String),
    #[error(
        "Topic name \"{0}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
    )]
    /// A character outside `[a-zA-Z0-9._-]`.
    IllegalCharacter(String),
}

/// Kafka's limit: a partition directory name (`<topic>-<partition>`) must fit in 255 bytes.
pub const MAX_NAME_LENGTH: usize = 249;

/// Checks a topic name against Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<(), InvalidTopicName> {
    if name.is_empty() {
        return Err(InvalidTopicName::Empty);
    }
    if name == "." || name == ".." {
        return Err(InvalidTopicName::Dots);
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(InvalidTopicName::TooLong(name.to_string()));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(InvalidTopicName::IllegalCharacter(name.to_string()));
    }
    Ok(())
}

/// Kafka treats `.` and `_` as colliding because metric names replace one with the other.
pub fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_legal_names() {
        for n in [
            "a",
            "my-topic",
            "my_topic.v2",
            "__consumer_offsets",
            &"x".repeat(249),
        ] {
            assert_eq!(validate_topic_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn rejects_illegal_names() {
        assert_eq!(validate_topic_name(""), Err(InvalidTopicName::Empty));
        assert_eq!(validate_topic_name("."), Err(InvalidTopicName::Dots));
        assert_eq!(validate_topic_name(".."), Err(InvalidTopicName::Dots));
        assert!(matches!(
            validate_topic_name(&"x".repeat(250)),
            Err(InvalidTopicName::TooLong(_))
        ));
        for n in ["a b", "a/b", "ü", "a\0", "a*"] {
            assert!(
                matches!(
                    validate_topic_name(n),
                    Err(InvalidTopicName::IllegalCharacter(_))
                ),
                "{n}"
            );
        }
    }

    #[test]
    fn dot_and_underscore_collide() {
        assert_eq!(unify_collision_chars("a.b"), unify_collision_chars("a_b"));
    }
}
