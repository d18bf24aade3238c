//! The gateway's own pages, in Russian, for a parent on a phone: what
//! happened and what to do, never a technical detail (those go to the log).

pub mod accounts;
pub mod policy;

use crate::config::GATE_PREFIX;

/// One page: a heading, what happened, what to do, and buttons.
pub struct Page {
    pub status: u16,
    pub title: &'static str,
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

const STYLE: &str = "body{margin:0;font:16px/1.5 -apple-system,'Segoe UI',Roboto,Arial,sans-serif;\
background:#f2f5f9;color:#0b1f33}main{max-width:560px;margin:0 auto;padding:24px 16px}\
.card{background:#fff;border-radius:12px;padding:24px;box-shadow:0 2px 8px rgba(11,31,51,.08)}\
h1{font-size:22px;line-height:1.3;margin:0 0 16px}p{margin:0 0 12px}\
.actions{margin-top:20px;display:flex;flex-direction:column;gap:10px}\
a.btn{display:block;text-align:center;padding:12px 16px;border-radius:8px;text-decoration:none;\
background:#0d4cd3;color:#fff;font-weight:600}a.btn.secondary{background:#e4ecfd;color:#0d4cd3}\
footer{margin-top:16px;font-size:13px;color:#66727f;text-align:center}\
form.choice{margin:0 0 10px}form.choice button{width:100%;text-align:left;padding:14px 16px;\
border:1px solid #c9d4e3;border-radius:10px;background:#fff;font:inherit;color:inherit;cursor:pointer}\
form.choice button:hover{border-color:#0d4cd3}form.choice b{display:block;font-size:17px}\
form.choice small{color:#66727f}.row{display:flex;gap:8px;align-items:stretch}.row form{margin:0}\
.row .choice{flex:1}button.link{background:none;border:0;color:#b3261e;font:inherit;padding:14px 4px;cursor:pointer}\
label{display:block;margin:12px 0 4px;font-weight:600}input[type=text],input[type=password]{width:100%;\
box-sizing:border-box;padding:12px;border:1px solid #c9d4e3;border-radius:8px;font:inherit}\
button.primary{margin-top:16px;width:100%;padding:12px 16px;border:0;border-radius:8px;background:#0d4cd3;\
color:#fff;font:inherit;font-weight:600;cursor:pointer}.error{background:#fdecea;color:#b3261e;\
border-radius:8px;padding:10px 12px;margin:0 0 12px}h2{font-size:18px;margin:20px 0 10px}";

impl Page {
    pub fn render(&self, request_id: &str) -> String {
        let mut body = String::new();
        for p in &self.paragraphs {
            body.push_str("<p>");
            body.push_str(p);
            body.push_str("</p>");
        }
        let mut actions = String::new();
        for (i, (href, label)) in self.actions.iter().enumerate() {
            // A page with its own form keeps one primary button: the form's.
            let form_primary = self.extra.contains("class=\"primary\"");
            let class = if i == 0 && !form_primary {
                "btn"
            } else {
                "btn secondary"
            };
            actions.push_str(&format!(
                "<a class=\"{class}\" href=\"{}\">{}</a>",
                escape(href),
                escape(label)
            ));
        }
        // Only a page about a problem asks the person to quote its code;
        // «Вы вышли» or a choice of accounts is not a problem.
        let footer = if self.status >= 400 {
            format!(
                "<footer>Код обращения: {}. Назовите его в поддержке, если проблема повторится.</footer>",
                escape(request_id)
            )
        } else {
            String::new()
        };
        format!(
            "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head><body><main><div class=\"card\">\
<h1>{title}</h1>{body}{extra}<div class=\"actions\">{actions}</div></div>\
{footer}</main></body></html>",
            title = escape(self.title),
            extra = self.extra,
        )
    }
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

/// The user pressed «Отказать» on ESIA's consent screen (ESIA-007004).
pub fn consent_refused() -> Page {
    Page {
        status: 403,
        title: "Вы не дали согласие на передачу данных",
        paragraphs: vec![
            "Чтобы открыть электронный дневник, ему нужны ваши фамилия, имя, отчество и СНИЛС из \
Госуслуг: по ним мы находим вашу учётную запись в дневнике. Без согласия вход через Госуслуги \
невозможен."
                .into(),
            "Если передумаете, войдите ещё раз и нажмите «Предоставить». Если вы не хотите \
пользоваться Госуслугами, школа по-прежнему сообщает оценки в бумажном дневнике и по \
электронной почте: обратитесь к классному руководителю."
                .into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/"), home()],
    }
}

/// State missing, unknown, reused, expired, or from another browser.
pub fn login_expired() -> Page {
    Page {
        status: 400,
        title: "Вход не завершён",
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
        title: "Госуслуги не подтвердили вход",
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
        actions: vec![login_again("/"), home()],
    }
}

/// ESIA timed out, was unreachable or answered 5xx.
pub fn esia_unavailable() -> Page {
    Page {
        status: 503,
        title: "Госуслуги сейчас не отвечают",
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
        title: "Сервис входа временно не работает",
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
        title: "Форма не дошла",
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
        title: "Не удалось проверить вход",
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
        title: "В Госуслугах нет подтверждённого СНИЛС",
        paragraphs: vec![
            "Учётную запись в дневнике мы находим по ФИО и СНИЛС. В вашей учётной записи \
Госуслуг СНИЛС не указан или ещё не проверен."
                .into(),
            "Добавьте СНИЛС в профиль на gosuslugi.ru (проверка обычно занимает несколько \
минут, иногда до пяти дней) и войдите снова."
                .into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/"), home()],
    }
}

/// Nobody in the diary with this FIO + SNILS (manual linking comes later).
pub fn no_match(reason: &str) -> Page {
    Page {
        status: 403,
        title: "Не нашли вашу учётную запись в дневнике",
        paragraphs: vec![
            escape(reason),
            "Попросите администратора дневника в вашей школе проверить, что в вашем профиле \
фамилия, имя, отчество и СНИЛС записаны так же, как в Госуслугах. После исправления \
войдите снова."
                .into(),
        ],
        extra: String::new(),
        actions: vec![login_again("/"), home()],
    }
}

/// Several accounts: the choice page comes with the identity issue.
pub fn several_accounts(n: usize) -> Page {
    Page {
        status: 409,
        title: "Найдено несколько учётных записей",
        paragraphs: vec![
            format!(
                "С вашими ФИО и СНИЛС в дневнике {n} учётных записи (например, учителя и \
родителя). Выбор учётной записи скоро появится здесь."
            ),
            "Пока войдите в нужную учётную запись по логину и паролю дневника или попросите \
администратора школы помочь."
                .into(),
        ],
        extra: String::new(),
        actions: vec![home()],
    }
}

pub fn diary_unavailable() -> Page {
    Page {
        status: 502,
        title: "Электронный дневник сейчас недоступен",
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
        title: "Что-то пошло не так",
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
        title: "Страница не найдена",
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
        title: "Выйти из дневника?",
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
        title: "Вы вышли из дневника",
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

    #[test]
    fn pages_are_russian_phone_friendly_and_escaped() {
        let html = no_match("<script>x</script>").render("rid-1");
        assert!(html.contains("lang=\"ru\""));
        assert!(html.contains("width=device-width"));
        assert!(!html.contains("<script>x"));
        assert!(html.contains("rid-1"));
    }
}
