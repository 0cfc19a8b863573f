//! What `/metrics` reports of HTTP requests: labelled by route template,
//! never by the path a request used.

use sqlx::PgPool;

use crate::helpers::{Auth, TestApp, assert_lines, exposition};

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn requests_are_counted_by_method_route_template_and_status_class(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let ada = app.signup("ada@example.com").await;
    let eve = app.signup("eve@example.com").await;
    app.get(&format!("/v1/organizations/{}", ada.org_id), &ada.session)
        .await
        .ok(200);
    app.get(&format!("/v1/organizations/{}", eve.org_id), &ada.session)
        .await
        .problem(404, "not-found");
    app.get("/no/such/page", &Auth::None)
        .await
        .problem(404, "not-found");

    let text = exposition(|registry| app.metrics.register(registry));
    let requests = "quartermaster_http_requests_total";
    let org = "/v1/organizations/{org_id}";
    assert_lines(
        &text,
        &[
            format!(r#"{requests}{{method="POST",route="/v1/signup",status="2xx"}} 2"#),
            format!(r#"{requests}{{method="GET",route="{org}",status="2xx"}} 1"#),
            format!(r#"{requests}{{method="GET",route="{org}",status="4xx"}} 1"#),
            format!(r#"{requests}{{method="GET",route="unmatched",status="4xx"}} 1"#),
            r#"quartermaster_http_request_duration_seconds_count{method="POST",route="/v1/signup",status="2xx"} 2"#.to_owned(),
        ],
    );
    for id in [ada.org_id, eve.org_id] {
        assert!(!text.contains(&id.to_string()), "{text}");
    }
    assert!(!text.contains("/no/such/page"), "{text}");
}
