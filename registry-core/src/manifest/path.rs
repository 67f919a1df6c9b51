//! The path rules every manifest path obeys ([`check_path`]), the stricter rules for a path that must
//! mean the same file on Windows and macOS ([`check_portable_path`]), and the order paths sort in
//! ([`path_order`], OpenSSF Model Signing's). Each refusal names the rule it breaks.
use std::cmp::Ordering;

use unicode_normalization::is_nfc;

/// Longest path, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest path segment, in bytes (what common filesystems allow).
pub const MAX_SEGMENT_LEN: usize = 255;

/// The rule a path breaks; its message is what a refusal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRule {
    /// The path is empty.
    #[error("empty path")]
    Empty,
    /// Longer than [`MAX_PATH_LEN`].
    #[error("longer than 4096 bytes")]
    TooLong,
    /// Starts with `/`.
    #[error("absolute path")]
    Absolute,
    /// Holds a `\\`.
    #[error("backslash in path (use '/')")]
    Backslash,
    /// Holds a control character.
    #[error("control character in path")]
    ControlCharacter,
    /// `a//b`, or a trailing `/`.
    #[error("empty path segment")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("'.' or '..' segment")]
    DotSegment,
    /// A segment longer than [`MAX_SEGMENT_LEN`].
    #[error("segment longer than 255 bytes")]
    SegmentTooLong,
    /// Not in Unicode NFC form.
    #[error("not in Unicode NFC form")]
    NotNfc,
    /// Not portable: a character Windows refuses (`<>:"|?*`).
    #[error("character Windows refuses in a file name (< > : \" | ? *)")]
    WindowsCharacter,
    /// Not portable: a bidirectional override or invisible character.
    #[error("bidirectional override or invisible character in path")]
    Invisible,
    /// Not portable: a segment ending in `.` or space.
    #[error("segment ends in '.' or space (Windows drops them)")]
    TrailingDotOrSpace,
    /// Not portable: a Windows device name.
    #[error("reserved Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9)")]
    ReservedName,
    /// Not portable: another path differs only in case.
    #[error("differs from another path only in case")]
    CaseCollision,
    /// Not portable: a directory differs from a file's path only in case.
    #[error("its directory differs from a file's path only in case")]
    DirectoryCaseCollision,
}

/// Checks one path against the rules, returning the rule it breaks.
pub fn check_path(path: &str) -> Result<(), PathRule> {
    if path.is_empty() {
        return Err(PathRule::Empty);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(PathRule::TooLong);
    }
    if path.starts_with('/') {
        return Err(PathRule::Absolute);
    }
    if path.contains('\\') {
        return Err(PathRule::Backslash);
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(PathRule::ControlCharacter);
    }
    for seg in path.split('/') {
        match seg {
            "" => return Err(PathRule::EmptySegment),
            "." | ".." => return Err(PathRule::DotSegment),
            s if s.len() > MAX_SEGMENT_LEN => return Err(PathRule::SegmentTooLong),
            _ => {}
        }
    }
    if !is_nfc(path) {
        return Err(PathRule::NotNfc);
    }
    Ok(())
}

/// Names Windows reserves for devices, in any case, with or without an extension (`nul.txt` too).
const RESERVED_WINDOWS_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6",
    "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6",
    "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// Characters Windows refuses in a file name (besides controls and `\`, refused everywhere).
const WINDOWS_FORBIDDEN: &[char] = &['<', '>', ':', '"', '|', '?', '*'];

/// Invisible characters that make a path read differently from what it is: bidirectional overrides,
/// embeddings and isolates (Trojan Source, CVE-2021-42574), marks, zero-width characters, the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Checks that a valid path (see [`check_path`]) also means the same file on Windows and macOS and reads
/// as what it is: no `:` (`C:x` is drive-relative, `a:b` an alternate data stream) or other character
/// Windows refuses, no reserved device name (`CON`, `NUL`, `COM1`, ... with any extension), no segment
/// ending in `.` or space (Windows drops them), no bidirectional override or invisible character.
pub fn check_portable_path(path: &str) -> Result<(), PathRule> {
    if path.contains(WINDOWS_FORBIDDEN) {
        return Err(PathRule::WindowsCharacter);
    }
    if path.chars().any(is_invisible_format) {
        return Err(PathRule::Invisible);
    }
    for seg in path.split('/') {
        if seg.ends_with('.') || seg.ends_with(' ') {
            return Err(PathRule::TrailingDotOrSpace);
        }
        let stem = seg.split('.').next().unwrap_or(seg).trim_end_matches(' ');
        if RESERVED_WINDOWS_NAMES.iter().any(|r| r.eq_ignore_ascii_case(stem) || *r == stem.to_uppercase()) {
            return Err(PathRule::ReservedName);
        }
    }
    Ok(())
}

/// Orders paths component by component (as Python's `pathlib` and Rust's `Path::components` do), so
/// `a/b` sorts before `a-c` although `'/' > '-'` as bytes.
pub fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;
    use crate::manifest::{FileEntry, Manifest, ManifestError};
    use proptest::prelude::*;

    fn entry(path: &str) -> FileEntry {
        FileEntry { path: path.into(), size: 0, digest: Digest::of(b"") }
    }

    #[test]
    fn bad_paths_are_rejected_with_their_rule() {
        let nfd = "cafe\u{301}.txt";
        for (p, want) in [
            ("", PathRule::Empty),
            ("/etc/passwd", PathRule::Absolute),
            ("a/../b", PathRule::DotSegment),
            ("./a", PathRule::DotSegment),
            ("a//b", PathRule::EmptySegment),
            ("a/", PathRule::EmptySegment),
            ("a\\b", PathRule::Backslash),
            ("a\nb", PathRule::ControlCharacter),
            (nfd, PathRule::NotNfc),
        ] {
            assert_eq!(check_path(p), Err(want), "{p:?}");
            assert!(matches!(Manifest::new(vec![entry(p)]), Err(ManifestError::Path { .. })));
        }
        assert_eq!(check_path("café.txt"), Ok(()));
        assert_eq!(
            Manifest::new(vec![entry("a//b")]).map_err(|e| e.to_string()),
            Err(r#"invalid path "a//b": empty path segment"#.into()),
            "the rule's message is the refusal's"
        );
        assert_eq!(
            check_portable_path("a?b").map_err(|e| e.to_string()),
            Err(r#"character Windows refuses in a file name (< > : " | ? *)"#.into())
        );
    }

    #[test]
    fn paths_that_break_other_systems_are_not_portable() {
        for bad in [
            "C:x",
            "a/b:c",
            "con",
            "CON",
            "Nul.txt",
            "models/aux.tar.gz",
            "com1",
            "LPT9.bin",
            "COM¹",
            "conin$",
            "trailing.",
            "trailing ",
            "dir./x",
            "a?b",
            "a*b",
            "a|b",
            "a\"b",
            "a<b",
            "a>b",
            "evil\u{202E}txt.exe",
            "zero\u{200B}width",
            "iso\u{2066}late\u{2069}",
            "\u{FEFF}bom",
        ] {
            assert!(check_path(bad).is_ok(), "{bad:?} is a valid path");
            assert!(check_portable_path(bad).is_err(), "{bad:?} is not portable");
        }
        for good in ["console.txt", "nullable/x", "com10", "lpt", "a.b.c", "con_fig", "café", "日本/語"] {
            assert_eq!(check_portable_path(good), Ok(()), "{good:?}");
        }
    }

    proptest! {
        #[test]
        fn check_path_never_panics(p in "\\PC{0,40}") {
            let _ = check_path(&p);
        }
    }
}
