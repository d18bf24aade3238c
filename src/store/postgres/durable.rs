//! The durable record calls of [`PostgresStore`]: each one statement (a
//! committed transaction of its own) or one explicit transaction. Rows come
//! back as plain values and are turned into records here, so that a value
//! the gateway never writes reads as [`StoreError::Corrupt`].

use super::{Conn, PostgresStore};
use crate::identity::{EsiaOid, LegacyLogin};
use crate::store::{
    AccountLink, DurableRecord, LastLogins, LinkKind, LinkSource, LoginMethod, LoginRecord,
    MatchFailure, StoreError,
};

/// Rows fetched per round trip when reading many (reports, exports).
const FETCH: i32 = 10_000;

const PUT_LINK: &str = "INSERT INTO {s}.links (oid, login, kind, source, created_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
const OWNER_OF: &str = "SELECT oid FROM {s}.links WHERE login = $1 AND kind = 'own'";
const REMOVE_LINK: &str = "DELETE FROM {s}.links WHERE oid = $1 AND login = $2 AND kind = $3";
const LINKS_OF: &str = "SELECT oid, login, kind, source, created_at FROM {s}.links \
     WHERE oid = $1 ORDER BY kind, login";
/// The row and the account's latest logins, in one statement.
const RECORD_LOGIN: &str = "WITH h AS (INSERT INTO {s}.logins (login, method, at) \
     VALUES ($1::text, $2::text, $3::bigint)) \
     INSERT INTO {s}.last_logins AS l (login, last_esia, last_password) \
     VALUES ($1::text, CASE WHEN $2::text = 'esia' THEN $3::bigint END, \
             CASE WHEN $2::text = 'password' THEN $3::bigint END) \
     ON CONFLICT (login) DO UPDATE SET \
       last_esia = GREATEST(l.last_esia, EXCLUDED.last_esia), \
       last_password = GREATEST(l.last_password, EXCLUDED.last_password)";
/// Many logins at once (an import), in order.
const RECORD_LOGINS: &str = "WITH rows AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
       WITH ORDINALITY AS t(login, method, at, n)), \
     h AS (INSERT INTO {s}.logins (login, method, at) \
       SELECT login, method, at FROM rows ORDER BY n) \
     INSERT INTO {s}.last_logins AS l (login, last_esia, last_password) \
     SELECT login, max(at) FILTER (WHERE method = 'esia'), \
            max(at) FILTER (WHERE method = 'password') FROM rows GROUP BY login \
     ON CONFLICT (login) DO UPDATE SET \
       last_esia = GREATEST(l.last_esia, EXCLUDED.last_esia), \
       last_password = GREATEST(l.last_password, EXCLUDED.last_password)";
const LAST_LOGINS: &str = "SELECT login, last_esia, last_password FROM {s}.last_logins";
const LAST_LOGINS_OF: &str =
    "SELECT login, last_esia, last_password FROM {s}.last_logins WHERE login = ANY($1)";
/// The oldest rows first, by the time index.
const PRUNE_LOGINS: &str = "DELETE FROM {s}.logins WHERE id IN \
     (SELECT id FROM {s}.logins WHERE at < $1 ORDER BY at LIMIT $2)";
const PRUNE_FAILURES: &str = "DELETE FROM {s}.match_failures WHERE id IN \
     (SELECT id FROM {s}.match_failures WHERE at < $1 ORDER BY at LIMIT $2)";
/// One statement, one snapshot: the person's own accounts are read before
/// their links go.
const FORGET: &str = "WITH own AS (SELECT login FROM {s}.links WHERE oid = $1 AND kind = 'own'), \
     l AS (DELETE FROM {s}.links WHERE oid = $1 RETURNING 1), \
     h AS (DELETE FROM {s}.logins WHERE login IN (SELECT login FROM own) RETURNING 1), \
     t AS (DELETE FROM {s}.last_logins WHERE login IN (SELECT login FROM own) RETURNING 1), \
     f AS (DELETE FROM {s}.match_failures WHERE oid = $1 RETURNING 1) \
     SELECT (SELECT count(*) FROM l) + (SELECT count(*) FROM h) \
          + (SELECT count(*) FROM t) + (SELECT count(*) FROM f)";
const HAS_LOGGED_IN: &str = "SELECT EXISTS (SELECT 1 FROM {s}.last_logins WHERE login = $1)";
const RECORD_FAILURE: &str = "INSERT INTO {s}.match_failures (at, reason, oid, logins, display_name) \
     VALUES ($1, $2, $3, $4, $5)";
const FAILURES_SINCE: &str = "SELECT at, reason, oid, logins, display_name FROM {s}.match_failures \
     WHERE at >= $1 ORDER BY at, id";
const ALL_LINKS: &str = "SELECT oid, login, kind, source, created_at FROM {s}.links \
     ORDER BY oid, kind, login";
const ALL_LOGINS: &str = "SELECT login, method, at FROM {s}.logins ORDER BY id";
const ALL_FAILURES: &str = "SELECT at, reason, oid, logins, display_name FROM {s}.match_failures \
     ORDER BY at, id";

type LinkRow = (String, String, String, String, i64);
type FailureRow = (i64, String, String, Vec<String>, Option<String>);

pub(super) fn kind_str(k: LinkKind) -> &'static str {
    match k {
        LinkKind::Own => "own",
        LinkKind::Child => "child",
    }
}

fn source_str(s: LinkSource) -> &'static str {
    match s {
        LinkSource::Snils => "snils",
        LinkSource::Password => "password",
    }
}

fn method_str(m: LoginMethod) -> &'static str {
    match m {
        LoginMethod::Esia => "esia",
        LoginMethod::Password => "password",
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("postgres: unknown {what} `{value}`"))
}

fn link_of(r: LinkRow) -> Result<AccountLink, StoreError> {
    let (oid, login, kind, source, created_at) = r;
    Ok(AccountLink {
        oid: EsiaOid(oid),
        login: LegacyLogin(login),
        kind: match kind.as_str() {
            "own" => LinkKind::Own,
            "child" => LinkKind::Child,
            _ => return Err(corrupt("link kind", &kind)),
        },
        source: match source.as_str() {
            "snils" => LinkSource::Snils,
            "password" => LinkSource::Password,
            _ => return Err(corrupt("link source", &source)),
        },
        created_at,
    })
}

fn login_of(r: (String, String, i64)) -> Result<LoginRecord, StoreError> {
    let (login, method, at) = r;
    Ok(LoginRecord {
        login: LegacyLogin(login),
        method: match method.as_str() {
            "esia" => LoginMethod::Esia,
            "password" => LoginMethod::Password,
            _ => return Err(corrupt("login method", &method)),
        },
        at,
    })
}

fn failure_of(r: FailureRow) -> MatchFailure {
    let (at, reason, oid, logins, display_name) = r;
    MatchFailure {
        at,
        reason,
        oid: EsiaOid(oid),
        logins: logins.into_iter().map(LegacyLogin).collect(),
        display_name,
    }
}

fn last_of(r: (String, Option<i64>, Option<i64>)) -> LastLogins {
    LastLogins {
        login: LegacyLogin(r.0),
        last_esia: r.1,
        last_password: r.2,
    }
}

/// Every row of `sql` (no parameters), fetched [`FETCH`] at a time through
/// a portal, each turned into a value by `row`.
async fn read_all<T>(
    conn: &mut Conn,
    sql: &'static str,
    row: fn(&tokio_postgres::Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Vec<T>, tokio_postgres::Error> {
    let st = conn.st(sql).await?;
    let tx = conn.client.transaction().await?;
    let portal = tx.bind(&st, &[]).await?;
    let mut out = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, FETCH).await?;
        let n = rows.len();
        for r in &rows {
            out.push(row(r)?);
        }
        if n < FETCH as usize {
            break;
        }
    }
    tx.commit().await?;
    Ok(out)
}

fn link_row(r: &tokio_postgres::Row) -> Result<LinkRow, tokio_postgres::Error> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
    ))
}

fn failure_row(r: &tokio_postgres::Row) -> Result<FailureRow, tokio_postgres::Error> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
    ))
}

/// Inserts one link in an open transaction or on the connection; `Ok(true)`
/// when it is there now (new or already), `Ok(false)` when another person
/// owns the login.
async fn insert_link(
    c: &impl tokio_postgres::GenericClient,
    put: &tokio_postgres::Statement,
    owner: &tokio_postgres::Statement,
    l: &AccountLink,
) -> Result<bool, tokio_postgres::Error> {
    let n = c
        .execute(
            put,
            &[
                &l.oid.0,
                &l.login.0,
                &kind_str(l.kind),
                &source_str(l.source),
                &l.created_at,
            ],
        )
        .await?;
    if n == 1 || l.kind == LinkKind::Child {
        // A child link conflicts only with itself.
        return Ok(true);
    }
    // Not inserted: this link exists, or another person owns the login.
    // A statement of its own sees what committed meanwhile.
    let found: Option<String> = c
        .query_opt(owner, &[&l.login.0])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok(found.as_deref() == Some(l.oid.0.as_str()))
}

impl PostgresStore {
    pub async fn put_link(&self, link: &AccountLink) -> Result<(), StoreError> {
        let l = link.clone();
        let placed = self
            .run("put_link", move |c| {
                Box::pin(async move {
                    let (put, owner) = (c.st(PUT_LINK).await?, c.st(OWNER_OF).await?);
                    insert_link(&c.client, &put, &owner, &l).await
                })
            })
            .await?;
        if placed {
            Ok(())
        } else {
            Err(StoreError::AlreadyLinked)
        }
    }

    pub async fn remove_link(
        &self,
        oid: &EsiaOid,
        login: &LegacyLogin,
        kind: LinkKind,
    ) -> Result<bool, StoreError> {
        let (oid, login) = (oid.0.clone(), login.0.clone());
        self.run("remove_link", move |c| {
            Box::pin(async move {
                let st = c.st(REMOVE_LINK).await?;
                Ok(c.client
                    .execute(&st, &[&oid, &login, &kind_str(kind)])
                    .await?
                    > 0)
            })
        })
        .await
    }

    pub async fn links_of(&self, oid: &EsiaOid) -> Result<Vec<AccountLink>, StoreError> {
        let oid = oid.0.clone();
        let rows = self
            .run("links_of", move |c| {
                Box::pin(async move {
                    let st = c.st(LINKS_OF).await?;
                    c.client
                        .query(&st, &[&oid])
                        .await?
                        .iter()
                        .map(link_row)
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .await?;
        rows.into_iter().map(link_of).collect()
    }

    pub async fn owner_of(&self, login: &LegacyLogin) -> Result<Option<EsiaOid>, StoreError> {
        let login = login.0.clone();
        self.run("owner_of", move |c| {
            Box::pin(async move {
                let st = c.st(OWNER_OF).await?;
                c.client
                    .query_opt(&st, &[&login])
                    .await?
                    .map(|r| r.try_get::<_, String>(0).map(EsiaOid))
                    .transpose()
            })
        })
        .await
    }

    pub async fn record_login(&self, r: &LoginRecord) -> Result<(), StoreError> {
        let (login, method, at) = (r.login.0.clone(), method_str(r.method), r.at);
        self.run("record_login", move |c| {
            Box::pin(async move {
                let st = c.st(RECORD_LOGIN).await?;
                c.client.execute(&st, &[&login, &method, &at]).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn last_logins(&self) -> Result<Vec<LastLogins>, StoreError> {
        // A region's worth of rows: no deadline but the server's own.
        let rows = self
            .run_for("last_logins", None, |c| {
                Box::pin(read_all(c, LAST_LOGINS, |r| {
                    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
                }))
            })
            .await?;
        Ok(rows.into_iter().map(last_of).collect())
    }

    pub async fn last_logins_of(
        &self,
        logins: &[LegacyLogin],
    ) -> Result<Vec<LastLogins>, StoreError> {
        if logins.is_empty() {
            return Ok(Vec::new());
        }
        let logins: Vec<String> = logins.iter().map(|l| l.0.clone()).collect();
        let rows = self
            .run("last_logins_of", move |c| {
                Box::pin(async move {
                    let st = c.st(LAST_LOGINS_OF).await?;
                    c.client
                        .query(&st, &[&logins])
                        .await?
                        .iter()
                        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                })
            })
            .await?;
        Ok(rows.into_iter().map(last_of).collect())
    }

    /// At most `batch` rows: login history first, then match failures with
    /// what is left of the batch; each statement committed on its own.
    pub async fn prune_before(&self, before: i64, batch: usize) -> Result<usize, StoreError> {
        let batch = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
        let n = self
            .run("prune_before", move |c| {
                Box::pin(async move {
                    let st = c.st(PRUNE_LOGINS).await?;
                    let mut n = c.client.execute(&st, &[&before, &batch]).await?;
                    let left = batch.saturating_sub(i64::try_from(n).unwrap_or(i64::MAX));
                    if left > 0 {
                        let st = c.st(PRUNE_FAILURES).await?;
                        n += c.client.execute(&st, &[&before, &left]).await?;
                    }
                    Ok(n)
                })
            })
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub async fn forget_person(&self, oid: &EsiaOid) -> Result<usize, StoreError> {
        let oid = oid.0.clone();
        let n: i64 = self
            .run("forget_person", move |c| {
                Box::pin(async move {
                    let st = c.st(FORGET).await?;
                    c.client.query_one(&st, &[&oid]).await?.try_get(0)
                })
            })
            .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub async fn has_logged_in(&self, login: &LegacyLogin) -> Result<bool, StoreError> {
        let login = login.0.clone();
        self.run("has_logged_in", move |c| {
            Box::pin(async move {
                let st = c.st(HAS_LOGGED_IN).await?;
                c.client.query_one(&st, &[&login]).await?.try_get(0)
            })
        })
        .await
    }

    pub async fn record_match_failure(&self, f: &MatchFailure) -> Result<(), StoreError> {
        let f = f.clone();
        self.run("record_match_failure", move |c| {
            Box::pin(async move {
                let st = c.st(RECORD_FAILURE).await?;
                insert_failure(&c.client, &st, &f).await
            })
        })
        .await
    }

    pub async fn match_failures_since(&self, at: i64) -> Result<Vec<MatchFailure>, StoreError> {
        let rows = self
            .run("match_failures_since", move |c| {
                Box::pin(async move {
                    let st = c.st(FAILURES_SINCE).await?;
                    c.client
                        .query(&st, &[&at])
                        .await?
                        .iter()
                        .map(failure_row)
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .await?;
        Ok(rows.into_iter().map(failure_of).collect())
    }

    pub async fn export_durable(&self) -> Result<Vec<DurableRecord>, StoreError> {
        let (links, logins, failures) = self
            .run_for("export", None, |c| {
                Box::pin(async move {
                    let links = read_all(c, ALL_LINKS, link_row).await?;
                    let logins = read_all(c, ALL_LOGINS, |r| {
                        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
                    })
                    .await?;
                    let failures = read_all(c, ALL_FAILURES, failure_row).await?;
                    Ok((links, logins, failures))
                })
            })
            .await?;
        let mut out = Vec::with_capacity(links.len() + logins.len() + failures.len());
        for l in links {
            out.push(DurableRecord::Link(link_of(l)?));
        }
        for l in logins {
            out.push(DurableRecord::Login(login_of(l)?));
        }
        out.extend(
            failures
                .into_iter()
                .map(|f| DurableRecord::MatchFailure(failure_of(f))),
        );
        Ok(out)
    }

    /// One transaction for the whole call: an own link that conflicts with
    /// one in the store ([`StoreError::AlreadyLinked`]) or any failure
    /// leaves nothing of the call behind. Links already there are fine;
    /// login history and failures are added, so import into an empty schema.
    pub async fn import_durable(&self, records: &[DurableRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        let placed = self
            .run_for("import", None, move |c| {
                Box::pin(async move {
                    let (put, owner) = (c.st(PUT_LINK).await?, c.st(OWNER_OF).await?);
                    let (logins, failure) =
                        (c.st(RECORD_LOGINS).await?, c.st(RECORD_FAILURE).await?);
                    let tx = c.client.transaction().await?;
                    let (mut who, mut how, mut when) = (Vec::new(), Vec::new(), Vec::new());
                    for r in &records {
                        match r {
                            DurableRecord::Link(l) => {
                                if !insert_link(&tx, &put, &owner, l).await? {
                                    return Ok(false);
                                }
                            }
                            DurableRecord::Login(l) => {
                                who.push(l.login.0.as_str());
                                how.push(method_str(l.method));
                                when.push(l.at);
                            }
                            DurableRecord::MatchFailure(f) => {
                                insert_failure(&tx, &failure, f).await?
                            }
                        }
                    }
                    if !who.is_empty() {
                        tx.execute(&logins, &[&who, &how, &when]).await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                })
            })
            .await?;
        if placed {
            Ok(())
        } else {
            Err(StoreError::AlreadyLinked)
        }
    }

    /// Can PostgreSQL take a statement now?
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", |c| {
            Box::pin(async move {
                c.client.simple_query("SELECT 1").await?;
                Ok(())
            })
        })
        .await
    }
}

async fn insert_failure(
    c: &impl tokio_postgres::GenericClient,
    st: &tokio_postgres::Statement,
    f: &MatchFailure,
) -> Result<(), tokio_postgres::Error> {
    let logins: Vec<&str> = f.logins.iter().map(|l| l.0.as_str()).collect();
    c.execute(st, &[&f.at, &f.reason, &f.oid.0, &logins, &f.display_name])
        .await?;
    Ok(())
}
