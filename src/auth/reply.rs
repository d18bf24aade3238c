//! What the gateway answers instead of the diary: a page, a redirect, JSON
//! or a configured body, with the cookies it sets. The glue in `proxy`
//! writes it; the flows only build it.

use crate::pages::Page;

pub enum Reply {
    Redirect {
        location: String,
        cookies: Vec<String>,
    },
    Page {
        page: Page,
        cookies: Vec<String>,
    },
    Json {
        status: u16,
        body: String,
    },
    /// A configured answer (the policy's `rewrite`).
    Raw {
        status: u16,
        content_type: String,
        body: bytes::Bytes,
    },
}

impl Reply {
    pub fn page(page: Page) -> Self {
        Reply::Page {
            page,
            cookies: Vec::new(),
        }
    }

    pub fn redirect(location: impl Into<String>) -> Self {
        Reply::Redirect {
            location: location.into(),
            cookies: Vec::new(),
        }
    }

    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply::Json {
            status,
            body: body.to_string(),
        }
    }

    /// The HTTP status the reply is written with.
    pub fn status(&self) -> u16 {
        match self {
            Reply::Redirect { .. } => 302,
            Reply::Page { page, .. } => page.status,
            Reply::Json { status, .. } | Reply::Raw { status, .. } => *status,
        }
    }

    /// Where a redirect goes.
    pub fn location(&self) -> Option<&str> {
        match self {
            Reply::Redirect { location, .. } => Some(location),
            _ => None,
        }
    }

    /// The `Set-Cookie` values it carries.
    pub fn cookies(&self) -> &[String] {
        match self {
            Reply::Redirect { cookies, .. } | Reply::Page { cookies, .. } => cookies,
            _ => &[],
        }
    }

    /// The page's title, for tests and logs.
    pub fn title(&self) -> Option<&str> {
        match self {
            Reply::Page { page, .. } => Some(&page.title),
            _ => None,
        }
    }
}
