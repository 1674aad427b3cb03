//! Field rules of the contract (sections 2, 5 and 7), as pure functions.
//!
//! Lengths are counted in Unicode scalar values (`char`s), never bytes.
//! Character rules (section 7) use the Unicode general category: what a
//! partner is shown must not carry invisible or layout-changing
//! characters (bidi overrides, zero-width characters, line separators).

use unicode_general_category::{GeneralCategory as Gc, get_general_category};

use crate::store::Mood;

pub const MAX_NICKNAME: usize = 32;
pub const MAX_AVATAR: usize = 16;
pub const MAX_INTERESTS: usize = 5;
pub const MAX_INTEREST_CHARS: usize = 24;

/// Control (Cc), format (Cf: bidi overrides, zero-width characters) and
/// line/paragraph separators (Zl, Zp): refused in nicknames and interests.
fn invisible_or_layout(c: char) -> bool {
    matches!(get_general_category(c), Gc::Control | Gc::Format | Gc::LineSeparator | Gc::ParagraphSeparator)
}

/// A letter, number, punctuation or symbol: what makes a nickname visible.
fn visible(c: char) -> bool {
    use Gc::*;
    matches!(
        get_general_category(c),
        UppercaseLetter
            | LowercaseLetter
            | TitlecaseLetter
            | ModifierLetter
            | OtherLetter
            | DecimalNumber
            | LetterNumber
            | OtherNumber
            | ConnectorPunctuation
            | DashPunctuation
            | OpenPunctuation
            | ClosePunctuation
            | InitialPunctuation
            | FinalPunctuation
            | OtherPunctuation
            | MathSymbol
            | CurrencySymbol
            | ModifierSymbol
            | OtherSymbol
    )
}

/// The bidirectional controls: LRM/RLM, the embeddings and overrides, and
/// the isolates. Refused in avatars, which otherwise keep format
/// characters: emoji sequences need the zero-width joiner (U+200D) and tag
/// characters (U+E0020-U+E007F).
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A 1..=max character string, trimmed, without characters `refused`.
/// The characters are checked before trimming: `str::trim` also strips
/// the controls U+000B, U+000C and U+0085, which must be refused, not
/// quietly dropped (regression: `"\u{85}Ana"` was accepted as `Ana`).
fn short_text(field: &str, value: &str, max: usize, refused: fn(char) -> bool) -> Result<Box<str>, String> {
    if value.chars().any(refused) {
        return Err(format!("{field} must not contain control, format or separator characters"));
    }
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > max {
        return Err(format!("{field} must be 1 to {max} characters"));
    }
    Ok(v.into())
}

pub fn nickname(value: &str) -> Result<Box<str>, String> {
    let v = short_text("nickname", value, MAX_NICKNAME, invisible_or_layout)?;
    if !v.chars().any(visible) {
        return Err("nickname must contain a visible character".into());
    }
    Ok(v)
}

pub fn avatar(value: &str) -> Result<Box<str>, String> {
    short_text("avatar", value, MAX_AVATAR, |c| {
        matches!(get_general_category(c), Gc::Control | Gc::LineSeparator | Gc::ParagraphSeparator)
            || bidi_control(c)
    })
}

/// Chat text and report details (contract section 7): U+0000 and the
/// other C0 and C1 controls (and DEL) are refused; tab, line feed and
/// carriage return are text.
pub fn free_text_ok(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

pub fn mood(value: &str) -> Result<Mood, String> {
    Mood::parse(value).ok_or_else(|| "mood must be one of chill, fire, silly, shy, random".into())
}

/// Trimmed, lower-cased, de-duplicated (first occurrence kept) tags.
/// The bounds come first (contract section 7): more than five entries,
/// counted before de-duplication, or an entry over 24 characters after
/// trimming is refused before any other work, so a huge list costs no
/// more than a legal one.
pub fn interests(values: &[String]) -> Result<Box<[Box<str>]>, String> {
    check_interest_bounds(values.len(), values.iter().map(String::as_str))?;
    let mut out: Vec<Box<str>> = Vec::with_capacity(values.len());
    for raw in values {
        let tag = raw.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > MAX_INTEREST_CHARS {
            return Err(format!("each interest must be 1 to {MAX_INTEREST_CHARS} characters"));
        }
        // The raw entry, as for nicknames: trimming would strip U+000B,
        // U+000C and U+0085.
        if raw.chars().any(invisible_or_layout)
            || !tag.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-')
        {
            return Err("interests may hold only letters, digits, space and -".into());
        }
        if !out.iter().any(|t| **t == *tag) {
            out.push(tag.into());
        }
    }
    Ok(out.into_boxed_slice())
}

/// The section 7 bounds alone: at most five entries, each at most 24
/// characters once trimmed (counting stops at 25).
pub fn check_interest_bounds<'a>(count: usize, entries: impl Iterator<Item = &'a str>) -> Result<(), String> {
    if count > MAX_INTERESTS {
        return Err(format!("at most {MAX_INTERESTS} interests"));
    }
    for e in entries {
        if e.trim().chars().take(MAX_INTEREST_CHARS + 1).count() > MAX_INTEREST_CHARS {
            return Err(format!("each interest must be 1 to {MAX_INTEREST_CHARS} characters"));
        }
    }
    Ok(())
}

/// An `interests` list as a payload field: the section 7 bounds are
/// checked while it is parsed, so a list of thousands of tags stops at
/// its sixth entry instead of being collected first.
#[derive(Debug, Default)]
pub struct InterestList(pub Vec<String>);

impl<'de> serde::Deserialize<'de> for InterestList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<InterestList, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = InterestList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "an array of at most {MAX_INTERESTS} strings")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<InterestList, A::Error> {
                let mut out = Vec::with_capacity(MAX_INTERESTS);
                while let Some(tag) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    if out.len() == MAX_INTERESTS {
                        return Err(serde::de::Error::custom(format!("at most {MAX_INTERESTS} interests")));
                    }
                    check_interest_bounds(0, std::iter::once(&*tag)).map_err(serde::de::Error::custom)?;
                    out.push(tag.into_owned());
                }
                Ok(InterestList(out))
            }
        }
        d.deserialize_seq(Visit)
    }
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
    fn nickname_refuses_invisible_and_layout_characters() {
        for bad in
            ["evil\u{202E}gnp", "\u{200B}\u{200B}", "a\u{2028}b", "a\u{2029}b", "\u{FEFF}x", "\u{2066}x"]
        {
            assert!(nickname(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(nickname("Zoë 🦊").is_ok());
        assert!(nickname("!!").is_ok(), "punctuation is visible");
    }

    #[test]
    fn avatar_keeps_emoji_sequences_but_not_bidi_controls() {
        assert!(avatar("👨\u{200D}👩\u{200D}👧").is_ok(), "ZWJ sequence");
        assert!(avatar("🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}").is_ok(), "tag sequence");
        for bad in ["\u{202E}🦊", "🦊\u{2028}🦊", "\u{200F}x", "a\u{7}"] {
            assert!(avatar(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn free_text_refuses_c0_c1_but_keeps_tab_and_newlines() {
        assert!(free_text_ok("line one\n\tline two\r\n"));
        assert!(free_text_ok("ünïcode 🦊 \u{202E} is shown as is"));
        for bad in ["\u{0}", "a\u{7}", "\u{1b}[31m", "\u{7f}", "\u{85}", "\u{9b}"] {
            assert!(!free_text_ok(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn interest_bounds_count_before_dedup_and_after_trimming() {
        let dup: Vec<String> = vec!["a".into(); 6];
        assert!(interests(&dup).is_err(), "six entries, even all alike");
        assert!(interests(&[format!("  {}  ", "x".repeat(24))]).is_ok());
        assert!(interests(&["x".repeat(25)]).is_err());
        assert!(interests(&["a\u{200B}b".into()]).is_err());
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
    fn controls_at_either_end_are_refused_not_trimmed_away() {
        for raw in ["\u{85}Ana", "Ana\u{b}", "\u{c}Ana", "\tAna"] {
            assert!(nickname(raw).is_err(), "{raw:?} must be refused");
        }
        assert!(interests(&["music\u{85}".to_string()]).is_err());
        assert!(interests(&["\u{b}music".to_string()]).is_err());
        assert_eq!(nickname("  Ana ").as_deref(), Ok("Ana"));
        assert_eq!(interests(&[" Music ".to_string()]).map(|t| t[0].to_string()), Ok("music".to_string()));
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
