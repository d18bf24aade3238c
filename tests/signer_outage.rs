//! A signer that hangs (a CryptoPro box that stopped answering) delays only
//! the logins waiting for it: people already in keep the diary at normal
//! speed, because signing never holds a thread of the gateway.

mod support;

use std::time::{Duration, Instant};

use support::{Browser, Stack, persons};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_signer_delays_only_the_logins_waiting_for_it() {
    let mut stack = Stack::start().await;
    // The signing command hangs for 10 s while a flag file exists.
    let dir = stack.dir.path().to_path_buf();
    let script = dir.join("signer.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e '{hang}' ]; then sleep 10; fi\nexec openssl dgst -engine gost -md_gost12_256 -sign '{key}'\n",
            hang = dir.join("hang").display(),
            key = dir.join("keys/client-key.pem").display()
        ),
    )
    .expect("script");
    stack
        .use_external_signer(&format!(
            "command = [\"/bin/sh\", \"{}\"]\ntimeout_seconds = 20\n",
            script.display()
        ))
        .await;
    let person = Browser::new();
    let page = person.login(&stack, "/grades", persons::SMIRNOV).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // The signer hangs; a crowd starts logging in at once.
    std::fs::write(dir.join("hang"), b"").expect("flag");
    let hung_at = Instant::now();
    let crowd: Vec<_> = (0..16)
        .map(|_| {
            let url = stack.url("/esia-gate/login?return_to=/grades");
            tokio::spawn(async move {
                let b = Browser::new();
                let t = Instant::now();
                let a = b.get(&url).await;
                (a.status, t.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 100 requests of the person already in, ten at a time: none waits for
    // the signer.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let batch: Vec<_> = (0..10)
            .map(|_| {
                let http = person.http.clone();
                let url = stack.url("/grades");
                tokio::spawn(async move {
                    let t = Instant::now();
                    let r = http
                        .get(&url)
                        .header("Sec-Fetch-Mode", "navigate")
                        .send()
                        .await
                        .expect("grades");
                    (r.status().as_u16(), t.elapsed())
                })
            })
            .collect();
        for r in batch {
            let (status, took) = r.await.expect("task");
            assert_eq!(status, 200);
            slowest = slowest.max(took);
        }
    }
    assert!(
        hung_at.elapsed() < Duration::from_secs(9),
        "the 100 requests waited for the signer: {:?}",
        hung_at.elapsed()
    );
    assert!(slowest < Duration::from_secs(3), "slowest {slowest:?}");

    // The crowd's logins were only delayed: they go on to ESIA.
    std::fs::remove_file(dir.join("hang")).expect("flag");
    for c in crowd {
        let (status, took) = c.await.expect("task");
        assert_eq!(status, 302, "a login start after the hang");
        assert!(took >= Duration::from_secs(5), "{took:?}");
    }
}
