//! Pages of the sample diary written the way old diaries write them, for
//! the tests of content insertion: windows-1251 with a `<meta charset>`,
//! gzip, brotli (when the browser takes it, and from a diary that sends it
//! whatever the browser said), chunked (streamed in pieces, no
//! Content-Length), HTML with no `</body>` at all, an HTML fragment a
//! script loads into a page, and a 2 MiB page whose end is held back until
//! a test releases it (`POST /__diary/release?hold=NAME`).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use crate::html::form_map;

const TEXT: &str = "Дневник: оценки за четверть";

fn html(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><title>{title}</title></head><body>\
<h1>{title}</h1><p id=\"legacy\">{TEXT}</p></body></html>"
    )
}

pub async fn cp1251() -> Response {
    let page = format!(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\">\
<title>Старый дневник</title></head><body><p id=\"legacy\">{TEXT}</p></body></html>"
    );
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&page);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=windows-1251")],
        bytes.into_owned(),
    )
        .into_response()
}

fn gzipped(page: &str) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(page.as_bytes()).ok()?;
    enc.finish().ok()
}

fn brotli_coded(page: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
        w.write_all(page.as_bytes()).ok()?;
    }
    Some(out)
}

fn coded(body: Option<Vec<u8>>, coding: &'static str) -> Response {
    let Some(body) = body else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    if coding != "identity" {
        r.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static(coding),
        );
    }
    r.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("Accept-Encoding"),
    );
    r
}

pub async fn gzip() -> Response {
    coded(gzipped(&html("Сжатая страница")), "gzip")
}

/// Whether the request's `Accept-Encoding` names `coding` (q above 0).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            parts
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(coding))
                && !parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                })
        })
}

/// As a modern server sends it: brotli when the browser takes it, else
/// gzip, else plain.
pub async fn brotli(headers: HeaderMap) -> Response {
    let page = html("Страница в brotli");
    if accepts(&headers, "br") {
        coded(brotli_coded(&page), "br")
    } else if accepts(&headers, "gzip") {
        coded(gzipped(&page), "gzip")
    } else {
        coded(Some(page.into_bytes()), "identity")
    }
}

/// From a diary (or a cache before it) that sends brotli whatever the
/// browser said.
pub async fn brotli_always() -> Response {
    coded(brotli_coded(&html("Всегда brotli")), "br")
}

/// The menu a diary's script loads into its page (`X-Requested-With:
/// XMLHttpRequest`, or `fetch` with `Sec-Fetch-Mode: cors`): HTML, but not
/// a document.
pub async fn fragment() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<ul id=\"menu\"><li><a href=\"/grades\">Оценки</a></li><li><a href=\"/legacy/gzip\">Архив</a></li></ul>\n",
    )
        .into_response()
}

pub async fn chunked() -> Response {
    let page = html("Страница по частям");
    let parts: Vec<Result<Bytes, std::io::Error>> = page
        .as_bytes()
        .chunks(17)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stream = futures_stream(parts);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Pieces sent with a small pause between them, so they cross the proxy
/// as separate chunks.
fn futures_stream(
    parts: Vec<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for p in parts {
            if tx.send(p).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Requests held back by `/legacy/large?hold=NAME`, by name.
fn held() -> &'static Mutex<HashMap<String, Arc<Notify>>> {
    static HELD: OnceLock<Mutex<HashMap<String, Arc<Notify>>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

fn hold_named(name: &str) -> Arc<Notify> {
    held()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name.to_string())
        .or_default()
        .clone()
}

/// A 2 MiB page (a whole year's journal), sent in 64 KiB pieces. With
/// `?hold=NAME` its last piece waits until `POST /__diary/release?hold=NAME`
/// (a minute at most): what reaches the browser before that shows that
/// the page is not held whole on its way.
pub async fn large(RawQuery(q): RawQuery) -> Response {
    let hold = form_map(q.unwrap_or_default().as_bytes()).remove("hold");
    let row = "<tr><td>Иванов Иван</td><td>5</td><td>4</td><td>5</td><td>отлично</td></tr>\n";
    let mut page = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Журнал за год</title></head>\
<body><h1>Журнал за год</h1><table>",
    );
    while page.len() < 2 * 1024 * 1024 {
        page.push_str(row);
    }
    let tail = "</table><p id=\"legacy\">Конец журнала</p></body></html>";
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let gate = hold.map(|name| hold_named(&name));
    tokio::spawn(async move {
        for piece in page.as_bytes().chunks(64 * 1024) {
            if tx.send(Ok(Bytes::copy_from_slice(piece))).await.is_err() {
                return;
            }
        }
        if let Some(gate) = gate {
            let _ = tokio::time::timeout(Duration::from_secs(60), gate.notified()).await;
        }
        let _ = tx.send(Ok(Bytes::from_static(tail.as_bytes()))).await;
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from_stream(tokio_stream_from(rx)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Let the held page's end go (see [`large`]).
pub async fn release(RawQuery(q): RawQuery) -> StatusCode {
    match form_map(q.unwrap_or_default().as_bytes()).remove("hold") {
        Some(name) => {
            hold_named(&name).notify_one();
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

pub async fn no_body_close() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<html><head><title>Без конца</title></head><body><p id=\"legacy\">{TEXT}</p>"),
    )
        .into_response()
}
