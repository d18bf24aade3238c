//! The diary's login page as a browser reads it: the hidden inputs of its
//! login form (CSRF tokens, a form id, a return target), which the
//! password check sends back with the login and the password. A pure
//! function of the page's text.
//!
//! The page is read with html5ever's tokenizer (already in the build for
//! `ammonia`), not with patterns: attribute quoting, character references,
//! comments and the raw text of `<script>` and `<textarea>` are read as a
//! browser reads them, so an `<input>` written inside a script string or a
//! comment is not taken for a field.

use std::cell::RefCell;

use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer,
};
use html5ever::{TokenizerResult, tendril::StrTendril};

/// One `<form>` of the page.
#[derive(Debug, Default)]
struct Form {
    hidden: Vec<(String, String)>,
    /// Names of the other fields it has.
    fields: Vec<String>,
}

#[derive(Default)]
struct Forms {
    all: Vec<Form>,
    /// Inside a `<form>` (forms do not nest: an inner start tag is
    /// ignored, as browsers ignore it).
    open: bool,
}

struct Sink(RefCell<Forms>);

fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| a.value.as_ref())
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let Token::TagToken(tag) = token else {
            return TokenSinkResult::Continue;
        };
        let mut forms = self.0.borrow_mut();
        match (tag.kind, &*tag.name) {
            (TagKind::StartTag, "form") if !forms.open => {
                forms.all.push(Form::default());
                forms.open = true;
            }
            (TagKind::EndTag, "form") => forms.open = false,
            (TagKind::StartTag, "input") if forms.open => {
                let name = attr(&tag, "name").unwrap_or("").to_string();
                let kind = attr(&tag, "type")
                    .unwrap_or("text")
                    .trim()
                    .to_ascii_lowercase();
                if let Some(form) = forms.all.last_mut()
                    && !name.is_empty()
                    && attr(&tag, "disabled").is_none()
                {
                    if kind == "hidden" {
                        let value = attr(&tag, "value").unwrap_or("").to_string();
                        form.hidden.push((name, value));
                    } else {
                        form.fields.push(name);
                    }
                }
            }
            // Their content is text, never tags: switch the tokenizer as a
            // browser's tree builder does.
            (TagKind::StartTag, "script") => {
                return TokenSinkResult::RawData(RawKind::ScriptData);
            }
            (TagKind::StartTag, "style" | "xmp" | "iframe" | "noembed" | "noframes") => {
                return TokenSinkResult::RawData(RawKind::Rawtext);
            }
            (TagKind::StartTag, "textarea" | "title") => {
                return TokenSinkResult::RawData(RawKind::Rcdata);
            }
            (TagKind::StartTag, "plaintext") => return TokenSinkResult::Plaintext,
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// The hidden inputs of the login form on `page`: the form holding the
/// password field (else the login field, else the page's only form), in
/// page order; the login and password fields themselves are left out.
/// `None` when the page has no such form.
pub fn hidden_fields(
    page: &str,
    login_field: &str,
    password_field: &str,
) -> Option<Vec<(String, String)>> {
    let tokenizer = Tokenizer::new(Sink(RefCell::new(Forms::default())), Default::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from(page));
    while !input.is_empty() {
        if let TokenizerResult::Done = tokenizer.feed(&input) {
            break;
        }
    }
    tokenizer.end();
    let forms = std::mem::take(&mut tokenizer.sink.0.borrow_mut().all);
    let has = |f: &Form, name: &str| f.fields.iter().any(|n| n == name);
    let form = match forms.iter().position(|f| has(f, password_field)) {
        Some(i) => forms.into_iter().nth(i),
        None => match forms.iter().position(|f| has(f, login_field)) {
            Some(i) => forms.into_iter().nth(i),
            None if forms.len() == 1 => forms.into_iter().next(),
            None => None,
        },
    }?;
    Some(
        form.hidden
            .into_iter()
            .filter(|(n, _)| n != login_field && n != password_field)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(page: &str) -> Option<Vec<(String, String)>> {
        hidden_fields(page, "login", "password")
    }

    fn pairs(v: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_login_forms_hidden_inputs_are_read_as_a_browser_reads_them() {
        let page = r#"<!doctype html><title>Вход <input type=hidden name=t value=no></title>
<form action="/search"><input type="hidden" name="csrf" value="search-token"><input name="q"></form>
<script>var f = '<form><input type="hidden" name="csrf" value="in-a-script">';</script>
<!-- <input type="hidden" name="csrf" value="in-a-comment"> -->
<FORM method=post action=/login>
  <INPUT TYPE=HIDDEN NAME=csrf VALUE='a&amp;b&#x3d;c'>
  <input type="hidden" name="return" value="/grades?x=1&amp;y=2">
  <input type="hidden" name="off" value="1" disabled>
  <input type="hidden" name="login" value="not-ours">
  <input type="text" name="login"><input type="password" name="password">
</FORM>"#;
        assert_eq!(
            fields(page),
            pairs(&[("csrf", "a&b=c"), ("return", "/grades?x=1&y=2")])
        );
    }

    #[test]
    fn without_a_password_field_the_login_field_or_the_only_form_is_taken() {
        let by_login = r#"<form><input type=hidden name=a value=1></form>
<form><input type=hidden name=b value=2><input name=login></form>"#;
        assert_eq!(fields(by_login), pairs(&[("b", "2")]));
        let only = r#"<form><input type=hidden name=c value=3><input name=user></form>"#;
        assert_eq!(fields(only), pairs(&[("c", "3")]));
        assert_eq!(fields("<p>Нет формы</p>"), None);
        assert_eq!(fields("<form></form><form></form>"), None);
        // A broken page is still read as far as it goes.
        assert_eq!(
            fields(
                "<form><input type=hidden name=d value=\"4\"><input type=password name=password"
            ),
            pairs(&[("d", "4")])
        );
    }
}
