//! Pages the region's policy shows instead of the diary's: closed grades
//! for password sessions, a password login that is no longer possible, and
//! an ESIA account below the level a stage wants — each in the region's
//! words where the region has its own.

use super::{Page, alternatives_block, escape};
use crate::config::GATE_PREFIX;
use crate::policy::{ClosedPage, ConfirmPage, Trust, TrustLevel};

/// Grades closed to a password session (Yaroslavl: «вход в личный кабинет
/// будет возможен, но доступ к текущей успеваемости будет закрыт»). The
/// region's title and message say it once; the button to log in comes
/// right after them, above the alternatives, so a phone shows it at once.
pub fn grades_closed(p: &ClosedPage, login_href: &str) -> Page {
    // The policy's texts were sanitised when the file was loaded.
    let mut extra = format!(
        "<div class=\"actions\"><a class=\"btn\" href=\"{}\">Войти через Госуслуги</a></div>",
        escape(login_href)
    );
    if !p.alternatives.is_empty() {
        extra.push_str(&alternatives_block(&p.alternatives));
    }
    Page {
        status: 403,
        title: p.title.clone().into(),
        paragraphs: vec![p.message.clone()],
        extra,
        actions: vec![("/".into(), "На главную страницу дневника")],
    }
}

/// The diary's login form is closed for this account; `alternatives` are
/// the region's ways to get grades without ESIA.
pub fn password_login_closed(login_href: &str, alternatives: &[String]) -> Page {
    Page {
        status: 403,
        title: "Вход по логину и паролю закрыт".into(),
        paragraphs: vec![
            "Для этой учётной записи вход в электронный дневник теперь возможен только через \
Госуслуги (ЕСИА). Нажмите «Войти через Госуслуги»: учётная запись дневника найдётся сама или \
привяжется один раз по логину и паролю."
                .into(),
            "Если учётной записи на Госуслугах нет, её можно создать на gosuslugi.ru.".into(),
        ],
        extra: alternatives_block(alternatives),
        actions: vec![(login_href.to_string(), "Войти через Госуслуги")],
    }
}

/// An ESIA account of `level` below the level a stage wants (`need`), in
/// the region's words (`p`, the policy's `[confirm.LEVEL]`).
pub fn confirm_account(p: &ConfirmPage, need: Trust, level: TrustLevel) -> Page {
    let wanted = match need {
        Trust::Confirmed => "подтверждённой",
        Trust::Standard | Trust::Any => "стандартной",
    };
    // The policy's texts were sanitised when the file was loaded.
    let mut extra = String::new();
    if !p.ways.is_empty() {
        extra.push_str("<h2>Как это сделать</h2><ul>");
        for w in &p.ways {
            extra.push_str("<li>");
            extra.push_str(w);
            extra.push_str("</li>");
        }
        extra.push_str("</ul>");
    }
    for n in &p.notes {
        extra.push_str("<p>");
        extra.push_str(n);
        extra.push_str("</p>");
    }
    extra.push_str(&format!(
        "<p>Когда учётная запись станет {wanted}, выйдите и войдите в дневник снова.</p>"
    ));
    Page {
        status: 403,
        title: p.title.clone().into(),
        paragraphs: vec![
            p.message.clone(),
            format!("Сейчас у вас <b>{}</b> учётная запись.", level.russian()),
        ],
        extra,
        actions: vec![(format!("{GATE_PREFIX}/logout"), "Выйти и войти снова")],
    }
}

/// A diary form the gateway cannot read unambiguously (a field sent twice,
/// an unusual encoding) or that is too large: it was not passed on.
pub fn form_refused(too_large: bool) -> Page {
    Page {
        status: if too_large { 413 } else { 400 },
        title: "Форма не отправлена".into(),
        paragraphs: vec![
            if too_large {
                "Форма оказалась слишком большой, и мы не передали её в дневник.".into()
            } else {
                "Форма пришла в необычном виде (например, одно и то же поле дважды), и мы не \
передали её в дневник, чтобы не впустить никого под чужим именем."
                    .into()
            },
            "Откройте страницу входа заново и заполните форму ещё раз. Если вы пользуетесь \
расширением браузера, которое заполняет формы само, попробуйте без него."
                .into(),
        ],
        extra: String::new(),
        actions: vec![
            ("/".into(), "На главную страницу дневника"),
            (crate::pages::login_href("/"), "Войти через Госуслуги"),
        ],
    }
}
