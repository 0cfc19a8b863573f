//! Upgrading through Stripe Checkout and buying prepaid credit
//! (localstripe behind the Checkout stand-in).

use std::sync::Arc;

use billing::payments::stripe::StripeProvider;
use chrono::Utc;
use fantoccini::Locator;
use sqlx::PgPool;

use crate::checkout_page::CheckoutPage;
use crate::helpers::{PASSWORD, TestApp};
use crate::localstripe::{GOOD_CARD, LocalStripe, SECRET_KEY};
use crate::{Driver, arrive, fill, screenshot, submit, text};

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_free_customer_upgrades_to_starter_by_saving_a_card_on_the_checkout_page(pool: PgPool) {
    let stripe = LocalStripe::start().await;
    let checkout = CheckoutPage::start(&stripe).await;
    let provider = Arc::new(StripeProvider::new(SECRET_KEY, Some(&checkout.api_base())).unwrap());
    let payments = dashboard_api::Payments {
        provider: provider.clone(),
        webhook_secret: "whsec_browser_test".to_owned(),
        publishable_key: None,
    };
    let app = TestApp::spawn_with(pool.clone(), Some(payments)).await;
    let driver = Driver::start().await;
    let ada = driver.browser("ada").await;

    ada.goto(&format!("{}/signup", app.base)).await.unwrap();
    fill(&ada, "input[name=email]", "ada@example.com").await;
    fill(&ada, "input[name=password]", PASSWORD).await;
    submit(&ada, "form button[type=submit]").await;
    let overview = arrive(&ada, "/orgs/").await;
    // The outbox worker's pass: the organization's Stripe customer.
    control_plane::money::payments::create_customers(&pool, provider.as_ref(), Utc::now())
        .await
        .unwrap();

    ada.goto(&format!("{overview}/billing")).await.unwrap();
    assert!(
        text(&ada)
            .await
            .contains("you will save one on Stripe's secure page")
    );
    ada.find(Locator::Css("select[name=plan]"))
        .await
        .unwrap()
        .select_by_value("starter")
        .await
        .unwrap();
    submit(&ada, "form[action$='/billing/plan'] button").await;
    arrive(&ada, "/pay/cs_test_").await;
    screenshot(&ada, "checkout").await;
    fill(&ada, "input[name=card]", GOOD_CARD).await;
    submit(&ada, "form button[type=submit]").await;

    arrive(&ada, "/billing?checkout=done").await;
    let page = text(&ada).await;
    assert!(
        page.contains("Card saved. You are on the starter plan."),
        "{page}"
    );
    assert!(
        page.contains("Plan: starter") && page.contains("card on file"),
        "{page}"
    );
    screenshot(&ada, "billing-upgraded").await;
    assert_eq!(checkout.sessions().len(), 1, "one page opened");

    // Buying $25 of credit: paid on the checkout page, granted only once
    // Stripe's webhook confirms it.
    fill(
        &ada,
        "form[action$='/billing/credit'] input[name=amount]",
        "25",
    )
    .await;
    submit(&ada, "form[action$='/billing/credit'] button").await;
    arrive(&ada, "/pay/cs_test_2").await;
    fill(&ada, "input[name=card]", GOOD_CARD).await;
    submit(&ada, "form button[type=submit]").await;
    arrive(&ada, "/billing?credit_checkout=cs_test_2").await;
    let page = text(&ada).await;
    assert!(page.contains("Payment of $25.00 received."), "{page}");
    assert!(page.contains("Balance: $0.00"), "{page}");
    checkout
        .deliver_completed(
            "cs_test_2",
            &format!("{}/v1/webhooks/stripe", app.base),
            "whsec_browser_test",
        )
        .await;
    ada.refresh().await.unwrap();
    ada.wait()
        .for_element(Locator::Css("[data-credit-balance]"))
        .await
        .unwrap();
    let page = text(&ada).await;
    assert!(
        page.contains("Payment confirmed: $25.00 of credit added.")
            && page.contains("Balance: $25.00"),
        "{page}"
    );
    screenshot(&ada, "billing-credit").await;
    ada.close().await.unwrap();
}
