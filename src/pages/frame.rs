//! What is around every page: the HTML shell and its style, the help block
//! at the foot (the region's support from `[help]`, Госуслуги's help and
//! service centres), and the request code — only on pages about a fault,
//! where support needs it to find the log line.

use super::{Page, escape};
use crate::config::help::{HelpSettings, tel_href};

/// What the page is shown in: the request's id and who helps.
pub struct Frame<'a> {
    pub request_id: &'a str,
    pub help: &'a HelpSettings,
}

const STYLE: &str = "body{margin:0;font:16px/1.5 -apple-system,'Segoe UI',Roboto,Arial,sans-serif;\
background:#f2f5f9;color:#0b1f33}main{max-width:560px;margin:0 auto;padding:16px 12px 24px}\
.card{background:#fff;border-radius:12px;padding:20px;box-shadow:0 2px 8px rgba(11,31,51,.08)}\
h1{font-size:22px;line-height:1.3;margin:0 0 14px}p{margin:0 0 12px}ul{margin:0 0 12px;padding-left:22px}\
li{margin:0 0 6px}.actions{margin:18px 0 4px;display:flex;flex-direction:column;gap:10px}\
a.btn{display:block;text-align:center;padding:12px 16px;border-radius:8px;text-decoration:none;\
background:#0d4cd3;color:#fff;font-weight:600}a.btn.secondary{background:#e4ecfd;color:#0d4cd3}\
a{color:#0d4cd3}footer{margin-top:12px;font-size:13px;color:#66727f;text-align:center}\
aside.help{margin-top:14px;padding:14px 16px;border-radius:12px;background:#fff;font-size:14px;\
color:#40505f;box-shadow:0 1px 4px rgba(11,31,51,.06)}aside.help h2{font-size:15px;margin:0 0 6px;color:#0b1f33}\
aside.help p{margin:0 0 6px}aside.help p:last-child{margin:0}aside.help a{white-space:nowrap}\
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

/// Who helps: the region's support when `[help]` names one (else the
/// school's diary administrator, true everywhere), then Госуслуги's own.
pub fn help_block(h: &HelpSettings) -> String {
    let link = |href: &str, text: &str| {
        format!(
            "<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>",
            escape(href),
            escape(text)
        )
    };
    let mut own = Vec::new();
    if let Some(o) = &h.organisation {
        own.push(format!("<b>{}</b>", escape(o)));
    }
    let phones: Vec<String> = h.phones.iter().map(|p| link(&tel_href(p), p)).collect();
    if !phones.is_empty() {
        own.push(phones.join(", "));
    }
    let mut reach = Vec::new();
    if let Some(e) = &h.email {
        reach.push(link(&format!("mailto:{e}"), e));
    }
    if let Some(hours) = &h.hours {
        reach.push(escape(hours));
    }
    if !reach.is_empty() {
        own.push(reach.join(" · "));
    }
    if let Some(u) = &h.url {
        let shown = u
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        own.push(link(u, shown));
    }
    let own = if own.is_empty() {
        "С учётной записью дневника поможет администратор дневника в вашей школе.".to_string()
    } else {
        own.join("<br>")
    };
    let mut esia = Vec::new();
    if !h.gosuslugi_phone.is_empty() {
        esia.push(link(&tel_href(&h.gosuslugi_phone), &h.gosuslugi_phone));
    }
    if !h.gosuslugi_help_url.is_empty() {
        esia.push(link(&h.gosuslugi_help_url, "справка"));
    }
    if !h.service_centres_url.is_empty() {
        esia.push(link(&h.service_centres_url, "центры обслуживания"));
    }
    let esia = if esia.is_empty() {
        String::new()
    } else {
        format!("<p>Госуслуги: {}</p>", esia.join(" · "))
    };
    format!("<aside class=\"help\"><h2>Помощь</h2><p>{own}</p>{esia}</aside>")
}

impl Page {
    /// A page about a fault (the gateway's, ESIA's, the diary's, or a
    /// request that did not arrive whole), where support needs the request
    /// code; not a choice, a rule of the region, or a form to correct.
    pub fn is_fault(&self) -> bool {
        self.status >= 500 || (matches!(self.status, 400 | 413) && !self.extra.contains("<form"))
    }

    /// The page with default help (Госуслуги's, and the school's diary
    /// administrator): for tests and places without the configuration.
    pub fn render(&self, request_id: &str) -> String {
        self.render_in(&Frame {
            request_id,
            help: &HelpSettings::default(),
        })
    }

    pub fn render_in(&self, frame: &Frame<'_>) -> String {
        let mut body = String::new();
        for p in &self.paragraphs {
            body.push_str("<p>");
            body.push_str(p);
            body.push_str("</p>");
        }
        // A page with its own main button (a form's, or a link in `extra`)
        // keeps it the only primary one.
        let own_primary =
            self.extra.contains("class=\"primary\"") || self.extra.contains("class=\"btn\"");
        let mut actions = String::new();
        for (i, (href, label)) in self.actions.iter().enumerate() {
            let class = if i == 0 && !own_primary {
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
        if !actions.is_empty() {
            actions = format!("<div class=\"actions\">{actions}</div>");
        }
        let footer = if self.is_fault() {
            format!(
                "<footer>Код обращения: {}. Назовите его в поддержке, если проблема повторится.</footer>",
                escape(frame.request_id)
            )
        } else {
            String::new()
        };
        format!(
            "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head><body><main><div class=\"card\">\
<h1>{title}</h1>{body}{extra}{actions}</div>{help}{footer}</main></body></html>",
            title = escape(&self.title),
            extra = self.extra,
            help = help_block(frame.help),
        )
    }
}
