//! The sources as the gateway uses them: a changed CSV reloaded and a
//! broken one keeping the last good directory, the refresher task and
//! thread, a PostgreSQL source failing without its password, and masking.

use std::path::Path;

use super::*;

const HEADER: &str = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class\n";

fn reloads(result: &str) -> u64 {
    metrics::get()
        .directory_reloads
        .with_label_values(&["csv", result])
        .get()
}

fn write(path: &Path, text: &str) {
    // Write aside and rename, as an export job should.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

#[tokio::test]
async fn a_changed_csv_is_reloaded_and_a_broken_one_keeps_the_last_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("accounts.csv");
    write(
        &path,
        &format!("{HEADER}ivanova,Иванова,Мария,Петровна,112-233-445 95,parent,,СШ №5,\n"),
    );
    let mut src = DirectorySource::csv(path.clone(), Duration::from_millis(100));
    assert_eq!(src.label(), "csv");
    let first = src.load_initial().await.expect("initial load");
    assert_eq!(first.accounts().len(), 1);
    let target = ArcSwap::from_pointee(first);
    assert_eq!(src.refresh(&target).await, Refresh::Unchanged);

    // A new account appears.
    write(
        &path,
        &format!(
            "{HEADER}ivanova,Иванова,Мария,Петровна,112-233-445 95,parent,,СШ №5,\n\
             petrov,Петров,Пётр,,,staff,,СШ №5,\n\
             ,Без,Логина,,,parent,,СШ №5,\n"
        ),
    );
    assert_eq!(
        src.refresh(&target).await,
        Refresh::Loaded {
            accounts: 2,
            skipped: 1
        }
    );
    assert!(target.load().by_login("petrov").is_some());
    assert_eq!(target.load().skipped_rows()[0].row, 4);
    assert_eq!(src.refresh(&target).await, Refresh::Unchanged);

    // A broken header: the old directory stays, the error is counted
    // once, not at every check.
    let errors = reloads("error");
    write(&path, "login;name\nx;y\n");
    let r = src.refresh(&target).await;
    assert!(
        matches!(&r, Refresh::Failed(why) if why.contains("missing")),
        "{r:?}"
    );
    assert!(reloads("error") > errors);
    assert_eq!(target.load().accounts().len(), 2);
    assert_eq!(src.refresh(&target).await, Refresh::Unchanged);

    // The file gone: same.
    std::fs::remove_file(&path).expect("rm");
    assert!(matches!(src.refresh(&target).await, Refresh::Failed(_)));
    assert_eq!(src.refresh(&target).await, Refresh::Unchanged);
    assert_eq!(target.load().accounts().len(), 2);

    // Fixed: loaded again.
    write(
        &path,
        &format!("{HEADER}orlova,Орлова,Анна,,,parent,,СШ №5,\n"),
    );
    assert!(matches!(
        src.refresh(&target).await,
        Refresh::Loaded { accounts: 1, .. }
    ));
    assert!(target.load().by_login("orlova").is_some());
}

#[tokio::test]
async fn the_refresher_task_picks_up_a_change_and_stops_with_its_gateway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("accounts.csv");
    write(&path, &format!("{HEADER}a,Иванов,Иван,,,staff,,СШ №5,\n"));
    let mut src = DirectorySource::csv(path.clone(), Duration::from_millis(100));
    let target = Arc::new(ArcSwap::from_pointee(
        src.load_initial().await.expect("initial"),
    ));
    let oks = reloads("ok");
    let task = src.spawn_refresher(target.clone());
    write(
        &path,
        &format!("{HEADER}a,Иванов,Иван,,,staff,,СШ №5,\nb,Петров,Пётр,,,staff,,СШ №5,\n"),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while target.load().by_login("b").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloads("ok") > oks);
    drop(target);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops once the directory is unused")
        .expect("no panic");
}

#[test]
fn start_loads_before_returning_and_refuses_without_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("accounts.csv");
    let e = DirectorySource::csv(path.clone(), Duration::from_secs(5))
        .start()
        .expect_err("no file");
    assert!(e.to_string().contains("accounts.csv"), "{e}");
    write(&path, &format!("{HEADER}a,Иванов,Иван,,,staff,,СШ №5,\n"));
    let (target, thread) = DirectorySource::csv(path, Duration::from_millis(100))
        .start()
        .expect("loads");
    assert_eq!(target.load().accounts().len(), 1);
    drop(target);
    thread
        .join()
        .expect("the thread ends once the directory is unused");
}

#[tokio::test]
async fn a_postgres_source_that_cannot_connect_fails_without_the_password() {
    // A closed port on loopback: connection refused at once.
    let port = esia_gate_dev::ports::free_port().expect("port");
    let pg = Postgres {
        url: Some(format!("postgresql://gate:s3cret@127.0.0.1:{port}/diary")),
        url_file: None,
        query: "SELECT 1;".into(),
        refresh_seconds: 1,
        timeout_seconds: 5,
        ca_file: None,
    };
    let mut src = DirectorySource::postgres(&pg).expect("source");
    assert_eq!(src.label(), "postgres");
    let e = src.load_initial().await.expect_err("refused");
    let shown = e.to_string();
    assert!(shown.contains("directory.postgres"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn a_missing_url_file_or_ca_file_names_its_key() {
    let pg = Postgres {
        url: None,
        url_file: Some(PathBuf::from("/nonexistent/url")),
        query: "SELECT 1".into(),
        refresh_seconds: 1,
        timeout_seconds: 1,
        ca_file: None,
    };
    let e = DirectorySource::postgres(&pg).err().expect("no url file");
    assert!(e.to_string().contains("directory.postgres.url_file"), "{e}");
    let pg = Postgres {
        url: Some("host=127.0.0.1 sslmode=require".into()),
        url_file: None,
        ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
        ..pg
    };
    let e = DirectorySource::postgres(&pg).err().expect("no ca file");
    assert!(e.to_string().contains("directory.postgres.ca_file"), "{e}");
}

#[test]
fn numbers_that_could_be_a_snils_are_masked_in_server_messages() {
    assert_eq!(
        masked("invalid input syntax for type bigint: \"112-233-445 95\""),
        "invalid input syntax for type bigint: \"***\""
    );
    assert_eq!(
        masked("11223344595 and 127.0.0.1:5432"),
        "*** and 127.0.0.1:5432"
    );
    assert_eq!(masked("row 12, column 3"), "row 12, column 3");
}
