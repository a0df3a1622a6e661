//! Removing terminal escape sequences from captured text.
//!
//! `tmux capture-pane -e` output holds SGR sequences (colours, bold, ...);
//! programs can also leave others (titles, cursor moves, hyperlinks, OSC 52
//! clipboard writes) that would take over a viewer's terminal. [`strip`]
//! keeps SGR and the text; [`plain`] keeps the text only; [`to_html`]
//! turns the SGR colours into HTML spans and escapes everything else.

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

/// The 16 basic colours (0-7 normal, 8-15 bright), xterm's defaults.
const BASIC: [&str; 16] = [
    "#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5", "#7f7f7f",
    "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
];

/// Colour `n` of the xterm 256-colour palette as `#rrggbb`.
fn palette(n: u8) -> String {
    match n {
        0..=15 => BASIC[usize::from(n)].to_owned(),
        16..=231 => {
            let i = n - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            format!("#{:02x}{:02x}{:02x}", level(i / 36), level(i / 6 % 6), level(i % 6))
        }
        232..=255 => {
            let g = 8 + 10 * (n - 232);
            format!("#{g:02x}{g:02x}{g:02x}")
        }
    }
}

/// The SGR attributes in effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pen {
    fg: Option<String>,
    bg: Option<String>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    inverse: bool,
}

impl Pen {
    /// Applies one SGR parameter list (`1;31`, `38;5;208`, `38:2::1:2:3`).
    fn apply(&mut self, params: &str) {
        let nums: Vec<u32> = params
            .split([';', ':'])
            .map(|p| if p.is_empty() { 0 } else { p.parse().unwrap_or(u32::MAX) })
            .collect();
        let mut i = 0;
        while i < nums.len() {
            let n = nums[i];
            match n {
                0 => *self = Pen::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                7 => self.inverse = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                27 => self.inverse = false,
                30..=37 => self.fg = Some(BASIC[(n - 30) as usize].to_owned()),
                39 => self.fg = None,
                40..=47 => self.bg = Some(BASIC[(n - 40) as usize].to_owned()),
                49 => self.bg = None,
                90..=97 => self.fg = Some(BASIC[(n - 90 + 8) as usize].to_owned()),
                100..=107 => self.bg = Some(BASIC[(n - 100 + 8) as usize].to_owned()),
                38 | 48 => {
                    let colour = match nums.get(i + 1) {
                        Some(5) => {
                            let c = nums.get(i + 2).and_then(|v| u8::try_from(*v).ok()).map(palette);
                            i += 2;
                            c
                        }
                        Some(2) => {
                            // `38;2;R;G;B`, or `38:2::R:G:B` with an empty colour-space id.
                            let rest = &nums[(i + 2).min(nums.len())..];
                            let rgb =
                                if params.contains(':') && rest.len() >= 4 { &rest[1..4] } else { rest };
                            let skip = if params.contains(':') && rest.len() >= 4 { 4 } else { 3 };
                            let c = (rgb.len() >= 3)
                                .then(|| {
                                    rgb[..3]
                                        .iter()
                                        .map(|v| u8::try_from(*v).ok())
                                        .collect::<Option<Vec<u8>>>()
                                })
                                .flatten()
                                .map(|c| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]));
                            i += 1 + skip;
                            c
                        }
                        _ => None,
                    };
                    if n == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// The inline CSS for this pen; empty for the default pen.
    fn style(&self) -> String {
        let (mut fg, mut bg) = (self.fg.clone(), self.bg.clone());
        if self.inverse {
            (fg, bg) = (bg.or_else(|| Some("#000000".to_owned())), fg.or_else(|| Some("#e5e5e5".to_owned())));
        }
        let mut css = Vec::new();
        if let Some(c) = fg {
            css.push(format!("color:{c}"));
        }
        if let Some(c) = bg {
            css.push(format!("background:{c}"));
        }
        if self.bold {
            css.push("font-weight:bold".to_owned());
        }
        if self.dim {
            css.push("opacity:0.7".to_owned());
        }
        if self.italic {
            css.push("font-style:italic".to_owned());
        }
        if self.underline {
            css.push("text-decoration:underline".to_owned());
        }
        css.join(";")
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` as HTML character references.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Captured terminal text as HTML for the inside of a `<pre>`: the text
/// HTML-escaped, SGR colours and attributes (16, 256 and 24-bit colours,
/// bold, dim, italic, underline, inverse) as `<span style="...">`, every
/// other escape sequence and control character removed ([`strip`]). The
/// output holds no markup but those spans and character references.
pub fn to_html(text: &str) -> String {
    let kept = strip(text);
    let mut out = String::with_capacity(kept.len() + kept.len() / 4);
    let mut pen = Pen::default();
    let mut open = false;
    let mut rest = kept.as_str();
    loop {
        let (chunk, sgr) = match rest.find('\x1b') {
            Some(i) => (&rest[..i], true),
            None => (rest, false),
        };
        out.push_str(&html_escape(chunk));
        if !sgr {
            break;
        }
        rest = &rest[chunk.len()..];
        // After strip only `ESC [` params `m` is left.
        let end = rest.find('m').unwrap_or(rest.len().saturating_sub(1));
        pen.apply(rest.get(2..end).unwrap_or(""));
        rest = rest.get(end + 1..).unwrap_or("");
        if open {
            out.push_str("</span>");
            open = false;
        }
        let style = pen.style();
        if !style.is_empty() {
            out.push_str(&format!("<span style=\"{style}\">"));
            open = true;
        }
    }
    if open {
        out.push_str("</span>");
    }
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

    #[test]
    fn to_html_colours_spans_and_escapes_everything_else() {
        let text = "\x1b[1;31mred <b>&\x1b[0m plain \x1b]0;title\x07\x1b]8;;http://x.example\x1b\\link\x1b]8;;\x1b\\ \x1b[38;5;208mo\x1b[38;2;1;2;3mt\x1b[m";
        assert_eq!(
            to_html(text),
            "<span style=\"color:#cd0000;font-weight:bold\">red &lt;b&gt;&amp;</span> plain link \
             <span style=\"color:#ff8700\">o</span><span style=\"color:#010203\">t</span>"
        );
        assert_eq!(to_html("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(palette(16), "#000000");
        assert_eq!(palette(231), "#ffffff");
        assert_eq!(palette(232), "#080808");
        // Inverse with default colours, then reset.
        assert_eq!(
            to_html("\x1b[7mx\x1b[27my"),
            "<span style=\"color:#000000;background:#e5e5e5\">x</span>y"
        );
    }
}
