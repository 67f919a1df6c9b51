//! Small text helpers shared by the server and its clients.

use std::borrow::Cow;

/// `s` cut to at most `max` bytes on a character boundary, with `...` when cut: for echoing input
/// back in a message or a log line without letting it grow with the input.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end]).into()
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clip_cuts_long_text_on_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdef", 3), "abc...");
        // 'é' is two bytes: a cut inside it backs off to the boundary before it.
        assert_eq!(clip("aé", 2), "a...");
    }
}
