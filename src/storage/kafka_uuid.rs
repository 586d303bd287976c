//! Kafka's text form of a UUID: the 16 bytes in URL-safe base64 without padding (22
//! characters), as `org.apache.kafka.common.Uuid` prints cluster, directory and topic ids.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use uuid::Uuid;

/// Kafka's text form of `id`.
pub fn to_kafka_string(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Reads Kafka's text form back, with the reasons Kafka's `Uuid.fromString` gives.
pub fn parse(text: &str) -> Result<Uuid, String> {
    if text.len() > 24 {
        return Err(format!(
            "Input string with prefix `{}` is too long to be decoded as a base64 UUID",
            text.chars().take(24).collect::<String>()
        ));
    }
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT
        .decode(text)
        .map_err(|e| format!("{text} is not a valid base64 UUID: {e}"))?;
    Uuid::from_slice(&bytes).map_err(|_| {
        format!(
            "Unexpected length of UUID: input string `{text}` decodes to {} bytes, expected 16",
            bytes.len()
        )
    })
}

/// A fresh random id as `Uuid.randomUuid()` makes one: a v4 UUID, drawn again while its text
/// starts with `-` (such ids read as options on command lines, so Kafka never hands them out).
pub fn random() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if !to_kafka_string(id).starts_with('-') {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_matches_kafka() {
        // Kafka: Uuid.fromString("MkU3OEVBNTcwNTJENDM2Qg") holds the bytes of "2E78EA57052D436B".
        let id = parse("MkU3OEVBNTcwNTJENDM2Qg").expect("valid id");
        assert_eq!(id.as_bytes(), b"2E78EA57052D436B");
        assert_eq!(to_kafka_string(id), "MkU3OEVBNTcwNTJENDM2Qg");
    }

    #[test]
    fn random_ids_are_22_url_safe_characters_never_starting_with_dash() {
        for _ in 0..2000 {
            let text = to_kafka_string(random());
            assert_eq!(text.len(), 22);
            assert!(!text.starts_with('-'));
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(to_kafka_string(parse(&text).expect("round trip")), text);
        }
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert!(parse("abc").is_err());
        assert!(parse("MkU3OEVBNTcwNTJENDM2QgMkU3OEVB").is_err());
        assert!(parse("not base64 at all!!").is_err());
    }
}
