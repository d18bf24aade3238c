//! `esia-gate pages`: every page of the gateway written as an HTML file,
//! with the configuration's help contacts and, for each policy given, the
//! region's own texts — so that regional IT reads what parents will read
//! without logging in as anyone. Sample people and accounts stand in for
//! real ones.

use std::fmt::Write as _;
use std::path::Path;

use super::accounts::{self, AccountView};
use super::{Frame, Page, escape, policy as policy_pages};
use crate::config::help::HelpSettings;
use crate::policy::{Policy, Trust, TrustLevel};

/// One written page: its file name and what it is.
pub struct Written {
    pub file: String,
    pub about: String,
}

const SAMPLE_ID: &str = "3f6c2a9e81d04b7c";
const CSRF: &str = "preview";

fn account(login: &str, name: &str, role: &'static str, class: &str, current: bool) -> AccountView {
    AccountView {
        login: login.into(),
        name: name.into(),
        role,
        school: "МОУ СШ №5".into(),
        class: class.into(),
        removable: false,
        current,
    }
}

/// The pages every region shares, by file name and what they are.
fn common() -> Vec<(&'static str, &'static str, Page)> {
    let teacher_parent = [
        account("petrov.s", "Петров Сергей Иванович", "учитель", "", false),
        account(
            "petrov.parent",
            "Петров Сергей Иванович",
            "родитель",
            "",
            false,
        ),
    ];
    let one = [account(
        "ivanova.m",
        "Иванова Мария Петровна",
        "родитель",
        "",
        true,
    )];
    let mut kids = vec![
        account("ivanov.n", "Иванов Никита", "ученик", "7Б", true),
        account("ivanova.a", "Иванова Анна", "ученик", "2А", false),
    ];
    kids[1].removable = true;
    vec![
        (
            "consent-refused",
            "отказ от согласия на Госуслугах (без политики)",
            super::consent_refused(&[], None),
        ),
        (
            "login-expired",
            "ссылка входа устарела",
            super::login_expired(),
        ),
        (
            "esia-refused",
            "Госуслуги вернули ошибку",
            super::esia_refused("ESIA-007002"),
        ),
        (
            "esia-unavailable",
            "Госуслуги не отвечают",
            super::esia_unavailable(),
        ),
        (
            "login-not-verified",
            "ответ Госуслуг не прошёл проверку",
            super::login_not_verified(),
        ),
        (
            "service-unavailable",
            "сбой хранилища шлюза",
            super::service_unavailable(),
        ),
        (
            "no-snils",
            "в Госуслугах нет СНИЛС (привязка выключена)",
            super::no_snils(),
        ),
        (
            "no-match",
            "нет совпадения в дневнике (привязка выключена)",
            super::no_match("В дневнике нет учётной записи с вашими ФИО и СНИЛС из Госуслуг."),
        ),
        (
            "choose-account",
            "выбор учётной записи: учитель и родитель",
            accounts::choose_account(&teacher_parent, CSRF, true),
        ),
        (
            "choose-account-one",
            "страница учётных записей, одна запись",
            accounts::choose_account(&one, CSRF, true),
        ),
        (
            "link",
            "привязка учётной записи дневника по логину и паролю",
            accounts::link_form(
                Some(
                    "В Госуслугах не указан или не подтверждён СНИЛС, поэтому мы не нашли вас в дневнике автоматически.",
                ),
                None,
                CSRF,
            ),
        ),
        (
            "link-wrong-password",
            "привязка: неверный пароль",
            accounts::link_form(None, Some("Неверный логин или пароль."), CSRF),
        ),
        (
            "rate-limited",
            "слишком много неудачных попыток",
            accounts::rate_limited(15),
        ),
        (
            "already-linked",
            "учётная запись уже привязана к другому человеку",
            accounts::already_linked(),
        ),
        (
            "diary-login-unavailable",
            "дневник не ответил при проверке пароля",
            accounts::diary_login_unavailable("/esia-gate/link"),
        ),
        (
            "linking-disabled",
            "привязка выключена",
            accounts::linking_disabled(),
        ),
        (
            "children",
            "дети родителя",
            accounts::children(&kids, CSRF, None, true),
        ),
        (
            "children-none",
            "дети родителя: пока никого",
            accounts::children(&[], CSRF, None, true),
        ),
        (
            "form-expired",
            "страница устарела (старая вкладка)",
            accounts::form_expired(),
        ),
        (
            "form-unreadable",
            "форма шлюза не дошла",
            super::form_unreadable(),
        ),
        (
            "form-refused",
            "форма входа дневника в необычном виде",
            policy_pages::form_refused(false),
        ),
        (
            "form-refused-too-large",
            "форма входа дневника слишком большая",
            policy_pages::form_refused(true),
        ),
        (
            "diary-unavailable",
            "дневник не отвечает",
            super::diary_unavailable(),
        ),
        (
            "internal-error",
            "внутренняя ошибка",
            super::internal_error(),
        ),
        ("not-found", "нет такой страницы", super::not_found()),
        (
            "logout-confirm",
            "выйти из дневника?",
            super::logout_confirm(CSRF),
        ),
        ("logged-out", "вы вышли", super::logged_out()),
    ]
}

/// The pages whose words come from a policy.
fn regional(p: &Policy) -> Vec<(String, String, Page)> {
    let alternatives = &p.closed_page.alternatives;
    let mut out = vec![
        (
            "confirm-standard".to_string(),
            "упрощённая учётная запись там, где нужна стандартная ([confirm.standard])".to_string(),
            policy_pages::confirm_account(
                p.confirm.for_trust(Trust::Standard),
                Trust::Standard,
                TrustLevel::Simplified,
            ),
        ),
        (
            "confirm-confirmed".to_string(),
            "стандартная учётная запись там, где нужна подтверждённая ([confirm.confirmed])"
                .to_string(),
            policy_pages::confirm_account(
                p.confirm.for_trust(Trust::Confirmed),
                Trust::Confirmed,
                TrustLevel::Standard,
            ),
        ),
        (
            "grades-closed".to_string(),
            "оценки закрыты для входа по паролю ([closed_grades])".to_string(),
            policy_pages::grades_closed(&p.closed_page, "/esia-gate/login?return_to=%2Fgrades"),
        ),
        (
            "password-login-closed".to_string(),
            "вход по логину и паролю закрыт".to_string(),
            policy_pages::password_login_closed("/esia-gate/login?return_to=%2F", alternatives),
        ),
        (
            "consent-refused".to_string(),
            "отказ от согласия на Госуслугах ([closed_grades] alternatives)".to_string(),
            super::consent_refused(alternatives, None),
        ),
    ];
    let mut banners = String::new();
    for s in &p.stages {
        let _ = write!(
            banners,
            "<h2>{} — с {}</h2>",
            escape(&s.name),
            s.from.format("%d.%m.%Y")
        );
        match &s.banner {
            // Sanitised when the policy was loaded.
            Some(b) => {
                let _ = write!(
                    banners,
                    "<div style=\"padding:10px 12px;border-radius:8px;background:#fff4d6\">{b}</div>"
                );
            }
            None => banners.push_str("<p>Без баннера.</p>"),
        }
    }
    out.push((
        "banners".to_string(),
        "баннеры этапов (вставляются в страницы дневника)".to_string(),
        Page {
            status: 200,
            title: format!("Баннеры: {}", p.name).into(),
            paragraphs: vec![
                "Так баннеры этапов выглядят сами по себе; в дневнике они стоят вверху его \
страниц для тех, кто вошёл не через Госуслуги."
                    .into(),
            ],
            extra: banners,
            actions: Vec::new(),
        },
    ));
    out
}

/// A name safe as a file name: the policy's own, in `[a-z0-9_-]`.
fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() { "policy".into() } else { s }
}

/// Write every page into `dir` (created if missing) with an `index.html`
/// listing them; returns what was written, the index first.
pub fn write_all(
    dir: &Path,
    help: &HelpSettings,
    policies: &[Policy],
) -> std::io::Result<Vec<Written>> {
    std::fs::create_dir_all(dir)?;
    let frame = Frame {
        request_id: SAMPLE_ID,
        help,
    };
    let mut written = Vec::new();
    let mut index = String::from("<h2>Общие страницы</h2><ul>");
    for (name, about, page) in common() {
        let file = format!("{name}.html");
        std::fs::write(dir.join(&file), page.render_in(&frame))?;
        let _ = write!(
            index,
            "<li><a href=\"{file}\">{}</a> — {}</li>",
            escape(&page.title),
            escape(about)
        );
        written.push(Written {
            file,
            about: about.to_string(),
        });
    }
    index.push_str("</ul>");
    for p in policies {
        let stem = file_stem(&p.name);
        let _ = write!(
            index,
            "<h2>Политика {}</h2>{}<ul>",
            escape(&p.name),
            p.description
                .as_deref()
                .map(|d| format!("<p>{}</p>", escape(d)))
                .unwrap_or_default()
        );
        for (name, about, page) in regional(p) {
            let file = format!("{stem}-{name}.html");
            std::fs::write(dir.join(&file), page.render_in(&frame))?;
            let _ = write!(
                index,
                "<li><a href=\"{file}\">{}</a> — {}</li>",
                escape(&page.title),
                escape(&about)
            );
            written.push(Written { file, about });
        }
        index.push_str("</ul>");
    }
    let page = Page {
        status: 200,
        title: "Страницы шлюза входа через Госуслуги".into(),
        paragraphs: vec![format!(
            "Страниц: {}. Внизу каждой — контакты помощи из конфигурации{}. Люди и учётные \
записи на страницах — образцы.",
            written.len(),
            if policies.is_empty() {
                ""
            } else {
                "; тексты региона — из его политики"
            }
        )],
        extra: index,
        actions: Vec::new(),
    };
    std::fs::write(dir.join("index.html"), page.render_in(&frame))?;
    written.insert(
        0,
        Written {
            file: "index.html".into(),
            about: "список страниц".into(),
        },
    );
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_is_written_with_the_help_contacts_and_the_regions_texts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = include_str!("../../policies/voronezh-2017.toml");
        let voronezh = crate::policy::parse("voronezh-2017.toml", src).expect("policy");
        let help = HelpSettings {
            organisation: Some("Служба поддержки дневника".into()),
            phones: vec!["8 (473) 212-75-10".into()],
            ..HelpSettings::default()
        };
        let written = write_all(dir.path(), &help, &[voronezh]).expect("written");
        assert_eq!(written[0].file, "index.html");
        let index = std::fs::read_to_string(dir.path().join("index.html")).expect("index");
        for w in &written[1..] {
            assert!(
                index.contains(&format!("href=\"{}\"", w.file)),
                "{}",
                w.file
            );
            let html = std::fs::read_to_string(dir.path().join(&w.file)).expect("page");
            assert!(html.contains("Служба поддержки дневника"), "{}", w.file);
            assert!(html.contains("tel:84732127510"), "{}", w.file);
        }
        let confirm =
            std::fs::read_to_string(dir.path().join("voronezh-2017-confirm-confirmed.html"))
                .expect("confirm page");
        assert!(confirm.contains("29 сентября 2017"), "{confirm}");
        assert!(!confirm.contains("2024"), "{confirm}");
    }
}
