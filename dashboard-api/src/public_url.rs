//! The address customers reach this installation at, for links that leave
//! it: a page on the payment provider returning here, an invitation sent
//! by email.

use axum::http::{HeaderMap, header};
use control_plane::money::checkout::ReturnUrls;
use uuid::Uuid;

use crate::state::Config;

/// `Config::public_url` without a trailing slash; without one, the
/// request's `Host` (over HTTPS wherever cookies are marked `Secure`).
pub fn base(config: &Config, headers: &HeaderMap) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if config.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// Where Stripe Checkout sends the browser back to: the organization's
/// billing page, which completes the session it names.
pub fn checkout_return(config: &Config, headers: &HeaderMap, org_id: Uuid) -> ReturnUrls {
    billing_return(config, headers, org_id, "/checkout?session_id=")
}

/// Where the checkout of a credit purchase sends the browser back to: the
/// billing page, which says whether the payment is confirmed yet (only the
/// provider's webhook grants the credit).
pub fn credit_return(config: &Config, headers: &HeaderMap, org_id: Uuid) -> ReturnUrls {
    billing_return(config, headers, org_id, "?credit_checkout=")
}

fn billing_return(config: &Config, headers: &HeaderMap, org_id: Uuid, session: &str) -> ReturnUrls {
    let billing = format!("{}/orgs/{org_id}/billing", base(config, headers));
    ReturnUrls {
        success: format!("{billing}{session}{{CHECKOUT_SESSION_ID}}"),
        cancel: billing,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_host(host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        headers
    }

    #[test]
    fn the_configured_address_wins_over_the_requests_host() {
        let config = Config {
            public_url: Some("https://console.example.com/".to_owned()),
            ..Config::default()
        };
        assert_eq!(
            base(&config, &with_host("evil.example")),
            "https://console.example.com"
        );
    }

    #[test]
    fn without_one_the_host_is_used_over_https_when_cookies_are_secure() {
        let secure = Config::default();
        assert_eq!(base(&secure, &with_host("qm.test")), "https://qm.test");
        let plain = Config {
            secure_cookies: false,
            ..Config::default()
        };
        assert_eq!(
            base(&plain, &with_host("127.0.0.1:8080")),
            "http://127.0.0.1:8080"
        );
    }
}
