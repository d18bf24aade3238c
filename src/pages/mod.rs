//! The gateway's own pages, in Russian, for a parent on a phone: what
//! happened and what to do, never a technical detail (those go to the log).

pub mod accounts;
pub mod frame;
pub mod policy;
pub mod preview;

use std::borrow::Cow;

use crate::config::GATE_PREFIX;

pub use frame::Frame;

/// One page: a heading, what happened, what to do, and buttons. Around it
/// ([`Frame`]): who helps, and on a fault the request code.
pub struct Page {
    pub status: u16,
    /// The heading: a text of the gateway's own, or the region's.
    pub title: Cow<'static, str>,
    pub paragraphs: Vec<String>,
    /// Trusted HTML built by this module (forms, lists), after the text.
    pub extra: String,
    pub actions: Vec<(String, &'static str)>,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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

/// The bar inserted at the top of the diary's pages for a person with
/// several accounts or children: who they are, and where to switch.
pub fn account_bar(
    name: &str,
    role: &str,
    child: Option<&str>,
    accounts: bool,
    children: bool,
    csrf: &str,
) -> String {
    let mut links = Vec::new();
    if accounts {
        links.push(format!(
            "<a href=\"{GATE_PREFIX}/accounts\" style=\"color:#fff\">Сменить учётную запись</a>"
        ));
    }
    if children {
        links.push(format!(
            "<a href=\"{GATE_PREFIX}/children\" style=\"color:#fff\">Дети</a>"
        ));
    }
    // Logging out changes state: a form with the session's token, so that
    // no other site can log a person out with a link or an image.
    links.push(format!(
        "<form method=\"post\" action=\"{GATE_PREFIX}/logout\" style=\"display:inline;margin:0\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" style=\"background:none;\
border:0;padding:0;color:#fff;font:inherit;text-decoration:underline;cursor:pointer\">Выйти</button></form>",
        escape(csrf)
    ));
    let child = child
        .map(|c| format!(", дневник: <b>{}</b>", escape(c)))
        .unwrap_or_default();
    format!(
        "<div id=\"esia-gate-account\" style=\"box-sizing:border-box;margin:0;padding:8px 16px;\
background:#0d4cd3;color:#fff;font:14px/1.5 sans-serif;text-align:left\">Госуслуги: <b>{}</b> ({}){child} · {}</div>",
        escape(name),
        escape(role),
        links.join(" · ")
    )
}

fn login_again(return_to: &str) -> (String, &'static str) {
    (login_href(return_to), "Войти через Госуслуги")
}

pub fn login_href(return_to: &str) -> String {
    let enc: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    format!("{GATE_PREFIX}/login?return_to={enc}")
}

fn home() -> (String, &'static str) {
    ("/".to_string(), "На главную страницу дневника")
}

/// The region's ways to get grades without ESIA, as a list under a
/// heading; without any, a sentence true everywhere: the class teacher
/// knows how the school tells marks.
pub fn alternatives_block(alternatives: &[String]) -> String {
    if alternatives.is_empty() {
        return "<p>Если вы не хотите пользоваться Госуслугами, спросите классного руководителя, \
как ещё школа сообщает об оценках.</p>"
            .to_string();
    }
    // The policy's texts were sanitised when the file was loaded.
    let mut html = String::from("<h2>Если вы не пользуетесь Госуслугами</h2><ul>");
    for a in alternatives {
        html.push_str("<li>");
        html.push_str(a);
        html.push_str("</li>");
    }
    html.push_str("</ul>");
    html
}

/// The user pressed «Отказать» on ESIA's consent screen (ESIA-007004).
/// `alternatives` are the region's ways to get grades without ESIA;
/// `diary_login` the diary's own login page when someone may still use it
/// (never "/": without a session that leads straight back to ESIA).
pub fn consent_refused(alternatives: &[String], diary_login: Option<&str>) -> Page {
    let mut actions = vec![(login_href("/"), "Войти через Госуслуги ещё раз")];
    if let Some(href) = diary_login {
        actions.push((href.to_string(), "Войти по логину и паролю дневника"));
    }
    Page {
        status: 403,
        title: "Вы не дали согласие на передачу данных".into(),
        paragraphs: vec![
            "Электронному дневнику нужны ваши фамилия, имя, отчество и СНИЛС из Госуслуг: по \
ним он находит вашу учётную запись. Без согласия вход через Госуслуги невозможен."
                .into(),
            "Если передумаете, войдите ещё раз и нажмите «Предоставить».".into(),
        ],
        extra: alternatives_block(alternatives),
        actions,
    }
}

/// State missing, unknown, reused, expired, or from another browser.
pub fn login_expired() -> Page {
    Page {
        status: 400,
        title: "Вход не завершён".into(),
        paragraphs: vec![
            "Эта ссылка входа устарела или была открыта в другом браузере. Так бывает, если \
вход длился дольше 10 минут, страницу открыли повторно или из закладки."
                .into(),
            "Начните вход заново — это займёт минуту.".into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/")],
    }
}

/// ESIA refused or failed the login with an error we do not explain better.
pub fn esia_refused(code: &str) -> Page {
    Page {
        status: 502,
        title: "Госуслуги не подтвердили вход".into(),
        paragraphs: vec![
            format!(
                "Госуслуги вернули ошибку {}. Попробуйте войти ещё раз через несколько минут.",
                escape(code)
            ),
            "Если ошибка повторяется, сообщите в службу поддержки дневника код обращения внизу \
страницы."
                .into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/")],
    }
}

/// ESIA timed out, was unreachable or answered 5xx.
pub fn esia_unavailable() -> Page {
    Page {
        status: 503,
        title: "Госуслуги сейчас не отвечают".into(),
        paragraphs: vec![
            "Мы не смогли связаться с Госуслугами, чтобы завершить вход. Обычно это временно."
                .into(),
            "Попробуйте снова через несколько минут.".into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/")],
    }
}

/// The gateway's own store (sessions, links) did not answer: nothing to do
/// with ESIA or the diary, and logging in again later helps.
pub fn service_unavailable() -> Page {
    Page {
        status: 503,
        title: "Сервис входа временно не работает".into(),
        paragraphs: vec![
            "У сервиса входа в электронный дневник технический сбой: мы не смогли сохранить или \
прочитать данные о входе. Госуслуги и сам дневник здесь ни при чём, ваши данные не потеряны."
                .into(),
            "Попробуйте войти ещё раз через несколько минут. Если не получится, сообщите в \
поддержку код обращения."
                .into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/")],
    }
}

/// A form of the gateway's pages arrived too large or cut off.
pub fn form_unreadable() -> Page {
    Page {
        status: 400,
        title: "Форма не дошла".into(),
        paragraphs: vec![
            "Мы не смогли прочитать отправленную форму: она пришла не полностью или слишком \
большой. Ничего не изменилось."
                .into(),
            "Вернитесь на предыдущую страницу, обновите её и отправьте форму ещё раз.".into(),
        ],
        extra: String::new(),
        actions: vec![(format!("{GATE_PREFIX}/accounts"), "Мои учётные записи")],
    }
}

/// The token or the answer failed our checks: possibly an attack.
pub fn login_not_verified() -> Page {
    Page {
        status: 502,
        title: "Не удалось проверить вход".into(),
        paragraphs: vec![
            "Ответ Госуслуг не прошёл проверку безопасности, поэтому мы не открыли дневник.".into(),
            "Попробуйте войти ещё раз. Если ошибка повторяется, сообщите в поддержку код \
обращения."
                .into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/")],
    }
}

/// ESIA gave no SNILS: the account is simplified or the SNILS is not verified.
pub fn no_snils() -> Page {
    Page {
        status: 403,
        title: "В Госуслугах нет подтверждённого СНИЛС".into(),
        paragraphs: vec![
            "Учётную запись в дневнике мы находим по ФИО и СНИЛС. В вашей учётной записи \
Госуслуг СНИЛС не указан или ещё не проверен."
                .into(),
            "Добавьте СНИЛС в профиль на gosuslugi.ru (проверка обычно занимает несколько \
минут, иногда до пяти дней) и войдите снова."
                .into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/")],
    }
}

/// Nobody in the diary with this FIO + SNILS (manual linking comes later).
pub fn no_match(reason: &str) -> Page {
    Page {
        status: 403,
        title: "Не нашли вашу учётную запись в дневнике".into(),
        paragraphs: vec![
            escape(reason),
            "Попросите администратора дневника в вашей школе проверить, что в вашем профиле \
фамилия, имя, отчество и СНИЛС записаны так же, как в Госуслугах. После исправления \
войдите снова."
                .into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/")],
    }
}

pub fn diary_unavailable() -> Page {
    Page {
        status: 502,
        title: "Электронный дневник сейчас недоступен".into(),
        paragraphs: vec![
            "Вход выполнен, но сам дневник не отвечает. Обычно это временно: идут технические \
работы или большая нагрузка."
                .into(),
            "Обновите страницу через несколько минут.".into(),
        ],
        extra: String::new(),
        actions: vec![home()],
    }
}

pub fn internal_error() -> Page {
    Page {
        status: 500,
        title: "Что-то пошло не так".into(),
        paragraphs: vec![
            "Мы не смогли обработать запрос. Ваши данные не потеряны.".into(),
            "Попробуйте ещё раз через минуту; если не получится — сообщите в поддержку код \
обращения."
                .into(),
        ],
        extra: String::new(),
        actions: vec![home()],
    }
}

pub fn not_found() -> Page {
    Page {
        status: 404,
        title: "Страница не найдена".into(),
        paragraphs: vec!["Такой страницы нет. Проверьте адрес или вернитесь на главную.".into()],
        extra: String::new(),
        actions: vec![home()],
    }
}

/// «Выйти?»: logging out is a POST carrying the session's token; a link
/// (the confirmation page's own, or a stale bookmark) lands here.
pub fn logout_confirm(csrf: &str) -> Page {
    Page {
        status: 200,
        title: "Выйти из дневника?".into(),
        paragraphs: vec![
            "Вы выйдете из электронного дневника и из Госуслуг на этом устройстве. На чужом или \
школьном компьютере выходите всегда."
                .into(),
        ],
        extra: format!(
            "<form method=\"post\" action=\"{GATE_PREFIX}/logout\"><input type=\"hidden\" \
name=\"csrf\" value=\"{}\"><button class=\"primary\" type=\"submit\">Выйти</button></form>",
            escape(csrf)
        ),
        actions: vec![home()],
    }
}

pub fn logged_out() -> Page {
    Page {
        status: 200,
        title: "Вы вышли из дневника".into(),
        paragraphs: vec![
            "Сеанс завершён. Чтобы снова открыть дневник, войдите через Госуслуги.".into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::help::HelpSettings;

    #[test]
    fn pages_are_russian_phone_friendly_and_escaped() {
        let html = no_match("<script>x</script>").render("rid-1");
        assert!(html.contains("lang=\"ru\""));
        assert!(html.contains("width=device-width"));
        assert!(!html.contains("<script>x"));
    }

    #[test]
    fn only_a_fault_asks_to_quote_its_code() {
        for fault in [internal_error(), login_expired(), service_unavailable()] {
            let html = fault.render("rid-1");
            assert!(html.contains("Код обращения: rid-1"), "{}", fault.title);
        }
        for fine in [
            logged_out(),
            consent_refused(&[], None),
            no_match("нет"),
            accounts::link_form(None, Some("Неверный логин или пароль"), "t"),
            accounts::choose_account(&[], "t", true),
        ] {
            let html = fine.render("rid-1");
            assert!(!html.contains("Код обращения"), "{}", fine.title);
        }
    }

    #[test]
    fn every_page_names_who_helps() {
        let none = logged_out().render("r");
        assert!(
            none.contains("администратор дневника в вашей школе"),
            "{none}"
        );
        assert!(none.contains("href=\"tel:88001007010\""), "{none}");
        assert!(none.contains("https://www.gosuslugi.ru/help"), "{none}");
        let help = HelpSettings {
            organisation: Some("Поддержка АСИОУ <b>".into()),
            phones: vec!["8 980 707 73 07".into()],
            email: Some("asiou7@yandex.ru".into()),
            hours: Some("пн–пт 9–18".into()),
            url: Some("http://forum.asiou.ru/".into()),
            ..HelpSettings::default()
        };
        let html = not_found().render_in(&Frame {
            request_id: "r",
            help: &help,
        });
        assert!(html.contains("<b>Поддержка АСИОУ &lt;b&gt;</b>"), "{html}");
        assert!(html.contains("href=\"tel:89807077307\""), "{html}");
        assert!(html.contains("href=\"mailto:asiou7@yandex.ru\""), "{html}");
        assert!(html.contains(">forum.asiou.ru</a>"), "{html}");
        assert!(!html.contains("администратор дневника в вашей школе"));
    }

    #[test]
    fn a_refused_consent_never_sends_home_to_esia() {
        let page = consent_refused(&[], None);
        assert!(page.actions.iter().all(|(href, _)| href != "/"));
        let with_diary = consent_refused(&["<b>Бумажный дневник</b>".into()], Some("/login"));
        assert!(with_diary.actions.iter().any(|(href, _)| href == "/login"));
        let html = with_diary.render("r");
        assert!(html.contains("<li><b>Бумажный дневник</b></li>"), "{html}");
    }
}
