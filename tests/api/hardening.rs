//! The holes of the December 2026 security review (`shared/reviews/security-2026-12.md`),
//! each driven black-box: hashing backlog (H1), backend-dependent usernames (H2), the
//! password-change oracle (M1), the lockout race (M2), revocations from other processes
//! (M4), retryable logout (M5), IPv6 buckets (M6), the revoke endpoint and audit
//! retention (M8), paging bounds (L4), forwarded hops with ports (L5), sessions at their
//! absolute limit (L7).

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_domain::ManualClock;

use crate::helpers::{
    PASSWORD, TestApp, TestEnv, assert_abandoned_requests_leave_no_backlog, assert_problem,
    assert_throttled, backend, claims_of, header_of, slow_hashing, unique_name, within,
};

/// `POST /v1/me/password` with this current password.
async fn change_password(app: &TestApp, token: &str, current: &str) -> reqwest::Response {
    let body = json!({"current_password": current, "new_password": "a brand new passphrase 42"});
    app.post_json("/v1/me/password", &body, Some(token)).await
}

// H1 ---------------------------------------------------------------------------------

/// Beyond the places the hashing pool admits, a login is turned away at the door: 503
/// with `Retry-After`, never queued behind the database, and never counted against the
/// account's failure budget.
#[tokio::test]
async fn a_login_flood_is_turned_away_at_the_password_door() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| slow_hashing(c, 1))
        .spawn()
        .await;
    let (name, _) = app.signed_in_user().await;
    let mut flood = Vec::new();
    for i in 0..40 {
        let body = json!({"username": name, "password": format!("guess {i}")});
        let req = app.client.post(app.url("/v1/auth/login")).json(&body);
        flood.push(tokio::spawn(req.send()));
    }
    let (mut refused, mut wrong, mut locked) = (0, 0, 0);
    for f in flood {
        let r = f.await.unwrap().unwrap();
        match r.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(r.headers().contains_key("retry-after"));
                assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
                refused += 1;
            }
            // A checked password, wrong; or the account locked by the checked ones.
            StatusCode::UNAUTHORIZED => wrong += 1,
            StatusCode::TOO_MANY_REQUESTS => locked += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused > 0, "nothing was turned away");
    assert_eq!(refused + wrong + locked, 40);
    // Only checked passwords count: the refused ones left no failure behind.
    assert_eq!(app.audit_events("login_failed").await, wrong);
}

/// A flood of logins whose clients give up after a few milliseconds leaves no backlog: a
/// login afterwards is answered within about one hash time, or refused at once. (The
/// mechanism — permits travel with jobs, abandoned jobs are skipped — is pinned by the
/// unit test in `app/src/hashing.rs`; before the fix every abandoned request had left its
/// job queued, hundreds × ~60 ms.)
#[tokio::test]
async fn abandoned_hashing_requests_leave_no_backlog() {
    assert_abandoned_requests_leave_no_backlog(|app, impatient, (name, _), i| {
        impatient
            .post(app.url("/v1/auth/login"))
            .json(&json!({"username": name, "password": format!("guess {i}")}))
    })
    .await;
}

// H2 ---------------------------------------------------------------------------------

/// Fullwidth forms of ASCII letters and digits (`a` → `ａ`).
fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap(),
            c => c,
        })
        .collect()
}

#[tokio::test]
async fn the_same_input_means_the_same_user_on_every_backend() {
    let app = TestApp::builder().limited().spawn().await;
    let tail = &unique_name()[5..];
    let plain = format!("alice{tail}");
    let accented = format!("álice{tail}");
    assert_eq!(app.register(&plain, PASSWORD).await.status(), 201);
    let sub = claims_of(&app.login_ok(&plain, PASSWORD).await.access_token)["sub"].clone();

    // An accent makes another name: no login into alice's account…
    let r = app.login(&accented, PASSWORD).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // …and it can be registered as an account of its own.
    assert_eq!(app.register(&accented, PASSWORD).await.status(), 201);
    let other = claims_of(&app.login_ok(&accented, PASSWORD).await.access_token)["sub"].clone();
    assert_ne!(other, sub);

    // Case and compatibility forms are the same name.
    for same in [plain.to_uppercase(), fullwidth(&plain)] {
        let pair = app.login_ok(&same, PASSWORD).await;
        assert_eq!(claims_of(&pair.access_token)["sub"], sub, "{same}");
        assert_eq!(app.register(&same, PASSWORD).await.status(), 409, "{same}");
    }

    // Each spelling has one failure budget: locking `alice…` locks `ALICE…` too, while
    // `álice…` is another account with its own.
    for _ in 0..6 {
        app.login(&plain, "wrong password!").await;
    }
    let r = app.login(&plain.to_uppercase(), PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.login(&accented, PASSWORD).await.status(), 200);
}

// M1 ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_wrong_current_password_counts_as_a_failed_login() {
    let app = TestApp::builder().limited().spawn().await;
    let (name, pair) = app.signed_in_user().await;
    for i in 0..6 {
        let r = change_password(&app, &pair.access_token, &format!("guess {i}")).await;
        assert_problem(r, StatusCode::FORBIDDEN, "invalid_credentials").await;
    }
    let r = change_password(&app, &pair.access_token, PASSWORD).await;
    assert_throttled(r).await;
    // One budget for both doors: the login is locked too.
    let r = app.login(&name, PASSWORD).await;
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.audit_events("password_change_failed").await, 6);
    assert_eq!(app.audit_events("lockout").await, 1);

    // Once the lock lapses, the right password changes it and forgets the failures.
    app.advance(TimeDelta::seconds(2));
    let r = change_password(&app, &pair.access_token, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn password_changes_share_the_login_bucket_of_the_address() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.limits.login_per_minute = 1;
            c.limits.login_burst = 3;
            c.limits.account_throttling = false;
        })
        .spawn()
        .await;
    let (_, pair) = app.signed_in_user().await; // the login takes one
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = change_password(&app, &pair.access_token, &format!("guess {i}")).await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [403, 403, 429]);
}

// M2 ---------------------------------------------------------------------------------

#[tokio::test]
async fn parallel_guesses_get_no_more_checks_than_sequential_ones() {
    let app = Arc::new(TestApp::builder().limited().spawn().await);
    let (name, _) = app.signed_in_user().await;
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let (app, name) = (Arc::clone(&app), name.clone());
            tokio::spawn(async move {
                app.login(&name, &format!("guess number {i}"))
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    // The 5 free failures and the one that starts the lock; never the whole burst.
    assert!(
        checked <= 6,
        "{checked} of 20 parallel guesses were checked"
    );
    assert_eq!(checked + refused, 20, "{statuses:?}");
}

// M4 ---------------------------------------------------------------------------------

/// A configuration file for the CLI, pointing at the test's database and key.
fn cli_config(env: &TestEnv) -> std::path::PathBuf {
    // A deployment's one public URL, which a shared database server or Redis requires.
    let mut toml = format!(
        "[log]\nlevel = \"error\"\n[server]\npublic_url = \"https://tessera.test\"\n\
         [database]\nurl = {:?}\nmax_connections = 2\n\
         [keys]\nencryption_key_file = {:?}\n",
        env.db_url,
        env.path().join("encryption.key").display().to_string(),
    );
    if let Some(url) = &env.redis_url {
        toml += &format!(
            "[revocation]\nbackend = \"redis\"\nredis_url = {url:?}\nredis_prefix = {:?}\n",
            env.redis_prefix
        );
    }
    let path = env.path().join("cli.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

async fn cli(env: &TestEnv, command: tessera::cli::Command) {
    tessera::cli::run(tessera::cli::Cli {
        config: Some(cli_config(env)),
        command: Some(command),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn cli_disable_and_key_revoke_reach_a_running_server() {
    let env = TestEnv::new().await;
    let app = TestApp::builder().on(Arc::clone(&env)).spawn().await;
    let (name, pair) = app.signed_in_user().await;
    let (_, other) = app.signed_in_user().await;
    assert_eq!(app.dashboard_status(&pair.access_token).await, 200);

    cli(
        &env,
        tessera::cli::Command::Users(tessera::cli::UsersCommand::Disable { username: name }),
    )
    .await;
    let took = within(Duration::from_secs(3), async || {
        app.dashboard_status(&pair.access_token).await == StatusCode::UNAUTHORIZED
    })
    .await
    .expect("the disabled user's token still works on the running server");
    println!("CLI disable reached the server after {took:?}");
    assert_eq!(app.dashboard_status(&other.access_token).await, 200);

    let kid = header_of(&other.access_token)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    cli(
        &env,
        tessera::cli::Command::Keys(tessera::cli::KeysCommand::Revoke { kid: kid.clone() }),
    )
    .await;
    let took = within(Duration::from_secs(3), async || {
        app.dashboard_status(&other.access_token).await == StatusCode::UNAUTHORIZED
    })
    .await
    .expect("a token of the revoked key still works on the running server");
    println!("CLI key revoke reached the server after {took:?}");
    assert!(
        !app.kids().await.contains(&kid),
        "revoked key still published"
    );
    app.stop().await;
}

// M5 ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_logout_can_be_retried_and_ends_the_session_for_good() {
    let app = TestApp::spawn().await;
    let (_, pair) = app.signed_in_user().await;
    for _ in 0..2 {
        let r = app.logout(&pair.access_token).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "logout is idempotent");
    }
    let r = app.refresh(&pair.refresh_token).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    let r = app.get("/v1/me", Some(&pair.access_token)).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
    // Only the token's own ended session is forgiven: a token revoked by itself is not.
    let (_, live) = app.signed_in_user().await;
    let r = app
        .post_json(
            "/v1/oauth/revoke",
            &json!({"token": live.access_token}),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.logout(&live.access_token).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

// M6 ---------------------------------------------------------------------------------

async fn login_from(app: &TestApp, forwarded: &str, name: &str) -> StatusCode {
    app.client
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": name, "password": "wrong password!"}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn ipv6_clients_share_a_bucket_per_64() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            c.limits.login_per_minute = 1;
            c.limits.login_burst = 3;
            c.limits.account_throttling = false;
        })
        .spawn()
        .await;
    let mut statuses = Vec::new();
    for i in 1..=4 {
        statuses.push(login_from(&app, &format!("2001:db8:0:1::{i:x}"), &unique_name()).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429], "one /64, one bucket");
    assert_eq!(
        login_from(&app, "2001:db8:0:2::1", &unique_name()).await,
        401,
        "another /64 has its own"
    );
}

// M8 ---------------------------------------------------------------------------------

#[tokio::test]
async fn revocation_is_bucketed_and_a_dead_token_costs_no_writes() {
    let app = TestApp::builder()
        .limited()
        .with_config(|c| {
            c.limits.revoke_per_minute = 1;
            c.limits.revoke_burst = 3;
        })
        .spawn()
        .await;
    let (_, pair) = app.signed_in_user().await;
    let revoke = async || {
        app.post_json(
            "/v1/oauth/revoke",
            &json!({"token": pair.refresh_token}),
            None,
        )
        .await
    };
    for _ in 0..3 {
        assert_eq!(revoke().await.status(), StatusCode::OK);
    }
    let r = revoke().await;
    assert_throttled(r).await;
    assert_eq!(
        app.audit_events("token_revoked").await,
        1,
        "only the first revocation of the session wrote anything"
    );
}

#[tokio::test]
async fn audit_events_past_retention_are_purged() {
    let app = TestApp::spawn().await;
    app.signed_in_user().await;
    assert!(app.audit_events("registered").await >= 1);
    let retention = Duration::from_secs(24 * 3600);
    tessera::background::purge_once(&app.state, retention)
        .await
        .unwrap();
    assert_eq!(
        app.audit_events("registered").await,
        1,
        "recent events stay"
    );
    app.advance(TimeDelta::days(2));
    tessera::background::purge_once(&app.state, retention)
        .await
        .unwrap();
    assert_eq!(app.audit_events("registered").await, 0);
}

// L4 ---------------------------------------------------------------------------------

#[tokio::test]
async fn admin_paging_outside_its_bounds_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in_with_role("admin").await;
    for path in ["/v1/admin/users", "/v1/admin/audit"] {
        for query in [
            "page=18446744073709551615",
            "page=1000000000000000000",
            "page=0",
            "per_page=0",
            "per_page=201",
            "page=-1",
        ] {
            let r = app
                .get(&format!("{path}?{query}"), Some(&admin.access_token))
                .await;
            assert_problem(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        let r = app
            .get(
                &format!("{path}?page=1000000&per_page=200"),
                Some(&admin.access_token),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{path}: the largest page is fine"
        );
    }
}

// L5 ---------------------------------------------------------------------------------

async fn session_ip(app: &TestApp, forwarded: &str) -> String {
    let name = unique_name();
    app.register(&name, PASSWORD).await;
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let pair: crate::helpers::TokenPair = r.json().await.unwrap();
    let sessions: Value = app
        .get_json("/v1/me/sessions", Some(&pair.access_token))
        .await;
    sessions[0]["ip"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn forwarded_hops_with_ports_are_read_and_garbage_is_not_skipped() {
    let app = TestApp::builder()
        .with_config(|c| {
            c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        })
        .spawn()
        .await;
    assert_eq!(
        session_ip(&app, "6.6.6.6, 198.51.100.7:4711").await,
        "198.51.100.7"
    );
    assert_eq!(
        session_ip(&app, "6.6.6.6, [2001:db8::7]:443").await,
        "2001:db8::7"
    );
    assert_eq!(
        session_ip(&app, "6.6.6.6, not-an-address").await,
        "127.0.0.1",
        "an unreadable hop must not hand the client spot to the part left of it"
    );
}

// L7 ---------------------------------------------------------------------------------

#[tokio::test]
async fn logout_all_reaches_a_session_at_its_absolute_limit() {
    let app = TestApp::builder()
        .with_config(|c| {
            c.tokens.refresh_idle_ttl = Duration::from_secs(3600);
            c.tokens.session_max_ttl = Duration::from_secs(3600);
        })
        .spawn()
        .await;
    let (name, first) = app.signed_in_user().await;
    app.advance(TimeDelta::minutes(59));
    let r = app.refresh(&first.refresh_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let renewed: crate::helpers::TokenPair = r.json().await.unwrap();
    // The session lapses at 60 min; its last access token lives until ~74 min.
    app.advance(TimeDelta::minutes(2));
    assert_eq!(app.dashboard_status(&renewed.access_token).await, 200);
    let other = app.login_ok(&name, PASSWORD).await;
    let r = app
        .post_json("/v1/auth/logout-all", &json!({}), Some(&other.access_token))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.dashboard_status(&renewed.access_token).await,
        StatusCode::UNAUTHORIZED
    );
}

// M3 ---------------------------------------------------------------------------------

/// A TCP relay to `upstream` that can start swallowing bytes in both directions without
/// closing anything: a partition, or a NAT that dropped the flow.
struct BlackHoleRelay {
    port: u16,
    forwarding: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHoleRelay {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        use std::sync::atomic::AtomicBool;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let forwarding = Arc::new(AtomicBool::new(true));
        let on = Arc::clone(&forwarding);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, Arc::clone(&on)));
                tokio::spawn(pump(sr, cw, Arc::clone(&on)));
            }
        });
        Self {
            port,
            forwarding,
            task,
        }
    }

    fn swallow(&self) {
        self.forwarding
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copies `from` to `to` while forwarding is on, and drops what it reads afterwards,
/// keeping both connections open.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    on: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                if on.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = to.shutdown().await;
                } else {
                    // A black hole sends no FIN either.
                    std::future::pending::<()>().await;
                }
                return;
            }
            Ok(n) if on.load(std::sync::atomic::Ordering::SeqCst) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
        }
    }
}

impl Drop for BlackHoleRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_silently_dead_redis_link_fails_closed() {
    if !backend().1 {
        // Runs in the Redis combinations of the backend matrix.
        return;
    }
    let env = TestEnv::new().await;
    let redis_url = env.redis_url.clone().unwrap();
    let upstream = redis_url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse::<std::net::SocketAddr>()
        .unwrap();
    let relay = BlackHoleRelay::start(upstream).await;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let relayed = format!("redis://127.0.0.1:{}", relay.port);
    let a = TestApp::builder()
        .on(Arc::clone(&env))
        .with_clock(Arc::clone(&clock))
        .with_config(move |c| {
            c.revocation.redis_url = relayed;
        })
        .spawn()
        .await;
    let b = TestApp::builder()
        .on(Arc::clone(&env))
        .with_clock(clock)
        .spawn()
        .await;
    let (_, pair) = a.signed_in_user().await;
    assert_eq!(a.dashboard_status(&pair.access_token).await, 200);

    relay.swallow();
    let r = b.logout(&pair.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let took = within(Duration::from_secs(5), async || {
        a.dashboard_status(&pair.access_token).await != StatusCode::OK
    })
    .await
    .expect("A kept accepting a token logged out on B");
    println!("A refused the token {took:?} after the logout on B");
    // From then on never a 200 again.
    for _ in 0..10 {
        let s = a.dashboard_status(&pair.access_token).await;
        assert!(matches!(s.as_u16(), 401 | 503), "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And A no longer vouches for its list once the link has stopped answering.
    within(Duration::from_secs(6), async || {
        a.get("/readyz", None).await.status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await
    .expect("readyz still says ok over a dead link");
}

// L1 (part) ---------------------------------------------------------------------------

/// An imported bcrypt hash is verified at its own cost on every login: a huge cost would
/// hold a hashing thread for hours per attempt, so the import refuses it.
#[tokio::test]
async fn imports_refuse_bcrypt_costs_that_would_stall_logins() {
    let app = TestApp::spawn().await;
    let cheap = bcrypt::hash("hunter2-secret", 4).unwrap();
    let huge = cheap.replacen("$2b$04$", "$2b$31$", 1);
    let (ok, slow) = (unique_name(), unique_name());
    let file = app.env.path().join("users.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            json!({"username": ok, "password_hash": cheap}),
            json!({"username": slow, "password_hash": huge})
        ),
    )
    .unwrap();
    let report = tessera::cli::import(&app.state.accounts, &file, &Default::default())
        .await
        .unwrap();
    assert_eq!(report.imported, 1);
    assert_eq!(report.rejected.len(), 1);
    assert!(
        report.rejected[0].1.contains("cost 31"),
        "{:?}",
        report.rejected
    );
    assert_eq!(app.login(&slow, "hunter2-secret").await.status(), 401);
}
