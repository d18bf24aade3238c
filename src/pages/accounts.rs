//! The pages where a person chooses among their diary accounts, links one
//! by diary login and password, and manages their children's accounts.

use super::{Page, escape};
use crate::config::GATE_PREFIX;

/// One diary account as the person sees it.
pub struct AccountView {
    pub login: String,
    pub name: String,
    pub role: &'static str,
    pub school: String,
    pub class: String,
    /// Linked by password (and so removable by the person).
    pub removable: bool,
    pub current: bool,
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(name),
        escape(value)
    )
}

fn describe(a: &AccountView) -> String {
    let mut parts = vec![a.role.to_string()];
    if !a.school.is_empty() {
        parts.push(a.school.clone());
    }
    if !a.class.is_empty() {
        parts.push(format!("{} класс", a.class));
    }
    if a.current {
        parts.push("открыта сейчас".into());
    }
    escape(&parts.join(" · "))
}

fn choice_list(items: &[AccountView], select: &str, remove: &str, csrf: &str) -> String {
    let mut html = String::new();
    for a in items {
        let choose = format!(
            "<form class=\"choice\" method=\"post\" action=\"{GATE_PREFIX}{select}\">{}\
<button type=\"submit\" name=\"login\" value=\"{login}\"><b>{name}</b><small>{desc}</small></button></form>",
            hidden("csrf", csrf),
            login = escape(&a.login),
            name = escape(&a.name),
            desc = describe(a),
        );
        if a.removable && !remove.is_empty() {
            html.push_str(&format!(
                "<div class=\"row\"><div class=\"choice\">{choose}</div>\
<form method=\"post\" action=\"{GATE_PREFIX}{remove}\">{}{}\
<button class=\"link\" type=\"submit\" title=\"Отвязать\">Отвязать</button></form></div>",
                hidden("csrf", csrf),
                hidden("login", &a.login),
            ));
        } else {
            html.push_str(&choose);
        }
    }
    html
}

/// «Выбор учётной записи».
pub fn choose_account(accounts: &[AccountView], csrf: &str, can_link: bool) -> Page {
    let mut extra = choice_list(accounts, "/accounts/select", "/accounts/unlink", csrf);
    if can_link {
        extra.push_str(&format!(
            "<p><a href=\"{GATE_PREFIX}/link\">Привязать ещё одну учётную запись дневника</a></p>"
        ));
    }
    Page {
        status: 200,
        title: "Выбор учётной записи".into(),
        paragraphs: vec![match accounts.len() {
            0 => "С вашими данными из Госуслуг пока не связана ни одна учётная запись дневника."
                .into(),
            1 => "С вашими данными из Госуслуг связана одна учётная запись дневника. Нажмите на \
неё, чтобы войти."
                .into(),
            _ => "С вашими данными из Госуслуг связано несколько учётных записей дневника. \
Выберите, в какую войти. Сменить её можно в любой момент на этой странице, не входя заново."
                .into(),
        }],
        extra,
        actions: vec![],
    }
}

/// «Привязка вручную»: the diary login and password, checked once.
pub fn link_form(reason: Option<&str>, error: Option<&str>, csrf: &str) -> Page {
    let mut paragraphs = Vec::new();
    if let Some(r) = reason {
        paragraphs.push(escape(r));
    }
    paragraphs.push(
        "Введите логин и пароль, с которыми вы входили в дневник раньше. Мы проверим их в \
дневнике один раз и запомним связь с вашей учётной записью Госуслуг; пароль не сохраняется. \
В следующий раз вход будет сразу."
            .into(),
    );
    let err = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let extra = format!(
        "{err}<form method=\"post\" action=\"{GATE_PREFIX}/link\">{}\
<label for=\"login\">Логин в дневнике</label>\
<input type=\"text\" id=\"login\" name=\"login\" autocomplete=\"username\" required>\
<label for=\"password\">Пароль</label>\
<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button class=\"primary\" type=\"submit\">Привязать и войти</button></form>",
        hidden("csrf", csrf)
    );
    Page {
        status: if error.is_some() { 400 } else { 200 },
        title: "Привязка учётной записи дневника".into(),
        paragraphs,
        extra,
        actions: vec![
            (
                format!("{GATE_PREFIX}/no-account"),
                "Нет учётной записи в дневнике или не помню пароль",
            ),
            (format!("{GATE_PREFIX}/logout"), "Выйти"),
        ],
    }
}

/// For someone who has no diary account, or forgot its password: the
/// school creates accounts and resets passwords; who to ask, and a way out.
pub fn no_diary_account() -> Page {
    Page {
        status: 200,
        title: "Нет учётной записи в дневнике".into(),
        paragraphs: vec![
            "Учётные записи электронного дневника создаёт школа: логин и пароль выдаёт классный \
руководитель или администратор дневника в школе. Он же восстанавливает забытый пароль."
                .into(),
            "Попросите в школе логин и пароль (или новый пароль), затем войдите через Госуслуги \
ещё раз и привяжите учётную запись — это нужно сделать один раз. Если ваши ФИО и СНИЛС в \
дневнике совпадут с Госуслугами, привязка не понадобится: школа может проверить их в \
отчёте о входах."
                .into(),
        ],
        extra: String::new(),
        actions: vec![
            (format!("{GATE_PREFIX}/link"), "У меня есть логин и пароль"),
            (format!("{GATE_PREFIX}/logout"), "Выйти"),
        ],
    }
}

/// Too many failed attempts.
pub fn rate_limited(minutes: u64) -> Page {
    Page {
        status: 429,
        title: "Слишком много неудачных попыток".into(),
        paragraphs: vec![
            format!(
                "Для защиты вашей учётной записи проверка логина и пароля временно остановлена. \
Попробуйте снова через {minutes} мин."
            ),
            "Если вы не помните пароль от дневника, обратитесь к администратору дневника в школе: \
он поможет восстановить доступ или исправить ФИО и СНИЛС в вашем профиле."
                .into(),
        ],
        extra: String::new(),
        actions: vec![("/".into(), "На главную страницу дневника")],
    }
}

/// The diary account is already linked to another ESIA person.
pub fn already_linked() -> Page {
    Page {
        status: 409,
        title: "Эта учётная запись уже привязана".into(),
        paragraphs: vec![
            "Учётная запись дневника с этим логином уже связана с другой учётной записью \
Госуслуг, поэтому мы не можем привязать её к вашей."
                .into(),
            "Обратитесь к администратору дневника в вашей школе: он проверит, чья это учётная \
запись, и при необходимости снимет старую привязку."
                .into(),
        ],
        extra: String::new(),
        actions: vec![("/".into(), "На главную страницу дневника")],
    }
}

/// The diary's login form could not be reached to check a password;
/// `retry` is the page to try again from.
pub fn diary_login_unavailable(retry: &str) -> Page {
    Page {
        status: 503,
        title: "Не удалось проверить пароль".into(),
        paragraphs: vec![
            "Дневник сейчас не отвечает, поэтому мы не смогли проверить логин и пароль. Ничего \
не изменилось."
                .into(),
            "Попробуйте снова через несколько минут.".into(),
        ],
        extra: String::new(),
        actions: vec![(retry.to_string(), "Попробовать снова")],
    }
}

/// Manual linking is not set up by the region.
pub fn linking_disabled() -> Page {
    Page {
        status: 403,
        title: "Не нашли вашу учётную запись в дневнике".into(),
        paragraphs: vec![
            "Попросите администратора дневника в вашей школе проверить, что в вашем профиле \
фамилия, имя, отчество и СНИЛС записаны так же, как в Госуслугах."
                .into(),
        ],
        extra: String::new(),
        actions: vec![("/".into(), "На главную страницу дневника")],
    }
}

/// A parent's children: choose one, attach another, remove.
pub fn children(kids: &[AccountView], csrf: &str, error: Option<&str>, can_attach: bool) -> Page {
    let mut extra = String::new();
    if let Some(e) = error {
        extra.push_str(&format!("<p class=\"error\">{}</p>", escape(e)));
    }
    if kids.is_empty() {
        extra.push_str("<p>Пока ни один ребёнок не привязан.</p>");
    }
    extra.push_str(&choice_list(
        kids,
        "/children/select",
        "/children/remove",
        csrf,
    ));
    if can_attach {
        extra.push_str(&format!(
            "<h2>Привязать ребёнка</h2><p>Если ребёнка нет в списке, введите логин и пароль его \
учётной записи в дневнике (их выдаёт школа).</p>\
<form method=\"post\" action=\"{GATE_PREFIX}/children/attach\">{}\
<label for=\"login\">Логин ребёнка в дневнике</label>\
<input type=\"text\" id=\"login\" name=\"login\" autocomplete=\"off\" required>\
<label for=\"password\">Пароль ребёнка</label>\
<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"off\" required>\
<button class=\"primary\" type=\"submit\">Привязать</button></form>",
            hidden("csrf", csrf)
        ));
    }
    Page {
        status: if error.is_some() { 400 } else { 200 },
        title: "Выбор ребёнка".into(),
        paragraphs: vec![
            "Выберите, чей дневник открыть. Дети, привязанные в Госуслугах, появляются здесь \
сами; остальных можно привязать по логину и паролю из дневника."
                .into(),
        ],
        extra,
        actions: vec![(format!("{GATE_PREFIX}/accounts"), "Мои учётные записи")],
    }
}

/// A form came back without the page's token (an old tab, or a forgery).
pub fn form_expired() -> Page {
    Page {
        status: 403,
        title: "Страница устарела".into(),
        paragraphs: vec!["Обновите страницу и повторите действие.".into()],
        extra: String::new(),
        actions: vec![(format!("{GATE_PREFIX}/accounts"), "Мои учётные записи")],
    }
}
