//! Field rules of the contract (section 2 and 5), as pure functions.
//!
//! Lengths are counted in Unicode scalar values (`char`s), never bytes.

use crate::store::Mood;

pub const MAX_NICKNAME: usize = 32;
pub const MAX_AVATAR: usize = 16;
pub const MAX_INTERESTS: usize = 5;
pub const MAX_INTEREST_CHARS: usize = 24;

/// A 1..=max character string without control characters, trimmed.
fn short_text(field: &str, value: &str, max: usize) -> Result<Box<str>, String> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > max {
        return Err(format!("{field} must be 1 to {max} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(v.into())
}

pub fn nickname(value: &str) -> Result<Box<str>, String> {
    short_text("nickname", value, MAX_NICKNAME)
}

pub fn avatar(value: &str) -> Result<Box<str>, String> {
    short_text("avatar", value, MAX_AVATAR)
}

pub fn mood(value: &str) -> Result<Mood, String> {
    Mood::parse(value).ok_or_else(|| "mood must be one of chill, fire, silly, shy, random".into())
}

/// Trimmed, lower-cased, de-duplicated (first occurrence kept) tags.
pub fn interests(values: &[String]) -> Result<Box<[Box<str>]>, String> {
    let mut out: Vec<Box<str>> = Vec::with_capacity(values.len().min(MAX_INTERESTS));
    for raw in values {
        let tag = raw.trim().to_lowercase();
        let n = tag.chars().count();
        if n == 0 || n > MAX_INTEREST_CHARS {
            return Err(format!("each interest must be 1 to {MAX_INTEREST_CHARS} characters"));
        }
        if !tag.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-') {
            return Err("interests may hold only letters, digits, space and -".into());
        }
        if !out.iter().any(|t| **t == *tag) {
            out.push(tag.into());
        }
    }
    if out.len() > MAX_INTERESTS {
        return Err(format!("at most {MAX_INTERESTS} interests"));
    }
    Ok(out.into_boxed_slice())
}

/// Why chat text was refused; each maps to a contract error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    Empty,
    TooLong,
}

impl TextError {
    pub fn message(self) -> &'static str {
        match self {
            TextError::Empty => "the message is empty",
            TextError::TooLong => "the message is too long",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            TextError::Empty => "EMPTY_MESSAGE",
            TextError::TooLong => "MESSAGE_TOO_LONG",
        }
    }
}

/// The trimmed text, if it is non-empty and at most `max` characters.
pub fn chat_text(text: &str, max: usize) -> Result<&str, TextError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(TextError::Empty);
    }
    // Counting stops at max + 1: a long text costs no more than a legal one.
    if t.chars().take(max.saturating_add(1)).count() > max {
        return Err(TextError::TooLong);
    }
    Ok(t)
}

const ADJECTIVES: [&str; 16] = [
    "Quiet", "Brave", "Sunny", "Gentle", "Clever", "Lucky", "Merry", "Calm", "Witty", "Bold", "Cosy",
    "Swift", "Shy", "Jolly", "Kind", "Misty",
];
const ANIMALS: [(&str, &str); 16] = [
    ("Otter", "🦦"),
    ("Fox", "🦊"),
    ("Panda", "🐼"),
    ("Owl", "🦉"),
    ("Koala", "🐨"),
    ("Tiger", "🐯"),
    ("Rabbit", "🐰"),
    ("Penguin", "🐧"),
    ("Hedgehog", "🦔"),
    ("Frog", "🐸"),
    ("Whale", "🐳"),
    ("Bee", "🐝"),
    ("Turtle", "🐢"),
    ("Lion", "🦁"),
    ("Parrot", "🦜"),
    ("Sloth", "🦥"),
];

/// A generated nickname such as "Quiet Otter" and its avatar.
pub fn generated_identity() -> (Box<str>, Box<str>) {
    let a = ADJECTIVES[rand::random_range(0..ADJECTIVES.len())];
    let (animal, emoji) = ANIMALS[rand::random_range(0..ANIMALS.len())];
    (format!("{a} {animal}").into(), emoji.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nickname_is_trimmed_and_counted_in_scalar_values() {
        assert_eq!(nickname("  Ana  ").unwrap().as_ref(), "Ana");
        assert!(nickname("   ").is_err());
        assert!(nickname(&"é".repeat(32)).is_ok());
        assert!(nickname(&"é".repeat(33)).is_err());
        assert!(nickname("a\u{7}b").is_err());
    }

    #[test]
    fn interests_are_normalised_and_bounded() {
        let v: Vec<String> = ["Music", " music ", "Board-Games", "sci fi"].map(String::from).into();
        let got = interests(&v).unwrap();
        assert_eq!(got.iter().map(|s| &**s).collect::<Vec<_>>(), ["music", "board-games", "sci fi"]);
        assert!(interests(&["a!".to_string()]).is_err());
        assert!(interests(&["".to_string()]).is_err());
        assert!(interests(&["x".repeat(25)]).is_err());
        let six: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
        assert!(interests(&six).is_err());
    }

    #[test]
    fn chat_text_rules() {
        assert_eq!(chat_text("  hi ", 10), Ok("hi"));
        assert_eq!(chat_text(" \n ", 10), Err(TextError::Empty));
        assert_eq!(chat_text(&"ü".repeat(10), 10), Ok("üüüüüüüüüü"));
        assert_eq!(chat_text(&"ü".repeat(11), 10), Err(TextError::TooLong));
    }

    #[test]
    fn generated_names_are_valid_nicknames() {
        for _ in 0..50 {
            let (n, a) = generated_identity();
            assert!(nickname(&n).is_ok() && avatar(&a).is_ok());
        }
    }
}
