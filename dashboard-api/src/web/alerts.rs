//! Usage and spend alerts on the Usage page: those set, each with its
//! budget in the unit people use (dollars, GiB, hours), and a form to set
//! one, for those who may change billing.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use control_plane::access::{OrgAccess, Permission};
use control_plane::alerts::{self, Metric, NewAlert, UsageAlert};
use control_plane::validation::ValidationErrors;
use maud::{Markup, html};
use metering::Meter;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{CsrfForm, OrgPage, PageError};
use crate::state::AppState;
use crate::unit::Unit;

/// What an alert can watch, in the order the form offers it.
fn metrics() -> impl Iterator<Item = Metric> {
    std::iter::once(Metric::Spend).chain(Meter::ALL.into_iter().map(Metric::Meter))
}

/// The section of the Usage page (whose readers may read alerts).
pub(super) async fn section(
    conn: &mut PgConnection,
    access: &OrgAccess,
    csrf: &str,
    currency: &str,
) -> Result<Markup, PageError> {
    let set = alerts::list(conn, access).await?;
    let org_id = access.organization_id();
    let can_change = access.allows(Permission::BillingWrite);
    let budget = |a: &UsageAlert| {
        a.metric
            .parse::<Metric>()
            .map(|m| alerts::shown(m, a.budget, currency))
            .unwrap_or_else(|_| a.budget.to_string())
    };
    Ok(html! {
        h2 { "Alerts" }
        p {
            "Each percentage of a budget is emailed to owners and billing members once a period, "
            "and sent to webhooks as " code { "usage.threshold_crossed" } ". "
            "Everyone is also told at 80 % and 100 % of the free tier's storage cap and of a spend limit."
        }
        @if !set.is_empty() {
            table {
                thead { tr { th { "On" } th { "Budget" } th { "At" } th { "" } } }
                tbody {
                    @for a in &set {
                        tr {
                            td { code { (a.metric) } }
                            td { (budget(a)) }
                            td { (a.percents.iter().map(|p| format!("{p} %")).collect::<Vec<_>>().join(", ")) }
                            td {
                                @if can_change {
                                    form method="post" action={ "/orgs/" (org_id) "/usage/alerts/" (a.id) "/delete" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if can_change {
            form class="stack" method="post" action={ "/orgs/" (org_id) "/usage/alerts" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "On"
                    select name="metric" {
                        @for m in metrics() {
                            option value=(m.as_str()) { (m.as_str()) " (" (m.shown_unit(currency).1) ")" }
                        }
                    }
                }
                label { "Budget" input name="budget" inputmode="decimal" required placeholder="500"; }
                label { "At (percentages)" input name="percents" value="50, 80, 100"; }
                button type="submit" { "Set alert" }
            }
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct AlertForm {
    metric: String,
    budget: String,
    percents: String,
}

/// The form's budget, in the metric's shown unit, as the stored unit.
fn budget_of(metric: &str, text: &str, currency: &str) -> Result<i64, PageError> {
    let refused = || {
        PageError::from(control_plane::Error::Validation(ValidationErrors::single(
            "budget",
            "must be a positive number",
        )))
    };
    let amount: Decimal = text.trim().parse().map_err(|_| refused())?;
    // An unknown metric is named by the alert's own check.
    let per = metric
        .parse::<Metric>()
        .map_or(Decimal::ONE, |m| m.shown_unit(currency).0);
    (amount * per).round().to_i64().ok_or_else(refused)
}

fn percents_of(text: &str) -> Result<Vec<i64>, PageError> {
    text.split(',')
        .map(|p| p.trim().trim_end_matches('%').trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            control_plane::Error::Validation(ValidationErrors::single(
                "percents",
                "must be whole numbers separated by commas",
            ))
            .into()
        })
}

pub async fn create(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<AlertForm>,
) -> Result<Response, PageError> {
    let currency = state.catalog.get().catalog.currency.clone();
    let budget = budget_of(&form.metric, &form.budget, &currency)?;
    let percents = percents_of(&form.percents)?;
    let new = NewAlert::parse(&form.metric, budget, Some(&percents))?;
    let mut unit = Unit::begin(&state).await?;
    alerts::create(unit.conn(), &access, new).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/usage")).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, alert_id)): Path<(Uuid, Uuid)>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    alerts::delete(unit.conn(), &access, alert_id).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/usage")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_read_in_the_unit_shown() {
        assert_eq!(budget_of("spend", "500", "usd").unwrap(), 50_000);
        assert_eq!(budget_of("spend", "12.34", "usd").unwrap(), 1234);
        assert_eq!(budget_of("storage_bytes", "1.5", "usd").unwrap(), 3 << 29);
        assert_eq!(budget_of("gpu_seconds", "2", "usd").unwrap(), 7200);
        assert_eq!(budget_of("input_tokens", "1000", "usd").unwrap(), 1000);
        assert!(budget_of("spend", "ten", "usd").is_err());
        assert_eq!(percents_of("50, 80 %,100").unwrap(), [50, 80, 100]);
        assert!(percents_of("50, lots").is_err());
    }
}
