//! Removing terminal escape sequences from captured text.
//!
//! `tmux capture-pane -e` output holds SGR sequences (colours, bold, ...);
//! programs can also leave others (titles, cursor moves, hyperlinks, OSC 52
//! clipboard writes) that would take over a viewer's terminal. [`strip`]
//! keeps SGR and the text; [`plain`] keeps the text only.

const ESC: char = '\x1b';
const BEL: char = '\x07';
/// The 8-bit string terminator (C1 ST).
const ST: char = '\u{9c}';

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// `text` without escape sequences and control characters, except SGR
/// sequences (`ESC [` digits, `;` and `:` `m`), newline and tab.
///
/// Removed: other CSI sequences (`ESC [ ... final`, including private ones
/// such as `ESC [ ? 25 l` or `ESC [ > 4 m`), OSC (`ESC ] ... BEL` or
/// `ESC ] ... ESC \`), DCS, SOS, PM and APC strings (`ESC P`, `ESC X`,
/// `ESC ^`, `ESC _`, up to the string terminator), other escape sequences
/// (`ESC` intermediates final, e.g. `ESC ( B`, `ESC 7`), and every other
/// C0 control, DEL and C1 control. An unterminated sequence is removed
/// to its end; a sequence broken by an unexpected character is removed up
/// to that character, which is then treated as text.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            ESC => escape(&mut it, &mut out),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// After an `ESC`: consumes the rest of the sequence, keeping SGR.
fn escape(it: &mut Chars<'_>, out: &mut String) {
    match it.peek().copied() {
        Some('[') => {
            it.next();
            csi(it, out);
        }
        Some(']' | 'P' | 'X' | '^' | '_') => {
            it.next();
            control_string(it, out);
        }
        Some('\x20'..='\x2f') => {
            while it.next_if(|c| ('\x20'..='\x2f').contains(c)).is_some() {}
            it.next_if(|c| ('\x30'..='\x7e').contains(c));
        }
        Some('\x30'..='\x7e') => {
            it.next();
        }
        // A lone ESC (at the end, or before a control or text) is dropped.
        _ => {}
    }
}

/// After `ESC [`: parameters, intermediates and a final byte.
fn csi(it: &mut Chars<'_>, out: &mut String) {
    let mut seq = String::from("\x1b[");
    let mut sgr = true;
    loop {
        match it.peek().copied() {
            Some(c @ '\x30'..='\x3f') => {
                sgr &= c.is_ascii_digit() || c == ';' || c == ':';
                seq.push(c);
                it.next();
            }
            Some('\x20'..='\x2f') => {
                sgr = false;
                it.next();
            }
            Some(c @ '\x40'..='\x7e') => {
                it.next();
                if c == 'm' && sgr {
                    seq.push('m');
                    out.push_str(&seq);
                }
                return;
            }
            // Broken or unterminated: dropped; the next character is
            // handled as usual.
            _ => return,
        }
    }
}

/// After `ESC ]`, `ESC P`, `ESC X`, `ESC ^` or `ESC _`: everything up to
/// BEL, `ESC \` or C1 ST. An `ESC` followed by anything else ends the
/// string and starts a new sequence.
fn control_string(it: &mut Chars<'_>, out: &mut String) {
    while let Some(c) = it.next() {
        match c {
            BEL | ST => return,
            ESC => {
                if it.next_if_eq(&'\\').is_none() {
                    escape(it, out);
                }
                return;
            }
            _ => {}
        }
    }
}
/// `text` without any escape sequence or control character but newline and
/// tab (SGR colours removed too): what a person reads on the screen.
pub fn plain(text: &str) -> String {
    let kept = strip(text);
    let mut out = String::with_capacity(kept.len());
    let mut rest = kept.as_str();
    // After strip only SGR sequences (`ESC [` params `m`) are left.
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match rest.find('m') {
            Some(j) => rest = &rest[j + 1..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_keeps_text_newlines_tabs_and_unicode() {
        assert_eq!(strip("héllo ✓\n\tworld\n"), "héllo ✓\n\tworld\n");
        assert_eq!(strip(""), "");
    }

    #[test]
    fn strip_keeps_sgr() {
        for s in [
            "\x1b[1;31mred\x1b[0m",
            "\x1b[mplain",
            "\x1b[38;5;196mx\x1b[39m",
            "\x1b[38:2:1:2:3mx",
            "a\x1b[0;1;4;7mb",
        ] {
            assert_eq!(strip(s), s);
        }
    }

    #[test]
    fn strip_drops_other_csi() {
        assert_eq!(strip("\x1b[H\x1b[2Jtop"), "top");
        assert_eq!(strip("a\x1b[10;20Hb\x1b[Kc"), "abc");
        assert_eq!(strip("\x1b[?25l\x1b[?1049hx\x1b[?1049l"), "x");
        // Private or intermediate-bearing sequences ending in `m` are not SGR.
        assert_eq!(strip("\x1b[>4;2mx\x1b[?1m"), "x");
        assert_eq!(strip("\x1b[1 qx"), "x");
        assert_eq!(strip("\x1b[31mr\x1b[2Kx\x1b[0m"), "\x1b[31mrx\x1b[0m");
    }

    #[test]
    fn strip_drops_osc_and_strings() {
        assert_eq!(strip("\x1b]0;title\x07after"), "after");
        assert_eq!(strip("\x1b]2;title\x1b\\after"), "after");
        assert_eq!(strip("\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\"), "link");
        assert_eq!(strip("\x1b]0;t\u{9c}x"), "x");
        assert_eq!(strip("\x1bPq#0;2;0;0;0\x1b\\x"), "x");
        assert_eq!(strip("\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\x"), "x");
        // An ESC other than `ESC \` ends the string and starts a new sequence.
        assert_eq!(strip("\x1b]0;t\x1b[31mx"), "\x1b[31mx");
        assert_eq!(strip("\x1b]0;t\x1b[2Jx"), "x");
    }

    #[test]
    fn strip_drops_other_escapes() {
        assert_eq!(strip("\x1b7a\x1b8"), "a");
        assert_eq!(strip("\x1b(Bx\x1b)0y"), "xy");
        assert_eq!(strip("\x1b=\x1b>\x1bcz"), "z");
        assert_eq!(strip("\x1b#8e"), "e");
    }

    #[test]
    fn strip_drops_controls() {
        assert_eq!(strip("a\rb\x08c\x07d\x7fe\x00f\x0bg\x0ch"), "abcdefgh");
        assert_eq!(strip("a\u{9b}b\u{85}c"), "abc");
    }

    #[test]
    fn strip_handles_broken_and_unterminated_sequences() {
        assert_eq!(strip("a\x1b"), "a");
        assert_eq!(strip("a\x1b[12"), "a");
        assert_eq!(strip("a\x1b]0;never ends"), "a");
        assert_eq!(strip("a\x1b[1\nb"), "a\nb");
        assert_eq!(strip("a\x1b[1éb"), "aéb");
        assert_eq!(strip("a\x1b\nb"), "a\nb");
        assert_eq!(strip("a\x1b(\nb"), "a\nb");
    }

    #[test]
    fn strip_is_idempotent() {
        for s in [
            "\x1b[1;31mred\x1b[0m\x1b[2J",
            "\x1b]0;t\x07\x1b[?25lx\r\n",
            "a\x1b\x1b[31mb",
            "\x1b[\x1b[31mc",
            "plain ✓\ttext\n",
        ] {
            let once = strip(s);
            assert_eq!(strip(&once), once, "{s:?}");
        }
    }

    #[test]
    fn plain_drops_sgr_too() {
        assert_eq!(
            plain("\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[m\x1b]52;c;aGk=\x07!"),
            "red and green!"
        );
        assert_eq!(plain("a\nb\tc"), "a\nb\tc");
    }
}
