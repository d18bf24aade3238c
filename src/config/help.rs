//! `[help]`: who helps a person who is stuck — the region's or the school's
//! support (organisation, phones, e-mail, hours, a web page) and Госуслуги's
//! own help and map of service centres. Every page of the gateway shows it
//! at its foot. Checked here: phones that dial, e-mail addresses and web
//! addresses that open.

use serde::Deserialize;
use url::Url;

/// Госуслуги's help pages (seed «Дневник-ПОО»: «Инструкции по вопросам
/// регистрации в ЕСИА и работы с порталом госуслуг»).
pub const GOSUSLUGI_HELP_URL: &str = "https://www.gosuslugi.ru/help";
/// Госуслуги's support line in Russia (seeds: Voronezh, «Дневник-ПОО»).
pub const GOSUSLUGI_PHONE: &str = "8 800 100-70-10";
/// Госуслуги's list of service centres where an account is registered,
/// confirmed or restored (seed: Voronezh).
pub const SERVICE_CENTRES_URL: &str = "https://esia.gosuslugi.ru/public/ra/";

const MAX_TEXT: usize = 300;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HelpSettings {
    /// Who answers: «Служба поддержки электронного дневника», a school.
    #[serde(default)]
    pub organisation: Option<String>,
    /// Phone numbers, as people dial them.
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// When the phones are answered: «пн–пт 9:00–18:00».
    #[serde(default)]
    pub hours: Option<String>,
    /// A page of instructions or a forum.
    #[serde(default)]
    pub url: Option<String>,
    /// Госуслуги's help; `""` hides it.
    #[serde(default = "default_gosuslugi_help")]
    pub gosuslugi_help_url: String,
    /// Госуслуги's phone; `""` hides it.
    #[serde(default = "default_gosuslugi_phone")]
    pub gosuslugi_phone: String,
    /// The map or list of service centres (МФЦ); `""` hides it.
    #[serde(default = "default_service_centres")]
    pub service_centres_url: String,
}

fn default_gosuslugi_help() -> String {
    GOSUSLUGI_HELP_URL.into()
}
fn default_gosuslugi_phone() -> String {
    GOSUSLUGI_PHONE.into()
}
fn default_service_centres() -> String {
    SERVICE_CENTRES_URL.into()
}

impl Default for HelpSettings {
    fn default() -> Self {
        Self {
            organisation: None,
            phones: Vec::new(),
            email: None,
            hours: None,
            url: None,
            gosuslugi_help_url: default_gosuslugi_help(),
            gosuslugi_phone: default_gosuslugi_phone(),
            service_centres_url: default_service_centres(),
        }
    }
}

impl HelpSettings {
    /// Whether the region named a support of its own.
    pub fn has_own(&self) -> bool {
        self.organisation.is_some()
            || !self.phones.is_empty()
            || self.email.is_some()
            || self.url.is_some()
    }
}

/// The `tel:` target of a phone number as written (`8 (4852) 40-08-50` →
/// `84852400850`, `+7 495 727-47-47` → `+74957274747`).
pub fn tel_href(phone: &str) -> String {
    let plus = phone.trim_start().starts_with('+');
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if plus {
        format!("tel:+{digits}")
    } else {
        format!("tel:{digits}")
    }
}

fn phone_problem(phone: &str) -> Option<String> {
    let t = phone.trim();
    if let Some(c) = t
        .chars()
        .find(|c| !(c.is_ascii_digit() || " +-().".contains(*c)))
    {
        return Some(format!(
            "`{phone}`: a phone number has digits, spaces, `+`, `-`, `(`, `)` only (found `{c}`)"
        ));
    }
    if t.chars().skip(1).any(|c| c == '+') {
        return Some(format!("`{phone}`: `+` only at the start"));
    }
    let digits = t.chars().filter(char::is_ascii_digit).count();
    if !(5..=15).contains(&digits) {
        return Some(format!(
            "`{phone}`: {digits} digits; a phone number has 5 to 15"
        ));
    }
    None
}

fn email_problem(email: &str) -> Option<String> {
    let ok = match email.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email
                    .chars()
                    .any(|c| c.is_whitespace() || "<>\"'".contains(c))
        }
        None => false,
    };
    (!ok).then(|| format!("`{email}` is not an e-mail address (name@example.ru)"))
}

fn url_problem(v: &str) -> Option<String> {
    match Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => None,
        Ok(_) => Some(format!("`{v}` must be an http:// or https:// address")),
        Err(e) => Some(format!("`{v}` is not a web address: {e}")),
    }
}

fn text_problem(v: &str) -> Option<String> {
    if v.trim().is_empty() {
        Some("must not be empty (leave the key out instead)".into())
    } else if v.chars().count() > MAX_TEXT {
        Some(format!("longer than {MAX_TEXT} characters"))
    } else {
        None
    }
}

/// The first problem of `[help]`, naming its key.
pub fn validate(h: &HelpSettings) -> Result<(), (&'static str, String)> {
    if let Some(o) = &h.organisation
        && let Some(m) = text_problem(o)
    {
        return Err(("help.organisation", m));
    }
    if let Some(o) = &h.hours
        && let Some(m) = text_problem(o)
    {
        return Err(("help.hours", m));
    }
    for p in &h.phones {
        if let Some(m) = phone_problem(p) {
            return Err(("help.phones", m));
        }
    }
    if let Some(m) = h.email.as_deref().and_then(email_problem) {
        return Err(("help.email", m));
    }
    if let Some(m) = h.url.as_deref().and_then(url_problem) {
        return Err(("help.url", m));
    }
    if !h.gosuslugi_phone.is_empty()
        && let Some(m) = phone_problem(&h.gosuslugi_phone)
    {
        return Err(("help.gosuslugi_phone", m));
    }
    for (key, v) in [
        ("help.gosuslugi_help_url", &h.gosuslugi_help_url),
        ("help.service_centres_url", &h.service_centres_url),
    ] {
        if let Some(m) = (!v.is_empty()).then(|| url_problem(v)).flatten() {
            return Err((key, m));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_contacts_pass_and_typos_are_named() {
        let yaroslavl = HelpSettings {
            organisation: Some("Техническая поддержка АСИОУ".into()),
            phones: vec![
                "8 980 707 73 07".into(),
                "8(4852) 40 08 50".into(),
                "+7 495 727-47-47".into(),
                "400-512".into(),
            ],
            email: Some("asiou7@yandex.ru".into()),
            hours: Some("пн–пт 9:00–18:00".into()),
            url: Some("http://forum.asiou.ru/".into()),
            ..HelpSettings::default()
        };
        assert_eq!(validate(&yaroslavl), Ok(()));
        assert_eq!(validate(&HelpSettings::default()), Ok(()));
        assert!(!HelpSettings::default().has_own());

        let bad = |h: HelpSettings| validate(&h).err().map(|(k, _)| k);
        let phone = |p: &str| HelpSettings {
            phones: vec![p.into()],
            ..HelpSettings::default()
        };
        assert_eq!(bad(phone("8 800 1OO-70-10")), Some("help.phones"));
        assert_eq!(bad(phone("12")), Some("help.phones"));
        assert_eq!(bad(phone("8+800")), Some("help.phones"));
        let email = HelpSettings {
            email: Some("asiou7.yandex.ru".into()),
            ..HelpSettings::default()
        };
        assert_eq!(bad(email), Some("help.email"));
        let url = HelpSettings {
            url: Some("forum.asiou.ru".into()),
            ..HelpSettings::default()
        };
        assert_eq!(bad(url), Some("help.url"));
        let js = HelpSettings {
            service_centres_url: "javascript:alert(1)".into(),
            ..HelpSettings::default()
        };
        assert_eq!(bad(js), Some("help.service_centres_url"));
        let hidden = HelpSettings {
            gosuslugi_help_url: String::new(),
            gosuslugi_phone: String::new(),
            service_centres_url: String::new(),
            ..HelpSettings::default()
        };
        assert_eq!(validate(&hidden), Ok(()));
    }

    #[test]
    fn a_phone_dials_its_digits() {
        assert_eq!(tel_href("8 (4852) 40-08-50"), "tel:84852400850");
        assert_eq!(tel_href("+7 495 727-47-47"), "tel:+74957274747");
    }
}
