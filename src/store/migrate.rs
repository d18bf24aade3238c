//! `esia-gate links export|import`: every durable record (links, login
//! history, match failures) as JSON lines of [`DurableRecord`], to move a
//! node from the embedded store to Redis and back, or to keep a backup.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use super::{DurableRecord, LinkKind, Store, StoreError};
use crate::identity::{EsiaOid, LegacyLogin};

/// Records written to the store per call on import.
const BATCH: usize = 1000;

/// Write every durable record of `store`, one JSON object a line. Returns
/// the number of records written.
pub async fn export_jsonl<W>(store: &dyn Store, writer: &mut W) -> Result<usize, StoreError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let records = store.export_durable().await?;
    write_records(&records, writer).await
}

async fn write_records<W>(records: &[DurableRecord], writer: &mut W) -> Result<usize, StoreError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let io = |e: std::io::Error| StoreError::Unavailable(format!("cannot write the export: {e}"));
    for r in records {
        let mut line = serde_json::to_vec(r)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode a record: {e}")))?;
        line.push(b'\n');
        writer.write_all(&line).await.map_err(io)?;
    }
    writer.flush().await.map_err(io)?;
    Ok(records.len())
}

/// Write one person's durable records (see [`Store::forget_person`] for
/// which), one JSON object a line; returns how many. Reads every durable
/// record of the store to find them (minutes at region size): for an
/// occasional request of one person, not for bulk use.
pub async fn export_person_jsonl<W>(
    store: &dyn Store,
    oid: &EsiaOid,
    writer: &mut W,
) -> Result<usize, StoreError>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let links = store.links_of(oid).await?;
    let own: Vec<&LegacyLogin> = links
        .iter()
        .filter(|l| l.kind == LinkKind::Own)
        .map(|l| &l.login)
        .collect();
    let mut records: Vec<DurableRecord> = links.iter().cloned().map(DurableRecord::Link).collect();
    records.extend(
        store
            .export_durable()
            .await?
            .into_iter()
            .filter(|r| match r {
                DurableRecord::Login(l) => own.contains(&&l.login),
                DurableRecord::MatchFailure(f) => f.oid == *oid,
                DurableRecord::Link(_) => false,
            }),
    );
    write_records(&records, writer).await
}

/// Read JSON lines of [`DurableRecord`] (blank lines are skipped) and add
/// them to `store`, in batches. A bad line stops the import before anything
/// of its batch is written, naming the line; an own link that conflicts
/// with one already in the store stops it with [`StoreError::AlreadyLinked`].
/// Import into an empty store: login history and match failures are added,
/// not merged. Returns the number of records imported.
pub async fn import_jsonl<R>(store: &dyn Store, reader: R) -> Result<usize, StoreError>
where
    R: AsyncBufRead + Unpin,
{
    let mut lines = reader.lines();
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0usize;
    let mut line_no = 0usize;
    loop {
        let line = lines
            .next_line()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot read the import: {e}")))?;
        let Some(line) = line else { break };
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let r: DurableRecord = serde_json::from_str(&line)
            .map_err(|e| StoreError::Corrupt(format!("line {line_no}: {e}")))?;
        batch.push(r);
        if batch.len() == BATCH {
            store.import_durable(&batch).await?;
            n += batch.len();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.import_durable(&batch).await?;
        n += batch.len();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{EsiaOid, LegacyLogin};
    use crate::store::suite::sorted;
    use crate::store::{
        AccountLink, EmbeddedStore, LinkKind, LinkSource, LoginMethod, LoginRecord, MatchFailure,
        RedisStore,
    };

    fn records() -> Vec<DurableRecord> {
        let mut v = Vec::new();
        for i in 0..1500 {
            v.push(DurableRecord::Link(AccountLink {
                oid: EsiaOid(format!("{}", 1_000_000 + i)),
                login: LegacyLogin(format!("user{i}")),
                kind: if i % 3 == 0 {
                    LinkKind::Child
                } else {
                    LinkKind::Own
                },
                source: if i % 2 == 0 {
                    LinkSource::Snils
                } else {
                    LinkSource::Password
                },
                created_at: 1_700_000_000 + i,
            }));
            v.push(DurableRecord::Login(LoginRecord {
                login: LegacyLogin(format!("user{}", i % 100)),
                method: if i % 5 == 0 {
                    LoginMethod::Password
                } else {
                    LoginMethod::Esia
                },
                at: 1_700_000_000 + i,
            }));
        }
        for i in 0..20 {
            v.push(DurableRecord::MatchFailure(MatchFailure {
                at: 1_700_000_000 + i / 2,
                reason: "fio_differs".into(),
                oid: EsiaOid(format!("{}", 2_000_000 + i)),
                logins: vec![LegacyLogin("смирнов.д".into())],
                display_name: None,
            }));
        }
        v
    }

    async fn export(store: &dyn Store) -> Vec<u8> {
        let mut out = Vec::new();
        export_jsonl(store, &mut out).await.expect("export");
        out
    }

    fn parse(text: &[u8]) -> Vec<DurableRecord> {
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a record a line"))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_to_redis_and_back_keeps_every_record() {
        let dir = tempfile::tempdir().expect("tmp");
        let redis_server = esia_gate_dev::redis::RedisServer::start().expect("redis-server");
        let embedded = EmbeddedStore::open(&dir.path().join("a.redb")).expect("embedded");
        embedded.import_durable(&records()).await.expect("seed");

        let first = export(&embedded).await;
        assert_eq!(sorted(parse(&first)), sorted(records()));

        let settings = crate::config::store::StoreSettings {
            backend: crate::config::store::StoreBackend::Redis,
            url: Some(redis_server.url()),
            ..Default::default()
        };
        let redis = RedisStore::open(&settings, dir.path())
            .await
            .expect("redis");
        let n = import_jsonl(&redis, &first[..]).await.expect("import");
        assert_eq!(n, records().len());
        let second = export(&redis).await;
        assert_eq!(sorted(parse(&second)), sorted(records()));

        let back = EmbeddedStore::open(&dir.path().join("b.redb")).expect("embedded b");
        import_jsonl(&back, &second[..]).await.expect("import back");
        assert_eq!(sorted(parse(&export(&back).await)), sorted(records()));
        assert_eq!(
            back.owner_of(&LegacyLogin("user1".into()))
                .await
                .expect("owner"),
            Some(EsiaOid("1000001".into()))
        );
    }

    #[tokio::test]
    async fn a_bad_line_is_named_and_blank_lines_skipped() {
        let store = crate::store::MemoryStore::default();
        let text =
            b"\n{\"type\":\"login\",\"login\":\"a\",\"method\":\"esia\",\"at\":1}\n\nnot json\n";
        let e = import_jsonl(&store, &text[..]).await.expect_err("bad line");
        assert!(e.to_string().contains("line 4"), "{e}");
        let ok = b"{\"type\":\"login\",\"login\":\"a\",\"method\":\"esia\",\"at\":1}\n\n";
        assert_eq!(import_jsonl(&store, &ok[..]).await.expect("import"), 1);
    }
}
