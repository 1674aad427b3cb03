//! The `--blocklist`: words and phrases chat may not contain.
//!
//! Loaded once at start: one entry a line, `#` starts a comment, blank
//! lines ignored. Matching is case-insensitive (Unicode lower-casing) and on
//! word boundaries: "ass" matches "Ass!" but not "class". One Aho-Corasick
//! automaton scans the text once whatever the list's length.

use std::path::Path;

use aho_corasick::AhoCorasick;

pub struct Blocklist {
    /// None when the list is empty.
    matcher: Option<AhoCorasick>,
    /// Entries loaded, for the start-up log.
    len: usize,
}

impl Blocklist {
    pub fn empty() -> Blocklist {
        Blocklist { matcher: None, len: 0 }
    }

    pub fn load(path: &Path) -> std::io::Result<Blocklist> {
        Ok(Blocklist::parse(&std::fs::read_to_string(path)?))
    }

    pub fn parse(text: &str) -> Blocklist {
        let entries: Vec<String> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_lowercase())
            .filter(|l| !l.is_empty())
            .collect();
        let len = entries.len();
        let matcher = if entries.is_empty() { None } else { AhoCorasick::new(&entries).ok() };
        Blocklist { matcher, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when `text` contains an entry as whole words.
    pub fn hits(&self, text: &str) -> bool {
        let Some(ac) = &self.matcher else { return false };
        let lower = text.to_lowercase();
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        ac.find_overlapping_iter(&lower).any(|m| {
            let before = lower[..m.start()].chars().next_back();
            let after = lower[m.end()..].chars().next();
            !word(before) && !word(after)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_case_insensitive_with_comments() {
        let b = Blocklist::parse("# words\nbadword\n  evil plan  # phrase\n\nÄrger\n");
        assert_eq!(b.len(), 3);
        assert!(b.hits("this is a BADWORD!"));
        assert!(b.hits("my Evil Plan works"));
        assert!(b.hits("ärger"));
        assert!(!b.hits("badwords are fine"));
        assert!(!b.hits("notbadword"));
        assert!(!b.hits("evil planet"));
        assert!(!Blocklist::empty().hits("badword"));
    }
}
