//! Banner and page HTML a region wrote, cut down once at load to simple
//! formatting and links.

/// Tags a banner or page text may use: simple formatting and links.
const ALLOWED_TAGS: [&str; 12] = [
    "a", "b", "strong", "i", "em", "u", "br", "p", "span", "small", "ul", "li",
];

/// HTML a region wrote, cut down to simple formatting and links.
pub fn sanitise(html: &str) -> String {
    ammonia::Builder::empty()
        .add_tags(ALLOWED_TAGS)
        .add_tag_attributes("a", ["href", "title"])
        .url_schemes(["http", "https", "mailto", "tel"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}
