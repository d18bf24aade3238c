//! The tables of the durable records and their migrations. Each migration
//! is applied once, in order, in one transaction with its row in
//! `schema_version`, under a transaction-scoped advisory lock: gateways
//! starting at once apply it once between them, and one that finds the
//! work done does nothing. A schema of a newer esia-gate (a version this
//! one does not know) is refused.
//!
//! `{s}` stands for the configured schema (checked to be a plain lower-case
//! name, so it is written unquoted).
//!
//! Indexes, by what asks: links by person (the primary key's prefix) and
//! by login (one owner per login: a unique partial index, which is also
//! what refuses a second owner atomically); login history by time (pruning)
//! and by login (forgetting a person); last logins by login (the primary
//! key: one account, one school's accounts); match failures by time
//! (reports, pruning) and by person.

use tokio_postgres::Client;

use crate::store::StoreError;

/// The constraint that keeps one owner per login; its violation is
/// [`StoreError::AlreadyLinked`].
pub(super) const ONE_OWNER: &str = "links_one_owner";

/// (version, SQL). Append only: a released migration never changes.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE {s}.links (
        oid text NOT NULL,
        login text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('own', 'child')),
        source text NOT NULL CHECK (source IN ('snils', 'password')),
        created_at bigint NOT NULL,
        PRIMARY KEY (oid, login, kind)
    );
    CREATE UNIQUE INDEX links_one_owner ON {s}.links (login) WHERE kind = 'own';
    CREATE INDEX links_by_login ON {s}.links (login);
    CREATE TABLE {s}.logins (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        login text NOT NULL,
        method text NOT NULL CHECK (method IN ('esia', 'password')),
        at bigint NOT NULL
    );
    CREATE INDEX logins_by_time ON {s}.logins (at);
    CREATE INDEX logins_by_login ON {s}.logins (login);
    CREATE TABLE {s}.last_logins (
        login text PRIMARY KEY,
        last_esia bigint,
        last_password bigint
    );
    CREATE TABLE {s}.match_failures (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at bigint NOT NULL,
        reason text NOT NULL,
        oid text NOT NULL,
        logins text[] NOT NULL,
        display_name text
    );
    CREATE INDEX match_failures_by_time ON {s}.match_failures (at);
    CREATE INDEX match_failures_by_oid ON {s}.match_failures (oid);",
)];

/// The newest version this esia-gate knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// What a schema holds now: its version (0: nothing yet).
async fn version_in(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
) -> Result<i32, tokio_postgres::Error> {
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = 'schema_version'",
            &[&schema],
        )
        .await?
        .is_some();
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {schema}.schema_version"),
            &[],
        )
        .await?;
    row.try_get(0)
}

fn newer(found: i32) -> StoreError {
    StoreError::Corrupt(format!(
        "the PostgreSQL schema was written by a newer esia-gate (store schema version {found}; \
         this version knows up to {}): run the newer version, or export with it and import \
         into another schema",
        latest()
    ))
}

/// Bring `schema` up to [`latest`]; returns the versions applied.
pub(super) async fn migrate(client: &mut Client, schema: &str) -> Result<Vec<i32>, MigrateError> {
    let tx = client.transaction().await?;
    // One migrator at a time per schema, across every gateway; released
    // with the transaction (also when the connection dies).
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('esia-gate migrations ' || $1::text))",
        &[&schema],
    )
    .await?;
    let found = version_in(&tx, schema).await?;
    if found > latest() {
        return Err(MigrateError::Store(newer(found)));
    }
    if found == latest() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let has_schema = tx
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .await?
        .is_some();
    // Created only when missing: a database administrator may have made
    // it (and granted it) for a user without CREATE on the database.
    if !has_schema {
        tx.batch_execute(&format!("CREATE SCHEMA {schema}")).await?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {schema}.schema_version (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )"
    ))
    .await?;
    let mut applied = Vec::new();
    for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(&sql.replace("{s}", schema)).await?;
        tx.execute(
            &format!("INSERT INTO {schema}.schema_version (version) VALUES ($1)"),
            &[v],
        )
        .await?;
        applied.push(*v);
    }
    tx.commit().await?;
    Ok(applied)
}

/// Is `schema` at the version this esia-gate writes? For `esia-gate
/// check`, which never changes the database.
pub(super) async fn inspect(client: &Client, schema: &str) -> Result<Inspection, MigrateError> {
    let found = version_in(client, schema).await?;
    if found > latest() {
        return Err(MigrateError::Store(newer(found)));
    }
    Ok(Inspection {
        found,
        latest: latest(),
    })
}

pub struct Inspection {
    pub found: i32,
    pub latest: i32,
}

impl Inspection {
    /// For `esia-gate check`.
    pub fn describe(&self, schema: &str) -> String {
        if self.found == self.latest {
            format!("PostgreSQL schema {schema} is at version {}", self.found)
        } else if self.found == 0 {
            format!(
                "PostgreSQL schema {schema} has no tables yet; the gateway creates them at start"
            )
        } else {
            format!(
                "PostgreSQL schema {schema} is at version {}; the gateway migrates it to {} at start",
                self.found, self.latest
            )
        }
    }
}

#[derive(Debug)]
pub(super) enum MigrateError {
    Db(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Db(e)
    }
}
