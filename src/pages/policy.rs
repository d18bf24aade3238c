//! Pages the region's policy shows instead of the diary's: closed grades
//! for password sessions, a password login that is no longer possible, and
//! an ESIA account that must be confirmed first.

use super::{Page, escape};
use crate::policy::ClosedPage;

/// Grades closed to a password session (Yaroslavl: «вход в личный кабинет
/// будет возможен, но доступ к текущей успеваемости будет закрыт»).
pub fn grades_closed(p: &ClosedPage, login_href: &str) -> Page {
    // The policy's texts were sanitised when the file was loaded.
    let mut extra = String::new();
    if !p.alternatives.is_empty() {
        extra.push_str("<h2>Если вы не пользуетесь Госуслугами</h2><ul>");
        for a in &p.alternatives {
            extra.push_str("<li>");
            extra.push_str(a);
            extra.push_str("</li>");
        }
        extra.push_str("</ul>");
    }
    Page {
        status: 403,
        title: "Оценки доступны после входа через Госуслуги",
        paragraphs: vec![
            format!("<b>{}</b>", escape(&p.title)),
            p.message.clone(),
            "Войдите через Госуслуги: учётная запись дневника найдётся сама или привяжется один \
раз по логину и паролю."
                .into(),
        ],
        extra,
        actions: vec![
            (login_href.to_string(), "Войти через Госуслуги"),
            ("/".into(), "На главную страницу дневника"),
        ],
    }
}

/// The diary's login form is closed for this account.
pub fn password_login_closed(login_href: &str) -> Page {
    Page {
        status: 403,
        title: "Вход по логину и паролю закрыт",
        paragraphs: vec![
            "В вашем регионе вход в электронный дневник для этой учётной записи теперь возможен \
только через Госуслуги (ЕСИА)."
                .into(),
            "Нажмите «Войти через Госуслуги». Если учётной записи на Госуслугах нет, её можно \
создать на gosuslugi.ru; до тех пор школа сообщает оценки в бумажном дневнике и по \
электронной почте."
                .into(),
        ],
        extra: String::new(),
        actions: vec![
            (login_href.to_string(), "Войти через Госуслуги"),
            ("/".into(), "На главную страницу дневника"),
        ],
    }
}

/// An ESIA account below the trust the stage wants (Arkhangelsk 2024).
pub fn confirm_account() -> Page {
    Page {
        status: 403,
        title: "Нужна подтверждённая учётная запись Госуслуг",
        paragraphs: vec![
            "С 1 июля 2024 года электронный дневник открывается только с подтверждённой \
учётной записью Госуслуг. Ваша учётная запись пока не подтверждена."
                .into(),
            "Подтвердить её можно за один визит или онлайн:".into(),
        ],
        extra: "<ul><li>в МФЦ или другом центре обслуживания — с паспортом и СНИЛС;</li>\
<li>в мобильном приложении или интернет-банке вашего банка (Сбербанк, Т-Банк, ВТБ и другие);</li>\
<li>на gosuslugi.ru — заказав код подтверждения письмом Почтой России или с электронной подписью.</li></ul>\
<p>Учётную запись ребёнка младше 14 лет создаёт и подтверждает родитель в своём профиле \
на Госуслугах, в разделе «Дети».</p>\
<p>После подтверждения выйдите и войдите в дневник снова.</p>"
            .into(),
        actions: vec![("/esia-gate/logout".into(), "Выйти и войти снова")],
    }
}

/// A diary form the gateway cannot read unambiguously (a field sent twice,
/// an unusual encoding) or that is too large: it was not passed on.
pub fn form_refused(too_large: bool) -> Page {
    Page {
        status: if too_large { 413 } else { 400 },
        title: "Форма не отправлена",
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
