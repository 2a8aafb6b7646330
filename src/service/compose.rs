//! Turning what a member types into a post: plain text with links, `@user@host` mentions and `#hashtags`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use crate::text::escape_html;

static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?P<url>https?://[^\s<>\x22]+)|(?P<mention>@[A-Za-z0-9_]+(?:@[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9](?::[0-9]{1,5})?)?)|(?P<tag>#[\p{L}\p{N}_]*[\p{L}_][\p{L}\p{N}_]*)",
    )
    .expect("static regex")
});

/// A mention found in the text: the handle as written (`@user@host` or `@user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub handle: String,
}

/// What a mention resolved to.
#[derive(Debug, Clone)]
pub struct ResolvedMention {
    pub handle: String,
    pub actor_id: String,
    pub profile_url: String,
    pub username: String,
    /// `@user@domain`, as the tag names it.
    pub acct: String,
}

/// Mentions (deduplicated, in order) in a text.
pub fn mentions(text: &str) -> Vec<Mention> {
    let mut out: Vec<Mention> = Vec::new();
    for tok in tokens(text) {
        if let Token::Mention(h) = tok
            && !out.iter().any(|m| m.handle.eq_ignore_ascii_case(h))
        {
            out.push(Mention {
                handle: h.to_string(),
            });
        }
    }
    out
}

enum Token<'a> {
    Text(&'a str),
    Url(&'a str),
    Mention(&'a str),
    Tag(&'a str),
}

/// Splits text into plain runs and the special tokens. A token must start at a word boundary (so `a@b` in an
/// email address, `x#y` and URL fragments are not mentions or tags).
fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut last = 0;
    for caps in TOKENS.captures_iter(text) {
        let m = caps.get(0).expect("match");
        let before = text[..m.start()].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '@' | '#' | '&')) {
            continue;
        }
        let mut s = m.as_str();
        if caps.name("url").is_some() || caps.name("mention").is_some() {
            // Trailing punctuation belongs to the sentence.
            s = s.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'']);
        }
        if m.start() > last {
            out.push(Token::Text(&text[last..m.start()]));
        }
        let end = m.start() + s.len();
        out.push(if caps.name("url").is_some() {
            Token::Url(s)
        } else if caps.name("mention").is_some() {
            Token::Mention(s)
        } else {
            Token::Tag(s)
        });
        last = end;
    }
    if last < text.len() {
        out.push(Token::Text(&text[last..]));
    }
    out
}

/// The HTML and `tag` list of a post. `resolved` are the mentions that resolved; others stay plain text.
/// `tag_url` builds a hashtag's page URL.
pub fn render(
    text: &str,
    resolved: &[ResolvedMention],
    tag_url: impl Fn(&str) -> String,
) -> (String, Vec<Value>) {
    let mut tags: Vec<Value> = Vec::new();
    let mut paragraphs = Vec::new();
    for para in text.trim().replace("\r\n", "\n").split("\n\n") {
        let para = para.trim();
        if para.is_empty() {
            continue;
        }
        let mut html = String::new();
        for tok in tokens(para) {
            match tok {
                Token::Text(t) => html.push_str(&escape_html(t).replace('\n', "<br>")),
                Token::Url(u) => {
                    let e = escape_html(u);
                    html.push_str(&format!(
                        "<a href=\"{e}\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">{e}</a>"
                    ));
                }
                Token::Mention(h) => {
                    match resolved.iter().find(|r| r.handle.eq_ignore_ascii_case(h)) {
                        Some(r) => {
                            html.push_str(&format!(
                            "<span class=\"h-card\" translate=\"no\"><a href=\"{}\" class=\"u-url mention\">@<span>{}</span></a></span>",
                            escape_html(&r.profile_url),
                            escape_html(&r.username)
                        ));
                            if !tags.iter().any(|t| t["href"] == json!(r.actor_id)) {
                                tags.push(
                                    json!({"type": "Mention", "href": r.actor_id, "name": r.acct}),
                                );
                            }
                        }
                        None => html.push_str(&escape_html(h)),
                    }
                }
                Token::Tag(t) => {
                    let name = &t[1..];
                    let lower = name.to_lowercase();
                    let href = tag_url(&lower);
                    html.push_str(&format!(
                        "<a href=\"{}\" class=\"mention hashtag\" rel=\"tag\">#<span>{}</span></a>",
                        escape_html(&href),
                        escape_html(name)
                    ));
                    if !tags.iter().any(|t| t["name"] == json!(format!("#{lower}"))) {
                        tags.push(
                            json!({"type": "Hashtag", "href": href, "name": format!("#{lower}")}),
                        );
                    }
                }
            }
        }
        paragraphs.push(format!("<p>{html}</p>"));
    }
    (paragraphs.concat(), tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> ResolvedMention {
        ResolvedMention {
            handle: "@alice@social.example".into(),
            actor_id: "https://social.example/users/alice".into(),
            profile_url: "https://social.example/@alice".into(),
            username: "alice".into(),
            acct: "@alice@social.example".into(),
        }
    }

    #[test]
    fn finds_mentions_at_word_starts_only() {
        let m = mentions(
            "Hi @alice@social.example and @bob, mail me at x@y.example; @alice@social.example again",
        );
        assert_eq!(
            m,
            vec![
                Mention {
                    handle: "@alice@social.example".into()
                },
                Mention {
                    handle: "@bob".into()
                }
            ]
        );
        assert_eq!(
            mentions("@carol@localhost:8081: hello")[0].handle,
            "@carol@localhost:8081"
        );
    }

    #[test]
    fn renders_links_mentions_and_tags() {
        let (html, tags) = render(
            "Demo on Friday #Streatham @alice@social.example <b>\nhttps://mhrn.example/letter.\n\nSee you, @nobody@x.example",
            &[alice()],
            |t| format!("https://campaign.example/tags/{t}"),
        );
        assert_eq!(
            html,
            "<p>Demo on Friday <a href=\"https://campaign.example/tags/streatham\" class=\"mention hashtag\" rel=\"tag\">#<span>Streatham</span></a> \
             <span class=\"h-card\" translate=\"no\"><a href=\"https://social.example/@alice\" class=\"u-url mention\">@<span>alice</span></a></span> &lt;b&gt;<br>\
             <a href=\"https://mhrn.example/letter\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">https://mhrn.example/letter</a>.</p>\
             <p>See you, @nobody@x.example</p>"
        );
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0]["type"], "Hashtag");
        assert_eq!(tags[0]["name"], "#streatham");
        assert_eq!(
            tags[1],
            json!({"type": "Mention", "href": "https://social.example/users/alice", "name": "@alice@social.example"})
        );
    }

    #[test]
    fn url_fragments_are_not_hashtags() {
        let (html, tags) = render("https://x.example/page#section and a#b", &[], |t| {
            t.to_string()
        });
        assert!(tags.is_empty(), "{tags:?}");
        assert!(html.contains("href=\"https://x.example/page#section\""));
    }
}
