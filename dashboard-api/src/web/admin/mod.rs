//! The admin console, for the people who run the service: organizations
//! searched, filtered, sorted and paged (a page is 25 of however many);
//! each organization on a page of its own with the actions; the clusters
//! across data planes and the audit log, each searched and paged the same
//! way. Platform administrators only.

mod audit;
mod data_planes;
mod fleet;
mod organization;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use billing::money;
use control_plane::admin::query::{self, Cursor, Search, Sort, Standing};
use control_plane::admin::{self, OrganizationQuery};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

pub use audit::audit_log;
pub use data_planes::{data_planes, revoke_data_plane};
pub use fleet::{clusters, fleet_upgrade};
pub use organization::{change_plan, correct_usage, grant_credit, organization, resume, suspend};

use super::common::next_link;
use super::layout::page;
use super::{Admin, PageError, Session, render};
use crate::state::AppState;

/// A console page: the console's own links above `body`.
fn console_page(session: &Session, title: &str, body: Markup) -> Response {
    let body = html! {
        nav class="tabs" aria-label="Admin console" {
            a href="/admin" { "Organizations" }
            a href="/admin/clusters" { "Clusters" }
            a href="/admin/audit" { "Audit log" }
            a href="/admin/data-planes" { "Data planes" }
        }
        (body)
    };
    render(
        StatusCode::OK,
        page(title, Some(&session.viewer(None, Vec::new())), None, body),
    )
}

/// The box that confirms an action, required by the browser and checked
/// again by the server.
fn confirm_box(text: Markup) -> Markup {
    html! { label { input type="checkbox" name="confirm" value="yes" required; " " (text) } }
}

/// A query-string value, a blank one (an untouched form field) as none.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Parses a query-string value, naming the field when it does not parse.
fn parsed<T: std::str::FromStr>(field: &str, value: &Option<String>) -> Result<Option<T>, PageError>
where
    T::Err: std::fmt::Display,
{
    given(value)
        .map(|v| {
            v.parse().map_err(|e: T::Err| {
                PageError::refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Not a search this console understands",
                    format!("{field}: {e}"),
                )
            })
        })
        .transpose()
}

/// "25 of 100,000 organizations", and the links to the first and next page.
fn pager(shown: usize, total: i64, noun: &str, first: &str, next: Option<String>) -> Markup {
    html! {
        nav class="pager" aria-label="Pages" {
            p role="status" { (shown) " shown of " (thousands(total)) " " (noun) }
            a href=(first) { "First page" }
            @if let Some(next) = next { " · " a href=(next) rel="next" { "Next page" } }
        }
    }
}

/// 100000 as "100,000".
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[derive(Debug, Default, Deserialize)]
pub struct OrganizationFilters {
    q: Option<String>,
    plan: Option<String>,
    standing: Option<String>,
    data_plane: Option<String>,
    sort: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

impl OrganizationFilters {
    fn query(&self) -> Result<OrganizationQuery, PageError> {
        Ok(OrganizationQuery {
            search: given(&self.q).and_then(Search::parse),
            plan: given(&self.plan).map(str::to_owned),
            standing: parsed::<Standing>("standing", &self.standing)?,
            data_plane: parsed::<Uuid>("data_plane", &self.data_plane)?,
            sort: parsed::<Sort>("sort", &self.sort)?.unwrap_or_default(),
            after: parsed::<Cursor>("after", &self.after)?,
            limit: query::limit(parsed("limit", &self.limit)?)?,
        })
    }

    /// The query string of this search, without its cursor.
    fn pairs(&self) -> [(&'static str, Option<&str>); 6] {
        [
            ("q", given(&self.q)),
            ("plan", given(&self.plan)),
            ("standing", given(&self.standing)),
            ("data_plane", given(&self.data_plane)),
            ("sort", given(&self.sort)),
            ("limit", given(&self.limit)),
        ]
    }
}

/// The organizations, 25 to a page.
pub async fn console(
    State(state): State<AppState>,
    Admin { session, admin }: Admin,
    Query(filters): Query<OrganizationFilters>,
) -> Result<Response, PageError> {
    let query = filters.query()?;
    let mut conn = state.db.acquire().await?;
    let now = chrono::Utc::now();
    let listing = admin::organizations(&mut conn, &admin, &query, now).await?;
    let planes = admin::data_planes(&mut conn, &admin).await?;
    let published = state.catalog.get();
    let currency = &published.catalog.currency;
    let selected = |value: &str, field: &Option<String>| given(field) == Some(value);
    let next = listing
        .next
        .map(|c| next_link("/admin", &filters.pairs(), "after", &c.to_string()));
    let body = html! {
        h1 { "Organizations" }
        form class="filters" method="get" action="/admin" role="search" {
            label { "Search" input type="search" name="q" value=(given(&filters.q).unwrap_or(""))
                placeholder="name, member email, id or cus_…"; }
            label { "Plan" select name="plan" {
                option value="" { "Any" }
                @for plan in &published.catalog.plans {
                    option value=(plan.id) selected[selected(plan.id.as_str(), &filters.plan)] { (plan.name) }
                }
            } }
            label { "Standing" select name="standing" {
                option value="" { "Any" }
                @for standing in Standing::ALL {
                    option value=(standing.as_str()) selected[selected(standing.as_str(), &filters.standing)] { (standing.as_str()) }
                }
            } }
            label { "Data plane" select name="data_plane" {
                option value="" { "Any" }
                @for plane in &planes {
                    @let id = plane.id.to_string();
                    option value=(id) selected[selected(&id, &filters.data_plane)] { (plane.region) " (" (plane.name) ")" }
                }
            } }
            label { "Sort" select name="sort" {
                @for sort in Sort::ALL {
                    option value=(sort.as_str()) selected[selected(sort.as_str(), &filters.sort)] { (sort.label()) }
                }
            } }
            button type="submit" { "Search" }
        }
        (pager(listing.rows.len(), listing.total, "organizations", "/admin", next))
        table {
            thead { tr { th { "Name" } th { "Plan" } th { "Standing" } th class="num" { "Clusters" }
                th class="num" { "Node-h / GPU-h this month" } th class="num" { "Unpaid" } th class="num" { "Credit" } th { "Created" } } }
            tbody {
                @for org in &listing.rows {
                    tr {
                        td { a href={ "/admin/orgs/" (org.id) } { (org.name) } br; small { code { (org.id) } } }
                        td { (org.plan) }
                        td { (org.standing().as_str()) @if let Some(r) = &org.suspended_reason { br; small { (r) } } }
                        td class="num" { (org.clusters) }
                        td class="num" { (org.node_hours) " / " (org.gpu_hours) }
                        td class="num" { (money::format(org.open_invoices_minor, currency)) }
                        td class="num" { (money::format(org.credit_balance_minor, currency)) }
                        td { (org.created_at.format("%Y-%m-%d")) }
                    }
                }
            }
        }
        @if listing.rows.is_empty() { p { "No organization matches." } }
    };
    Ok(console_page(&session, "Admin", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_with_thousands_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_next_link_keeps_the_search_and_drops_blanks() {
        let link = next_link(
            "/admin",
            &[
                ("q", Some("acme & co")),
                ("plan", None),
                ("sort", Some("unpaid")),
            ],
            "after",
            "r.1500.abc",
        );
        assert_eq!(link, "/admin?q=acme+%26+co&sort=unpaid&after=r.1500.abc");
    }
}
