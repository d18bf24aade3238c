//! A region that opts in (`[directory] match_without_snils = "birth_date"`)
//! lets a person whose diary row has no SNILS in yet come in without
//! manual linking, when exactly one row without a SNILS has their FIO and
//! birth date; the seeds' default sends them to linking.

mod support;

use support::{Browser, Options, Stack, counter, persons};

async fn without_smirnovs_snils(stack: &Stack) {
    let csv = stack.dir.path().join("data/accounts.csv");
    let text = std::fs::read_to_string(&csv).expect("accounts");
    assert!(
        text.contains("211-908-365 44"),
        "Смирнов's row has his SNILS"
    );
    let series = "esia_gate_directory_reloads_total{result=\"ok\",source=\"csv\"}";
    let before = counter(&stack.metrics().await, series);
    // Written aside and renamed into place, as the operator guide says.
    let aside = csv.with_extension("new");
    std::fs::write(&aside, text.replace("211-908-365 44", "")).expect("write");
    std::fs::rename(&aside, &csv).expect("rename");
    stack.wait_for_counter(series, before + 1.0).await;
}

fn option(on: bool) -> Options {
    let rule = if on { "birth_date" } else { "off" };
    Options {
        config_replace: vec![(
            "[directory]\n".to_string(),
            format!("[directory]\nmatch_without_snils = \"{rule}\"\ncsv_reload_seconds = 1\n"),
        )],
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_without_snils_matches_by_birth_date_only_where_the_region_opts_in() {
    let stack = Stack::start_with(option(true)).await;
    without_smirnovs_snils(&stack).await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("smirnov.d"), "{}", page.body);
    let scrape = stack.metrics().await;
    assert_eq!(
        counter(
            &scrape,
            "esia_gate_match_outcomes_total{outcome=\"birth_date\"}"
        ),
        1.0,
        "{scrape}"
    );

    let stack = Stack::start_with(option(false)).await;
    without_smirnovs_snils(&stack).await;
    let page = Browser::new()
        .login(&stack, "/grades", persons::SMIRNOV)
        .await;
    assert!(page.url.ends_with("/esia-gate/link"), "{}", page.url);
}
