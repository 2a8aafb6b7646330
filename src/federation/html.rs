//! Cleaning remote HTML with an allowlist (ammonia), the way Mastodon does: text formatting, links, mentions
//! and hashtags survive; scripts, styles, event handlers, iframes, images and non-http(s) links do not.

use std::collections::HashSet;
use std::sync::LazyLock;

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::empty();
    b.add_tags([
        "p",
        "br",
        "a",
        "span",
        "del",
        "s",
        "pre",
        "code",
        "em",
        "strong",
        "b",
        "i",
        "u",
        "ul",
        "ol",
        "li",
        "blockquote",
        "sub",
        "sup",
    ])
    .add_tag_attributes("a", ["href"])
    .add_tag_attributes("ol", ["start", "reversed"])
    .add_allowed_classes(
        "a",
        [
            "mention",
            "hashtag",
            "u-url",
            "status-link",
            "unhandled-link",
        ],
    )
    .add_allowed_classes(
        "span",
        ["h-card", "invisible", "ellipsis", "mention", "hashtag"],
    )
    .url_schemes(HashSet::from(["http", "https"]))
    .url_relative(ammonia::UrlRelative::Deny)
    .link_rel(Some("nofollow noopener noreferrer"))
    .strip_comments(true);
    b
});

/// Remote HTML, made safe to store and show.
pub fn sanitize(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

/// Remote plain text (names, summaries used as text): markup removed entirely, still HTML-escaped.
pub fn strip_tags(html: &str) -> String {
    ammonia::Builder::empty().clean(html).to_string()
}

/// Remote HTML as plain text: markup removed and entities decoded. Only for text that is escaped again
/// wherever it is shown (templates escape; JSON needs no escaping).
pub fn to_text(html: &str) -> String {
    crate::text::decode_entities(&strip_tags(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_what_is_dangerous() {
        let dirty = r#"<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:alert(1)">j</a>
            <a href="https://ok.example/" target="_blank" class="mention evil">ok</a><img src=x onerror=alert(1)>
            <iframe src="https://evil.example"></iframe><style>p{}</style><span style="color:red" class="h-card">s</span></p>"#;
        let clean = sanitize(dirty);
        for bad in [
            "onclick",
            "<script",
            "alert",
            "javascript:",
            "<img",
            "onerror",
            "<iframe",
            "<style",
            "style=",
            "evil",
            "target",
        ] {
            assert!(!clean.contains(bad), "{bad} survived in {clean}");
        }
        assert!(clean.contains(r#"<a href="https://ok.example/" class="mention" rel="nofollow noopener noreferrer">ok</a>"#), "{clean}");
        assert!(
            clean.contains(r#"<span class="h-card">s</span>"#),
            "{clean}"
        );
    }

    #[test]
    fn strips_tags_for_text() {
        assert_eq!(
            strip_tags("<b>Bold</b> &amp; <script>x</script>plain"),
            "Bold &amp; plain"
        );
    }
}
