//! Invitations by email: queued with the invitation, sent through SMTP to a
//! loopback mail server, retried when the server is down, dropped once the
//! link has expired, and never kept after sending.

use chrono::{Duration, Utc};
use control_plane::mail::{self, SmtpMailer};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::forms::{Browser, invitation_link};
use crate::helpers::TestApp;
use crate::smtp_sink::SmtpSink;

const FROM: &str = "Quartermaster <noreply@qm.test>";
const DASHBOARD: &str = "https://console.qm.test";

/// `(processed, attempts, payload)` of each queued email, oldest first.
async fn queued(pool: &PgPool) -> Vec<(bool, i32, Value)> {
    sqlx::query_as(
        "SELECT processed_at IS NOT NULL, attempts, payload FROM outbox
         WHERE topic = 'email.send' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Invites `email` as billing; the link shown, which is also emailed.
async fn invite(ada: &mut Browser<'_>, home: &str, email: &str) -> String {
    let (status, page) = ada.invite(home, email, "billing").await;
    assert_eq!(status, 201, "{page}");
    assert!(page.contains(&format!("We are emailing this link to {email}")));
    invitation_link(&page)
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_invitation_is_emailed_once_the_mail_server_answers_and_is_not_kept_after(pool: PgPool) {
    let config = dashboard_api::Config {
        secure_cookies: false,
        public_url: Some(DASHBOARD.to_owned()),
        mail: true,
        ..Default::default()
    };
    let app = TestApp::spawn_configured(pool.clone(), config).await;
    let mut ada = Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    let link = invite(&mut ada, &home, "carol@example.com").await;
    assert!(
        link.starts_with(&format!("{DASHBOARD}/invitations/")),
        "{link}"
    );
    let now = Utc::now();

    // The mail server is down: nothing is lost, the message waits.
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("smtp://{}", down.local_addr().unwrap());
    drop(down);
    let unreachable = SmtpMailer::new(&nobody, FROM).unwrap();
    assert_eq!(mail::deliver(&pool, &unreachable, now).await.unwrap(), 0);
    let waiting = queued(&pool).await;
    assert_eq!(waiting.len(), 1);
    assert_eq!((waiting[0].0, waiting[0].1), (false, 1));
    assert_eq!(waiting[0].2["to"], "carol@example.com");

    // Once it answers (and the backoff has passed), the message goes once.
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&sink.url, FROM).unwrap();
    assert_eq!(
        mail::deliver(&pool, &mailer, now).await.unwrap(),
        0,
        "backing off"
    );
    let later = now + Duration::minutes(1);
    assert_eq!(mail::deliver(&pool, &mailer, later).await.unwrap(), 1);
    assert_eq!(mail::deliver(&pool, &mailer, later).await.unwrap(), 0);

    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].from, "<noreply@qm.test>");
    assert_eq!(received[0].to, ["<carol@example.com>"]);
    let data = &received[0].data;
    assert!(
        data.contains("Subject: Join ada's organization on Quartermaster\r\n"),
        "{data}"
    );
    assert!(data.contains(&format!("\r\n{link}\r\n")), "{data}");
    assert_eq!(
        queued(&pool).await,
        [(true, 2, json!({}))],
        "the link is wiped"
    );

    // The emailed link is the one that works.
    let path = link.trim_start_matches(DASHBOARD);
    let mut carol = Browser::signed_up(&app, "carol@example.com").await;
    let (status, _, page) = carol.get(path).await;
    assert_eq!(status, 200);
    assert!(page.contains("As billing, for carol@example.com"), "{page}");
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn an_invitation_whose_link_expired_before_the_server_answered_is_not_sent(pool: PgPool) {
    let config = dashboard_api::Config {
        secure_cookies: false,
        mail: true,
        ..Default::default()
    };
    let app = TestApp::spawn_configured(pool.clone(), config).await;
    let mut ada = Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    invite(&mut ada, &home, "dave@example.com").await;
    let sink = SmtpSink::start().await;
    let mailer = SmtpMailer::new(&sink.url, FROM).unwrap();

    let week_later = Utc::now() + control_plane::invitations::LIFETIME + Duration::minutes(1);
    assert_eq!(mail::deliver(&pool, &mailer, week_later).await.unwrap(), 0);

    assert!(sink.received().is_empty());
    assert_eq!(queued(&pool).await, [(true, 1, json!({}))]);
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn without_a_mail_server_the_invitation_is_only_shown_and_nothing_is_queued(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut ada = Browser::signed_up(&app, "ada@example.com").await;
    let (_, home, _) = ada.get("/").await;
    let (status, page) = ada.invite(&home, "erin@example.com", "member").await;

    assert_eq!(status, 201);
    assert!(page.contains("Send this link to erin@example.com"));
    assert!(queued(&pool).await.is_empty());
}
