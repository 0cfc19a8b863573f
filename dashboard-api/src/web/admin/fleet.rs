//! Clusters across data planes, searched and paged; the data planes'
//! health; and fleet upgrades, wave by wave.

use axum::extract::{Query, State};
use axum::response::Response;
use control_plane::admin::query::{self, Cursor, Search};
use control_plane::admin::{self, FleetQuery};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{console_page, given, pager, parsed};
use crate::state::AppState;
use crate::unit::Unit;
use crate::web::common::next_link;
use crate::web::common::phase;
use crate::web::{Admin, CsrfForm, PageError};

#[derive(Debug, Default, Deserialize)]
pub struct ClusterFilters {
    q: Option<String>,
    data_plane: Option<String>,
    phase: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

impl ClusterFilters {
    fn query(&self) -> Result<FleetQuery, PageError> {
        let after = match parsed::<Cursor>("after", &self.after)? {
            None => None,
            Some(Cursor::Id(id)) => Some(id),
            Some(_) => {
                return Err(PageError::refused(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "Not a search this console understands",
                    "after: is not a cursor for this list",
                ));
            }
        };
        Ok(FleetQuery {
            search: given(&self.q).and_then(Search::parse),
            data_plane: parsed::<Uuid>("data_plane", &self.data_plane)?,
            phase: given(&self.phase).map(str::to_owned),
            after,
            limit: query::limit(parsed("limit", &self.limit)?)?,
        })
    }
}

pub async fn clusters(
    State(state): State<AppState>,
    Admin { session, admin }: Admin,
    Query(filters): Query<ClusterFilters>,
) -> Result<Response, PageError> {
    let query = filters.query()?;
    let mut conn = state.db.acquire().await?;
    let listing = admin::fleet(&mut conn, &admin, &query).await?;
    let planes = admin::data_planes(&mut conn, &admin).await?;
    let pairs = [
        ("q", given(&filters.q)),
        ("data_plane", given(&filters.data_plane)),
        ("phase", given(&filters.phase)),
        ("limit", given(&filters.limit)),
    ];
    let next = listing
        .next
        .map(|c| next_link("/admin/clusters", &pairs, "after", &c.to_string()));
    let body = html! {
        h1 { "Clusters" }
        form class="filters" method="get" action="/admin/clusters" role="search" {
            label { "Search" input type="search" name="q" value=(given(&filters.q).unwrap_or(""))
                placeholder="cluster name, cluster or organization id"; }
            label { "Data plane" select name="data_plane" {
                option value="" { "Any" }
                @for plane in &planes {
                    @let id = plane.id.to_string();
                    option value=(id) selected[given(&filters.data_plane) == Some(id.as_str())] { (plane.region) " (" (plane.name) ")" }
                }
            } }
            label { "Phase" select name="phase" {
                option value="" { "Any" }
                @for p in admin::phases() { option value=(p) selected[given(&filters.phase) == Some(p)] { (p) } }
            } }
            button type="submit" { "Search" }
        }
        (pager(listing.rows.len(), listing.total, "clusters", "/admin/clusters", next))
        table {
            thead { tr { th { "Region" } th { "Organization" } th { "Cluster" } th { "Phase" } th { "Version" } th class="num" { "Nodes" } } }
            tbody {
                @for c in &listing.rows {
                    tr {
                        td { (c.region) }
                        td { a href={ "/admin/orgs/" (c.organization_id) } { (c.organization) } }
                        td { (c.name) br; small { code { (c.id) } } }
                        td { (phase(&c.phase)) }
                        @let wanted = c.spec.version.to_string();
                        td { (c.current_version.as_deref().unwrap_or("—")) @if c.current_version.as_deref() != Some(wanted.as_str()) { " → " (wanted) } }
                        td class="num" { (c.ready_nodes) " / " (c.spec.nodes) }
                    }
                }
            }
        }
        h2 { "Data planes" }
        table {
            thead { tr { th { "Region" } th { "Name" } th { "Kind" } th class="num" { "Clusters" } th { "Last heard" } th { "Backups" } } }
            tbody {
                @for p in &planes {
                    tr {
                        td { (p.region) } td { (p.name) } td { (p.kind) } td class="num" { (p.clusters) }
                        td { (p.last_synced_at.map_or("never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())) }
                        td { @if p.backups { "yes" } @else { "no bucket" } }
                    }
                }
            }
        }
        h2 { "Fleet upgrade" }
        p { "Moves the next wave of Ready clusters to a new Qdrant version; the next wave starts only once every cluster of the last one is Ready again." }
        form class="stack" method="post" action="/admin/fleet-upgrade" {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "From version" input name="from" required placeholder="1.13.6"; }
            label { "To version" input name="to" required placeholder="1.14.0"; }
            label { "Clusters per wave" input type="number" name="size" min="1" max="100" value="5" required; }
            button type="submit" { "Start the next wave" }
        }
    };
    Ok(console_page(&session, "Clusters", body))
}

#[derive(Debug, Deserialize)]
pub struct FleetForm {
    from: String,
    to: String,
    size: i64,
}

pub async fn fleet_upgrade(
    State(state): State<AppState>,
    Admin { session, admin }: Admin,
    CsrfForm(form): CsrfForm<FleetForm>,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    let wave = admin::upgrade_wave(unit.conn(), &admin, &form.from, &form.to, form.size).await?;
    unit.commit().await?;
    let body = html! {
        h1 { "Fleet upgrade to " (form.to.trim()) }
        @if wave.in_flight > 0 {
            p class="notice" role="status" { (wave.in_flight) " cluster(s) of the last wave are not Ready yet: no new wave was started." }
        } @else {
            p role="status" { "Started on " (wave.started.len()) " cluster(s): " (wave.started.join(", ")) "." }
        }
        p { (wave.remaining) " cluster(s) remain on " (form.from.trim()) "." }
        p { a href="/admin/clusters" { "Back to the clusters" } }
    };
    Ok(console_page(&session, "Fleet upgrade", body))
}
