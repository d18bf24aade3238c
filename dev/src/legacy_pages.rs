//! Pages of the sample diary written the way old diaries write them, for
//! the tests of content insertion: windows-1251 with a `<meta charset>`,
//! gzip, chunked (streamed in pieces, no Content-Length), and HTML with no
//! `</body>` at all.

use std::io::Write as _;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

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

pub async fn gzip() -> Response {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let body = match enc
        .write_all(html("Сжатая страница").as_bytes())
        .and_then(|_| enc.finish())
    {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        body,
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

pub async fn no_body_close() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<html><head><title>Без конца</title></head><body><p id=\"legacy\">{TEXT}</p>"),
    )
        .into_response()
}
