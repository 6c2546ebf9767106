//! Text written into XML (CoT, CAP, the Atom feed, TAK packages): escaped, and kept to the
//! characters XML 1.0 allows. quick-xml escapes markup but passes control characters, and one
//! of them in a site's name, an alert's summary or a TAK client's call sign would make the
//! whole document (a feed, a frame a stock client splits off) one no XML parser reads.

use std::borrow::Cow;

/// Whether XML 1.0 allows `c` in a document (§2.2: tab, newline, carriage return, and
/// everything from space up but U+FFFE and U+FFFF; Rust strings hold no surrogates).
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// `s` with each character XML does not allow replaced by U+FFFD.
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().all(allowed) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
            .collect(),
    )
}

/// `s` as XML text or an attribute value: cleaned, and `<`, `>`, `&`, `'`, `"` escaped.
pub fn escape(s: &str) -> Cow<'_, str> {
    match clean(s) {
        Cow::Borrowed(b) => quick_xml::escape::escape(b),
        Cow::Owned(o) => Cow::Owned(quick_xml::escape::escape(&o).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn control_characters_become_replacement_characters_and_markup_is_escaped() {
        assert_eq!(escape("plain"), "plain");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\u{1}b\u{1b}[31m\u{FFFF}<c>\t\n"),
            "a\u{FFFD}b\u{FFFD}[31m\u{FFFD}&lt;c&gt;\t\n"
        );
        assert_eq!(clean("\u{0}"), "\u{FFFD}");
    }
}
