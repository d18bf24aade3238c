//! The gateway's snippets as inserted into diary pages: the policy banner
//! and the «Войти через госуслуги» button, self-styled so that they do not
//! depend on the diary's CSS.

/// The banner as inserted into a diary page: the sanitised policy HTML in a
/// plain, self-styled block that does not depend on the diary's CSS, and
/// the way to do what it asks: a link to log in through ESIA (the banner
/// is shown only to those not in through ESIA).
pub fn banner_snippet(banner_html: &str, login_href: &str) -> String {
    format!(
        "<div id=\"esia-gate-banner\" role=\"status\" style=\"box-sizing:border-box;margin:0;\
         padding:12px 16px;background:#fff4d6;border-bottom:2px solid #e0b400;color:#222;\
         font:15px/1.4 sans-serif;text-align:left\">{banner_html} <a href=\"{}\" \
         style=\"display:inline-block;margin-top:6px;padding:6px 12px;background:#0d4cd3;\
         color:#fff;border-radius:6px;text-decoration:none;white-space:nowrap\">\
         Войти через Госуслуги</a></div>",
        escape_attr(login_href)
    )
}

/// The «Войти через госуслуги» button linking to the gateway's login.
pub fn esia_button_snippet(href: &str) -> String {
    format!(
        "<p id=\"esia-gate-login\" style=\"margin:16px 0;font:16px/1.4 sans-serif\">\
         <a href=\"{}\" style=\"display:inline-block;padding:10px 18px;background:#0d4cd3;\
         color:#fff;border-radius:6px;text-decoration:none\">Войти через госуслуги</a></p>",
        escape_attr(href)
    )
}

fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
