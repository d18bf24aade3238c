//! The emulator's pages: a Gosuslugi-like shell, error pages and the
//! Russian names of the scopes shown on the consent screen.

use axum::http::StatusCode;
use axum::response::Response;

use crate::html::{document, esc, respond};

const CSS: &str = "*{box-sizing:border-box}\
body{margin:0;font-family:-apple-system,'Segoe UI',Roboto,Arial,sans-serif;background:#f5f7fa;color:#0b1f33;line-height:1.4}\
header{background:#fff;border-bottom:1px solid #e1e7f0;padding:12px 16px;display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}\
.logo{font-weight:700;font-size:22px;color:#0d4cd3}.logo span{color:#ee3f58}\
.sub{color:#66727f;font-size:13px}\
main{max-width:520px;margin:20px auto;padding:0 12px}\
.card{background:#fff;border-radius:12px;box-shadow:0 1px 4px rgba(11,31,51,.12);padding:20px}\
h1{font-size:21px;margin:0 0 14px}\
form{margin:0}\
button{display:block;width:100%;padding:13px 16px;margin:10px 0;border:1px solid #0d4cd3;border-radius:8px;background:#0d4cd3;color:#fff;font-size:16px;text-align:left;cursor:pointer}\
button:hover{background:#0b40b3}\
button small{display:block;opacity:.85;font-size:13px;margin-top:2px}\
button[value=allow],button[value=deny]{text-align:center}\
button[value=deny]{background:#fff;color:#0d4cd3}\
ul{padding-left:20px}li{margin:4px 0}\
.note{color:#66727f;font-size:14px}\
.err{border-left:4px solid #ee3f58}\
code{background:#f1f3f6;padding:1px 4px;border-radius:4px;word-break:break-all}";

pub(super) fn page(title: &str, card_class: &str, inner: &str) -> String {
    let body = format!(
        "<header><span class=\"logo\">гос<span>услуги</span></span>\
         <span class=\"sub\">эмулятор ЕСИА — только для разработки и тестов</span></header>\n\
         <main><div class=\"card {card_class}\">\n{inner}\n</div></main>"
    );
    document(title, CSS, &body)
}

pub(super) fn error_page(status: StatusCode, error: &str, code: &str, text: &str) -> Response {
    let inner = format!(
        "<h1>Ошибка</h1>\n<p id=\"error\" data-error=\"{}\" data-code=\"{}\">{}: {}</p>\n\
         <p class=\"note\">Ошибка <code>{}</code>. Вернитесь в систему, из которой вы пришли, и попробуйте снова.</p>",
        esc(error),
        esc(code),
        esc(code),
        esc(text),
        esc(error)
    );
    respond(status, page("Ошибка — Госуслуги (эмулятор)", "err", &inner))
}

pub(super) fn plain_page(status: StatusCode, title: &str, text: &str) -> Response {
    let inner = format!("<h1>{}</h1>\n<p>{}</p>", esc(title), esc(text));
    respond(status, page(title, "err", &inner))
}

pub(super) fn scope_label(name: &str) -> &str {
    match name {
        "openid" => "Идентификатор учётной записи",
        "fullname" => "Фамилия, имя и отчество",
        "birthdate" => "Дата рождения",
        "gender" => "Пол",
        "snils" => "СНИЛС",
        "inn" => "ИНН",
        "email" => "Адрес электронной почты",
        "mobile" => "Номер мобильного телефона",
        "contacts" => "Контактные данные",
        "addresses" => "Адреса",
        "id_doc" => "Данные документа, удостоверяющего личность",
        "birthplace" => "Место рождения",
        "kid_fullname" => "Фамилия, имя и отчество детей",
        "kid_birthdate" => "Даты рождения детей",
        "kid_gender" => "Пол детей",
        "kid_snils" => "СНИЛС детей",
        "kid_inn" => "ИНН детей",
        "kid_birth_cert_doc" => "Свидетельства о рождении детей",
        other => other,
    }
}
