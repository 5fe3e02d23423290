//! Scale-out: two instances on one PostgreSQL + Redis, and Redis outages on a private
//! server this test starts and stops itself.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use reqwest::StatusCode;
use tessera_domain::Clock as _;

use crate::helpers::{
    PASSWORD, TestApp, TestAppBuilder, TestEnv, assert_problem, header_of, missing, two_instances,
    unique_name, within,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_users_tokens_revocations_and_keys() {
    let Some(env) = TestEnv::shared().await else {
        return;
    };
    let (a, b) = two_instances(&env).await;

    let name = unique_name();
    assert_eq!(
        a.register(&name, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let on_b = b.login_ok(&name, PASSWORD).await;
    assert_eq!(a.dashboard_status(&on_b.access_token).await, StatusCode::OK);

    // Logout on A is refused by B within a second.
    let r = a.logout(&on_b.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let delay = within(Duration::from_secs(1), async || {
        b.dashboard_status(&on_b.access_token).await == StatusCode::UNAUTHORIZED
    })
    .await
    .expect("B still accepts a token logged out on A after 1 s");
    println!("cross-instance revocation delay: {} ms", delay.as_millis());

    // Refresh on A, reuse of the old token on B: detected, the session dies everywhere.
    let pair = b.login_ok(&name, PASSWORD).await;
    let child = a
        .refresh(&pair.refresh_token)
        .await
        .json::<crate::helpers::TokenPair>()
        .await
        .unwrap();
    a.advance(TimeDelta::seconds(11));
    assert_problem(
        b.refresh(&pair.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
    )
    .await;
    assert_problem(
        a.refresh(&child.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
    )
    .await;

    // A key rotation performed by one is used by both.
    a.state.keys.rotate(a.clock.now(), true).await.unwrap();
    let (_, fresh) = a.signed_in_user().await;
    let new_kid = header_of(&fresh.access_token)["kid"].clone();
    assert_eq!(
        b.dashboard_status(&fresh.access_token).await,
        StatusCode::OK,
        "B learns the new kid"
    );
    b.tick_keys().await;
    let (_, from_b) = b.signed_in_user().await;
    assert_eq!(header_of(&from_b.access_token)["kid"], new_kid);
}

/// A redis-server of this test's own on a free port.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(5) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            port,
            child: Some(child),
        })
    }

    /// On a free port; `None` (after a notice, or a failure where backends are required)
    /// when no redis-server is at hand.
    pub fn start_anywhere() -> Option<Self> {
        let started = Self::start(crate::helpers::free_port());
        if started.is_none() {
            missing("redis-server binary");
        }
        started
    }

    /// A new server on this one's port, once it has stopped.
    pub fn start_again(&self) -> Self {
        Self::start(self.port).expect("redis restarts")
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// An app whose revocations and limits live on this server, under `prefix`.
    pub fn app(&self, prefix: &str) -> TestAppBuilder<'static> {
        TestApp::builder().on_private_redis(self.url(), prefix)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_closed_and_heals_without_a_restart() {
    let Some(mut redis) = PrivateRedis::start_anywhere() else {
        return;
    };
    let app = redis.app("outage").spawn().await;
    let (_, keep) = app.signed_in_user().await;
    let (_, gone) = app.signed_in_user().await;
    let r = app.logout(&gone.access_token).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    redis.stop();
    within(Duration::from_secs(5), async || {
        app.dashboard_status(&keep.access_token).await == StatusCode::SERVICE_UNAVAILABLE
    })
    .await
    .expect("requests are still let through with Redis down");
    let r = app.get("/v1/dashboard", Some(&keep.access_token)).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["revocation"],
        "unavailable"
    );
    let r = app.logout(&keep.access_token).await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a logout that cannot spread is not acknowledged"
    );

    let _redis = redis.start_again();
    let healed = within(Duration::from_secs(10), async || {
        app.dashboard_status(&keep.access_token).await == StatusCode::OK
    })
    .await;
    println!("recovered {healed:?} after Redis came back");
    assert!(
        healed.is_some(),
        "service did not resume after Redis came back"
    );
    assert_eq!(
        app.dashboard_status(&gone.access_token).await,
        StatusCode::UNAUTHORIZED,
        "an acknowledged logout was lost"
    );
    within(Duration::from_secs(5), async || {
        app.get("/readyz", None).await.status() == StatusCode::OK
    })
    .await
    .expect("readyz recovers");
}
