//! Small text helpers for what we render ourselves from plain text (profiles, fields).

/// Escapes the five characters that matter in HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
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

/// Undoes the entity escapes an HTML sanitizer leaves in text (the five of [`escape_html`], `&nbsp;`, and
/// numeric references), for text that is escaped again wherever it is shown.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        // Entities are short: look for the `;` in the next few bytes (by bytes, never slicing a character).
        let Some(end) = tail.bytes().take(12).position(|b| b == b';') else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Plain text as HTML paragraphs: escaped, blank lines between paragraphs, single newlines as `<br>`, and
/// http(s) links made clickable. Empty text stays empty.
pub fn plain_to_html(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            format!(
                "<p>{}</p>",
                linkify_escaped(&escape_html(p)).replace('\n', "<br>")
            )
        })
        .collect()
}

/// Turns `http://` and `https://` URLs in already-escaped text into links.
pub fn linkify_escaped(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(start) = find_url_start(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '<' || c == '"')
            .unwrap_or(tail.len());
        // Trailing punctuation belongs to the sentence, not the link.
        let url = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
        let url = url.strip_suffix("&#39").unwrap_or(url);
        if url.len() <= "https://".len() {
            out.push_str(&tail[..end]);
            rest = &tail[end..];
            continue;
        }
        out.push_str(&format!(
            "<a href=\"{url}\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">{url}</a>"
        ));
        rest = &tail[url.len()..];
    }
    out.push_str(rest);
    out
}

fn find_url_start(s: &str) -> Option<usize> {
    match (s.find("https://"), s.find("http://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_decode() {
        assert_eq!(
            decode_entities("Tea &amp; cake &lt;3 &#39;x&#39; &#x263A; &bogus; a&b"),
            "Tea & cake <3 'x' ☺ &bogus; a&b"
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn paragraphs_breaks_and_links() {
        assert_eq!(
            plain_to_html("Hello <you>\nline two\n\nSee https://example.com/a?b=1&c=2."),
            "<p>Hello &lt;you&gt;<br>line two</p><p>See <a href=\"https://example.com/a?b=1&amp;c=2\" \
             rel=\"nofollow noopener noreferrer\" target=\"_blank\">https://example.com/a?b=1&amp;c=2</a>.</p>"
        );
        assert_eq!(plain_to_html("   "), "");
    }

    #[test]
    fn link_cannot_break_out_of_attribute() {
        let html = plain_to_html("https://x.example/\"onmouseover=alert(1)");
        assert!(!html.contains("\"onmouseover"));
    }
}
