//! Turning names chosen by a remote peer into names that are safe to save under.
//!
//! The remote controls `name` and `relative_path` in every offer. These helpers make
//! sure neither can escape the download folder, hide its real extension or trip over
//! names that Windows, macOS or Linux refuse. Both are idempotent, so a name that has
//! been sanitized once is left alone (the receiver compares re-sent offers with the
//! ones it stored).

/// Name used when nothing usable is left.
pub const FALLBACK_FILE_NAME: &str = "file";

/// Longest file name (one path component), in UTF-8 bytes: the common file-system
/// limit.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Deepest relative path kept, in components (file name included).
pub const MAX_PATH_COMPONENTS: usize = 32;

/// Longest relative path kept, in UTF-8 bytes.
pub const MAX_RELATIVE_PATH_BYTES: usize = 4096;

/// Longest MIME type kept, in bytes.
pub const MAX_MIME_TYPE_BYTES: usize = 255;

/// Longest extension kept intact when a long name is shortened, in bytes, dot
/// included.
const MAX_KEPT_EXTENSION_BYTES: usize = 16;

/// Makes a single file name safe: no path separators (`/` and `\` become `_`), no
/// control or invisible bidi/zero-width characters, none of `<>:"|?*` (each becomes
/// `_`), no leading spaces, no trailing dots or spaces, no Windows device names
/// (`CON`, `nul.txt`, … get a leading `_`), at most [`MAX_FILE_NAME_BYTES`] (keeping a
/// short extension). `.`, `..` or nothing at all become [`FALLBACK_FILE_NAME`].
pub fn sanitize_file_name(name: &str) -> String {
    let cleaned = clean_component(name);
    if cleaned.is_empty() {
        FALLBACK_FILE_NAME.to_owned()
    } else {
        cleaned
    }
}

/// Makes a `/`- or `\`-separated relative path safe, keeping the folder structure:
/// empty, `.` and `..` components are dropped (so `a/../b` becomes `a/b` and nothing
/// can climb out of the target folder), a leading `/` or drive (`C:`) cannot make it
/// absolute, each component is cleaned like [`sanitize_file_name`], and the result
/// is joined with `/`. When deeper than [`MAX_PATH_COMPONENTS`] or longer than
/// [`MAX_RELATIVE_PATH_BYTES`], leading folders are dropped so the file name stays.
/// Nothing left gives [`FALLBACK_FILE_NAME`].
pub fn sanitize_relative_path(path: &str) -> String {
    let mut components: Vec<String> = path
        .split(['/', '\\'])
        .map(clean_component)
        .filter(|component| !component.is_empty())
        .collect();
    if components.len() > MAX_PATH_COMPONENTS {
        components.drain(..components.len() - MAX_PATH_COMPONENTS);
    }
    // Components are at most 255 bytes and at most 32 of them, so this terminates well
    // before running out; the file name itself always fits.
    while components.len() > 1 && joined_len(&components) > MAX_RELATIVE_PATH_BYTES {
        components.remove(0);
    }
    if components.is_empty() {
        FALLBACK_FILE_NAME.to_owned()
    } else {
        components.join("/")
    }
}

/// Keeps a MIME type only if it looks like one (`type/subtype`, printable ASCII
/// without spaces, at most [`MAX_MIME_TYPE_BYTES`]); otherwise returns `""` (unknown).
/// Lower-cases it.
pub fn sanitize_mime_type(mime: &str) -> String {
    let plausible = mime.len() <= MAX_MIME_TYPE_BYTES
        && mime.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && mime
            .split_once('/')
            .is_some_and(|(kind, sub)| !kind.is_empty() && !sub.is_empty() && !kind.contains(' '));
    if plausible {
        mime.to_ascii_lowercase()
    } else {
        String::new()
    }
}

fn joined_len(components: &[String]) -> usize {
    components.iter().map(String::len).sum::<usize>() + components.len().saturating_sub(1)
}

/// Cleans one path component; returns `""` when nothing usable is left.
fn clean_component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_FILE_NAME_BYTES));
    for c in raw.chars() {
        if c.is_control() || is_invisible(c) {
            continue;
        }
        if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*' | '\\' | '/') {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    let mut name = trim_name(&out).to_owned();
    if is_windows_device_name(&name) {
        name.insert(0, '_');
    }
    shorten(name)
}

/// Leading whitespace is hard to see; Windows silently drops trailing dots and spaces,
/// which would change what the extension appears to be. Trimming trailing dots also
/// turns `.` and `..` into nothing.
fn trim_name(name: &str) -> &str {
    name.trim_start()
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
}

/// Characters that change how a name is displayed without being visible: the bidi
/// overrides behind "invoice\u{202E}gpj.exe" spoofing, zero-width characters, BOM.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
    )
}

/// `CON`, `PRN`, `AUX`, `NUL`, `COM1`–`COM9`, `LPT1`–`LPT9`, with any extension: Windows
/// refuses to create files with these names.
fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let upper = stem.to_ascii_uppercase();
    match upper.as_bytes() {
        b"CON" | b"PRN" | b"AUX" | b"NUL" => true,
        [b'C', b'O', b'M', digit] | [b'L', b'P', b'T', digit] => (b'1'..=b'9').contains(digit),
        _ => false,
    }
}

/// Shortens to [`MAX_FILE_NAME_BYTES`] on a character boundary, keeping a short
/// extension so the file still opens with the right application.
fn shorten(name: String) -> String {
    if name.len() <= MAX_FILE_NAME_BYTES {
        return name;
    }
    let extension = match name.rfind('.') {
        // `get`, not indexing: `dot` is a char boundary, and `get` keeps core's
        // slicing panic message (4 KB of Wasm) out of the npm package.
        Some(dot) if dot > 0 && name.len() - dot <= MAX_KEPT_EXTENSION_BYTES => {
            name.get(dot..).unwrap_or_default()
        }
        _ => "",
    };
    let stem = prefix_within(&name, MAX_FILE_NAME_BYTES - extension.len());
    let stem = trim_name(stem);
    if stem.is_empty() {
        return prefix_within(trim_name(&name), MAX_FILE_NAME_BYTES).to_owned();
    }
    format!("{stem}{extension}")
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a char boundary.
fn prefix_within(s: &str, max: usize) -> &str {
    let end = s
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|&end| end <= max)
        .last()
        .unwrap_or(0);
    s.get(..end).unwrap_or_default()
}

/// `name` for `n` = 0, else `stem (n).ext`: what a copy is called when `name` is
/// taken ("photo.jpg" → "photo (1).jpg"; a name without a stem keeps its dot).
pub fn numbered_file_name(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
        _ => format!("{name} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_numbered_before_the_extension() {
        assert_eq!(numbered_file_name("photo.jpg", 0), "photo.jpg");
        assert_eq!(numbered_file_name("photo.jpg", 2), "photo (2).jpg");
        assert_eq!(numbered_file_name("a.tar.gz", 1), "a.tar (1).gz");
        assert_eq!(numbered_file_name("README", 1), "README (1)");
        assert_eq!(numbered_file_name(".bashrc", 1), ".bashrc (1)");
    }

    #[test]
    fn file_names() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", ".._.._etc_passwd"),
            ("/etc/passwd", "_etc_passwd"),
            ("C:\\Windows\\system.ini", "C__Windows_system.ini"),
            ("a<b>c:d\"e|f?g*h", "a_b_c_d_e_f_g_h"),
            ("tab\there\nnew\u{0}line\u{7f}", "tabherenewline"),
            ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
            ("zero\u{200B}width\u{FEFF}", "zerowidth"),
            ("trailing. . ", "trailing"),
            ("   leading", "leading"),
            (".hidden", ".hidden"),
            ("..", FALLBACK_FILE_NAME),
            (".", FALLBACK_FILE_NAME),
            ("", FALLBACK_FILE_NAME),
            ("  ..  ", FALLBACK_FILE_NAME),
            ("\u{0}\u{1}", FALLBACK_FILE_NAME),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("com1.tar.gz", "_com1.tar.gz"),
            ("LPT9", "_LPT9"),
            ("COM0", "COM0"),
            ("CONSOLE.txt", "CONSOLE.txt"),
            ("日本語 ファイル.txt", "日本語 ファイル.txt"),
        ];
        for (raw, expected) in cases {
            assert_eq!(sanitize_file_name(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn long_names_are_shortened_on_char_boundaries_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(300));
        let short = sanitize_file_name(&long);
        assert!(short.len() <= MAX_FILE_NAME_BYTES);
        assert!(short.ends_with("é.jpeg"), "{short}");
        let no_ext = "x".repeat(1000);
        assert_eq!(sanitize_file_name(&no_ext).len(), MAX_FILE_NAME_BYTES);
        let long_ext = format!("a.{}", "b".repeat(400));
        assert_eq!(sanitize_file_name(&long_ext).len(), MAX_FILE_NAME_BYTES);
    }

    #[test]
    fn relative_paths() {
        let cases = [
            ("photos/2024/a.jpg", "photos/2024/a.jpg"),
            ("photos\\2024\\a.jpg", "photos/2024/a.jpg"),
            ("../../../etc/passwd", "etc/passwd"),
            ("a/../b/./c", "a/b/c"),
            ("/abs/path.txt", "abs/path.txt"),
            ("C:/Users/x.txt", "C_/Users/x.txt"),
            ("//server/share/f", "server/share/f"),
            ("dir//sub/ /f.txt", "dir/sub/f.txt"),
            ("dir./sub /f?.txt", "dir/sub/f_.txt"),
            ("aux/con.txt", "_aux/_con.txt"),
            ("", FALLBACK_FILE_NAME),
            ("../..", FALLBACK_FILE_NAME),
            ("/", FALLBACK_FILE_NAME),
        ];
        for (raw, expected) in cases {
            assert_eq!(sanitize_relative_path(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn deep_or_long_paths_keep_the_file_name() {
        let deep = format!("{}name.txt", "d/".repeat(100));
        let kept = sanitize_relative_path(&deep);
        assert_eq!(kept.split('/').count(), MAX_PATH_COMPONENTS);
        assert!(kept.ends_with("/name.txt"));
        let wide = format!("{}/end.bin", vec!["x".repeat(250); 30].join("/"));
        let kept = sanitize_relative_path(&wide);
        assert!(kept.len() <= MAX_RELATIVE_PATH_BYTES);
        assert!(kept.ends_with("/end.bin"));
    }

    #[test]
    fn sanitizing_is_idempotent() {
        for raw in [
            "../x/./y",
            "  a. /b<>/c..",
            "con/nul.txt",
            &format!("{}.png", "é".repeat(200)),
            &format!("{}ü.png", "x".repeat(240)),
            "a\u{202E}b",
            " . ",
        ] {
            let name = sanitize_file_name(raw);
            assert_eq!(sanitize_file_name(&name), name, "{raw:?}");
            let path = sanitize_relative_path(raw);
            assert_eq!(sanitize_relative_path(&path), path, "{raw:?}");
        }
    }

    #[test]
    fn mime_types() {
        assert_eq!(sanitize_mime_type("image/PNG"), "image/png");
        assert_eq!(
            sanitize_mime_type("text/plain; charset=utf-8"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(sanitize_mime_type(""), "");
        assert_eq!(sanitize_mime_type("nonsense"), "");
        assert_eq!(sanitize_mime_type("text/\nhtml"), "");
        assert_eq!(sanitize_mime_type("/x"), "");
        assert_eq!(sanitize_mime_type(&format!("a/{}", "b".repeat(300))), "");
    }
}
