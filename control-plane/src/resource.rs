//! The one store of vector clusters and inference endpoints: resources of an
//! organization with a desired spec. Each kind has its table; in both the
//! spec is one `spec jsonb` value (the custom resource's own `spec`), rows
//! are read and changed only within their organization, a change of spec
//! goes through [`change_spec`] alone (lock, edit, nothing if unchanged,
//! a new generation, audited once), and a deletion is asked for first and
//! completed once the data plane confirms it.
//!
//! Labels are not spec: they change through [`change_requested`] too, but
//! with no new generation, and each change is recorded in metering's label
//! history in the same transaction ([`set_labels`]).
//!
//! What stays per kind: parsing requests, entitlements, the answer's shape,
//! and the few parts of the applied spec that are not the customer's to ask
//! for (`suspend` follows `suspended_by`, a backup's destination is the
//! region's); see `migrations/…_resource_spec.sql`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use metering::labels::Since;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, Row as _};
use uuid::Uuid;

use crate::access::{OrgAccess, Permission};
use crate::error::on_unique;
use crate::labels::Labels;
use crate::page::{Page, PageRequest};
use crate::validation::ValidationErrors;
use crate::webhooks::EventType;
use crate::{Conflict, Error, Result, audit};

/// A kind of resource; each has its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cluster,
    Endpoint,
}

impl Kind {
    /// A table name from this closed set, never from input.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Kind::Cluster => "vector_clusters",
            Kind::Endpoint => "inference_endpoints",
        }
    }

    /// What a "not found" names.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Cluster => "cluster",
            Kind::Endpoint => "endpoint",
        }
    }

    /// The target type of its audit rows.
    pub(crate) fn target_type(self) -> &'static str {
        match self {
            Kind::Cluster => "vector_cluster",
            Kind::Endpoint => "inference_endpoint",
        }
    }

    /// An audit action on this kind: `cluster.create`, `endpoint.deleted`.
    pub(crate) fn action(self, verb: &str) -> String {
        format!("{}.{verb}", self.noun())
    }

    /// Phases in which the resource runs as asked; a change that rolls it
    /// shows `Updating` from one of these.
    pub(crate) fn settled(self) -> &'static [&'static str] {
        match self {
            Kind::Cluster => &["Ready"],
            Kind::Endpoint => &["Ready", "ScaledToZero"],
        }
    }

    /// The events a move from phase `before` to `after` raises, in order:
    /// leaving `Suspended` is a resume; reaching `Ready` from an unsettled
    /// phase, `Degraded` or `Suspended` is told as such.
    pub(crate) fn phase_events(self, before: &str, after: &str) -> Vec<EventType> {
        use EventType as E;
        let mut events = Vec::new();
        if before == after {
            return events;
        }
        let (ready, degraded, suspended, resumed) = match self {
            Kind::Cluster => (
                E::ClusterReady,
                E::ClusterDegraded,
                E::ClusterSuspended,
                E::ClusterResumed,
            ),
            Kind::Endpoint => (
                E::EndpointReady,
                E::EndpointDegraded,
                E::EndpointSuspended,
                E::EndpointResumed,
            ),
        };
        if before == "Suspended" && after != "Deleting" {
            events.push(resumed);
        }
        match after {
            "Ready" if !self.settled().contains(&before) => events.push(ready),
            "Degraded" => events.push(degraded),
            "Suspended" => events.push(suspended),
            _ => {}
        }
        events
    }

    /// The event of this kind's removal.
    pub(crate) fn deleted_event(self) -> EventType {
        match self {
            Kind::Cluster => EventType::ClusterDeleted,
            Kind::Endpoint => EventType::EndpointDeleted,
        }
    }

    /// What reading and what changing this kind takes.
    fn permissions(self) -> (Permission, Permission) {
        match self {
            Kind::Cluster => (Permission::ClustersRead, Permission::ClustersWrite),
            Kind::Endpoint => (Permission::EndpointsRead, Permission::EndpointsWrite),
        }
    }

    fn deleting(self) -> Conflict {
        match self {
            Kind::Cluster => Conflict::ClusterDeleting,
            Kind::Endpoint => Conflict::EndpointDeleting,
        }
    }

    fn name_taken(self, name: &str) -> Conflict {
        match self {
            Kind::Cluster => Conflict::ClusterNameTaken(name.to_owned()),
            Kind::Endpoint => Conflict::EndpointNameTaken(name.to_owned()),
        }
    }
}

/// A resource kind as the store reads it: a row of its table joined to its
/// data plane, with the desired spec in it.
pub(crate) trait Managed: for<'r> FromRow<'r, PgRow> + Send + Unpin {
    const KIND: Kind;
    /// Its own columns over `r` (the resource) and `d` (its data plane),
    /// after those of [`SHARED_COLUMNS`].
    const COLUMNS: &'static str;
    type Spec: Serialize + DeserializeOwned + PartialEq + Clone + Send + Sync + Unpin + 'static;

    fn id(&self) -> Uuid;
    fn spec(&self) -> &Self::Spec;
    fn labels(&self) -> &BTreeMap<String, String>;
    fn deletion_requested_at(&self) -> Option<DateTime<Utc>>;

    /// Whether running `to` instead of `from` restarts or reshapes what
    /// runs, so that the resource shows `Updating` until the data plane has
    /// it; a change of schedule or window alone does not.
    fn rolls(from: &Self::Spec, to: &Self::Spec) -> bool;
}

/// The columns every kind has, read in this order before its own; the
/// spec with `suspend` as the money flow has it.
pub(crate) const SHARED_COLUMNS: &str = "r.id, r.name, d.region,
    d.kind = 'simulated' AS simulated,
    r.spec || jsonb_build_object('suspend', r.suspended_by IS NOT NULL) AS spec,
    r.generation, r.phase, r.observed_generation, r.endpoint, r.conditions, r.created_at,
    r.updated_at, r.deletion_requested_at, r.suspended_reason, r.labels";

/// The statement that reads `M`, to which callers add `WHERE` on `r`.
pub(crate) fn select<M: Managed>(extra_columns: &str) -> String {
    format!(
        "SELECT {SHARED_COLUMNS}, {}{extra_columns}
         FROM {} r JOIN data_planes d ON d.id = r.data_plane_id",
        M::COLUMNS,
        M::KIND.table()
    )
}

/// `spec` as the column holds it; `suspend` is the money flow's, not stored.
fn stored<S: Serialize>(spec: &S) -> Result<serde_json::Value> {
    let mut value =
        serde_json::to_value(spec).map_err(|e| Error::Database(sqlx::Error::Encode(e.into())))?;
    if let Some(object) = value.as_object_mut() {
        object.remove("suspend");
    }
    Ok(value)
}

/// Who makes a change, and in which organization: the caller's access, or
/// the service's operator acting on a tenant's resource.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Editor<'a> {
    pub organization_id: Uuid,
    pub actor: &'a str,
}

/// Stores a new resource of the caller's organization in `data_plane`,
/// audited with its spec; a name already taken is a conflict. Its labels
/// hold from its creation on, and so does its data plane's price list:
/// its usage is rated by it.
pub(crate) async fn create<M: Managed>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    data_plane: Uuid,
    name: &str,
    spec: &M::Spec,
    labels: &Labels,
) -> Result<Uuid> {
    let kind = M::KIND;
    let table = kind.table();
    let id = Uuid::now_v7();
    let value = stored(spec)?;
    // With the price list of its data plane (a customer-run one's).
    let price_list: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "INSERT INTO {table} (id, organization_id, data_plane_id, name, spec, labels)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING (SELECT price_list FROM data_planes WHERE id = $3)"
    )))
    .bind(id)
    .bind(access.organization_id())
    .bind(data_plane)
    .bind(name)
    .bind(&value)
    .bind(Json(labels))
    .fetch_one(&mut *conn)
    .await
    .map_err(on_unique(
        &format!("{table}_organization_name_key"),
        kind.name_taken(name),
    ))?;
    audit(conn, access, kind, "create", id, Some(value)).await?;
    if let Some(price_list) = price_list {
        metering::price_lists::assign(conn, access.organization_id(), id, &price_list).await?;
    }
    if !labels.as_map().is_empty() {
        metering::labels::record(
            conn,
            access.organization_id(),
            id,
            labels.as_map(),
            Since::Creation,
        )
        .await?;
    }
    Ok(id)
}

/// One resource of the caller's organization.
pub(crate) async fn get<M: Managed>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
) -> Result<M> {
    access.require(M::KIND.permissions().0)?;
    scoped(conn, access.organization_id(), id, "").await
}

/// A page of the caller's organization's resources, oldest first.
pub(crate) async fn list<M: Managed>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    page: PageRequest,
) -> Result<Page<M>> {
    access.require(M::KIND.permissions().0)?;
    let sql = format!(
        "{} WHERE r.organization_id = $1 AND r.id > $2 ORDER BY r.id LIMIT $3",
        select::<M>("")
    );
    page.of_organization(conn, AssertSqlSafe(sql), access.organization_id())
        .await
}

/// The specs of an organization's resources not being deleted: what it
/// holds, for a change of plan.
pub(crate) async fn held<M: Managed>(
    conn: &mut PgConnection,
    organization_id: Uuid,
) -> Result<Vec<M::Spec>> {
    let specs: Vec<Json<M::Spec>> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT spec FROM {} WHERE organization_id = $1 AND deletion_requested_at IS NULL
         ORDER BY id",
        M::KIND.table()
    )))
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(specs.into_iter().map(|s| s.0).collect())
}

/// Changes a resource as a request asks: `apply` makes the next spec from
/// the current one or names every field at fault, and `admit` checks a spec
/// that differs against the plan. `labels`, when given, replace the
/// resource's labels from `now` on (checked with the spec's fields, so one
/// answer names every field at fault).
pub(crate) async fn change_requested<M: Managed>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
    labels: Option<&BTreeMap<String, String>>,
    now: DateTime<Utc>,
    apply: impl FnOnce(&M::Spec, &mut ValidationErrors) -> Option<M::Spec>,
    admit: impl FnOnce(&M::Spec) -> Result<()>,
) -> Result<M> {
    let mut parsed = None;
    let changed = change_spec(conn, access, id, "update", |current: &M| {
        let mut errors = ValidationErrors::default();
        let next = apply(current.spec(), &mut errors);
        parsed = labels.and_then(|raw| Labels::parse(raw, &mut errors));
        let next = errors.finish(next)?;
        if &next != current.spec() {
            admit(&next)?;
        }
        Ok(next)
    })
    .await?;
    match parsed {
        Some(labels) => set_labels(conn, access, &changed, &labels, now).await,
        None => Ok(changed),
    }
}

/// Replaces the labels of `current` (locked by the caller) with `labels`
/// from `now` on: no new generation, nothing for the data plane; audited,
/// and recorded in metering's label history in the caller's transaction.
async fn set_labels<M: Managed>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    current: &M,
    labels: &Labels,
    now: DateTime<Utc>,
) -> Result<M> {
    let kind = M::KIND;
    let id = current.id();
    if current.labels() == labels.as_map() {
        return scoped(conn, access.organization_id(), id, "").await;
    }
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {} SET labels = $3, updated_at = now() WHERE organization_id = $1 AND id = $2",
        kind.table()
    )))
    .bind(access.organization_id())
    .bind(id)
    .bind(Json(labels))
    .execute(&mut *conn)
    .await?;
    let details = serde_json::json!({ "from": current.labels(), "to": labels });
    audit(conn, access, kind, "labels", id, Some(details)).await?;
    metering::labels::record(
        conn,
        access.organization_id(),
        id,
        labels.as_map(),
        Since::At(now),
    )
    .await?;
    scoped(conn, access.organization_id(), id, "").await
}

/// Changes the desired spec of a resource of the caller's organization to
/// what `edit` makes of it; see [`change_spec_by`].
pub(crate) async fn change_spec<M: Managed>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
    verb: &str,
    edit: impl FnOnce(&M) -> Result<M::Spec>,
) -> Result<M> {
    let actor = access.principal().actor();
    let editor = Editor {
        organization_id: access.organization_id(),
        actor: &actor,
    };
    change_spec_by(conn, editor, id, verb, edit).await
}

/// Changes a resource's desired spec: locks its row (refused while it is
/// being deleted), lets `edit` make the new spec from the row (or refuse),
/// and, only if the spec differs, stores it with a new generation and
/// audits `verb` once with both specs. A change that changes nothing keeps
/// the generation, so a retried or repeated request is harmless.
pub(crate) async fn change_spec_by<M: Managed>(
    conn: &mut PgConnection,
    editor: Editor<'_>,
    id: Uuid,
    verb: &str,
    edit: impl FnOnce(&M) -> Result<M::Spec>,
) -> Result<M> {
    let current: M = scoped(conn, editor.organization_id, id, " FOR UPDATE OF r").await?;
    refuse_deleting(&current)?;
    let next = edit(&current)?;
    if &next == current.spec() {
        return Ok(current);
    }
    let kind = M::KIND;
    let to = stored(&next)?;
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {} SET spec = $3, generation = generation + 1, updated_at = now(),
             phase = CASE WHEN $4 AND phase = ANY($5) THEN 'Updating' ELSE phase END
         WHERE organization_id = $1 AND id = $2",
        kind.table()
    )))
    .bind(editor.organization_id)
    .bind(id)
    .bind(&to)
    .bind(M::rolls(current.spec(), &next))
    .bind(kind.settled())
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        Some(editor.organization_id),
        editor.actor,
        &kind.action(verb),
        kind.target_type(),
        &id.to_string(),
        serde_json::json!({ "from": stored(current.spec())?, "to": to }),
    )
    .await?;
    scoped(conn, editor.organization_id, id, "").await
}

/// The name and region of each of `ids` that is a cluster or endpoint of
/// the organization now (one statement); a resource deleted since is
/// absent.
pub(crate) async fn described(
    conn: &mut PgConnection,
    organization_id: Uuid,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, billing::focus::Resource>> {
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT r.id, r.name, d.region FROM vector_clusters r
         JOIN data_planes d ON d.id = r.data_plane_id
         WHERE r.organization_id = $1 AND r.id = ANY($2)
         UNION ALL
         SELECT r.id, r.name, d.region FROM inference_endpoints r
         JOIN data_planes d ON d.id = r.data_plane_id
         WHERE r.organization_id = $1 AND r.id = ANY($2)",
    )
    .bind(organization_id)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, region)| (id, billing::focus::Resource { name, region }))
        .collect())
}

/// Refuses a change to a resource whose deletion is under way.
pub(crate) fn refuse_deleting<M: Managed>(row: &M) -> Result<()> {
    match row.deletion_requested_at() {
        Some(_) => Err(Error::Conflict(M::KIND.deleting())),
        None => Ok(()),
    }
}

async fn scoped<M: Managed>(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
    lock: &'static str,
) -> Result<M> {
    sqlx::query_as(AssertSqlSafe(format!(
        "{} WHERE r.organization_id = $1 AND r.id = $2{lock}",
        select::<M>("")
    )))
    .bind(organization_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(M::KIND.noun()))
}

/// Asks for a resource to be deleted: the row stays, in phase `Deleting`,
/// until the data plane confirms the resource is gone. Asking twice is
/// harmless and audited once.
pub(crate) async fn delete<M: Managed>(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
) -> Result<M> {
    access.require(M::KIND.permissions().1)?;
    let actor = access.principal().actor();
    let editor = Editor {
        organization_id: access.organization_id(),
        actor: &actor,
    };
    delete_by::<M>(conn, editor, id, None).await?;
    get(conn, access, id).await
}

/// Asks for a resource to be deleted on `editor`'s behalf (a person, or the
/// service itself), audited once with `details`; returns whether this was
/// the first request.
pub(crate) async fn delete_by<M: Managed>(
    conn: &mut PgConnection,
    editor: Editor<'_>,
    id: Uuid,
    details: Option<serde_json::Value>,
) -> Result<bool> {
    let kind = M::KIND;
    let table = kind.table();
    let first_request: Option<bool> = sqlx::query_scalar(AssertSqlSafe(format!(
        "UPDATE {table} AS r
         SET deletion_requested_at = coalesce(r.deletion_requested_at, now()),
             phase = 'Deleting', updated_at = now()
         FROM {table} AS before
         WHERE r.organization_id = $1 AND r.id = $2 AND before.id = r.id
         RETURNING before.deletion_requested_at IS NULL"
    )))
    .bind(editor.organization_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let first = first_request.ok_or_else(|| Error::not_found(kind.noun()))?;
    if first {
        audit::record(
            conn,
            Some(editor.organization_id),
            editor.actor,
            &kind.action("delete"),
            kind.target_type(),
            &id.to_string(),
            details.unwrap_or_else(|| serde_json::json!({})),
        )
        .await?;
    }
    Ok(first)
}

/// Records `verb` done to a resource through `access`, with `details`
/// where there is more to say.
pub(crate) async fn audit(
    conn: &mut PgConnection,
    access: &OrgAccess,
    kind: Kind,
    verb: &str,
    id: Uuid,
    details: Option<serde_json::Value>,
) -> Result<()> {
    audit::record_as(
        conn,
        access,
        &kind.action(verb),
        kind.target_type(),
        &id.to_string(),
        details,
    )
    .await
}

/// A resource as the provisioner works on it: the row customers see, and
/// what only the provisioner needs (where it runs, what it carried there).
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked<M> {
    pub resource: M,
    pub organization_id: Uuid,
    pub data_plane_id: Uuid,
    pub applied_generation: i64,
    pub applied_at: Option<DateTime<Utc>>,
}

impl<'r, M: FromRow<'r, PgRow>> FromRow<'r, PgRow> for Tracked<M> {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Tracked {
            resource: M::from_row(row)?,
            organization_id: row.try_get("organization_id")?,
            data_plane_id: row.try_get("data_plane_id")?,
            applied_generation: row.try_get("applied_generation")?,
            applied_at: row.try_get("applied_at")?,
        })
    }
}

/// Resources of kind `M` with work for the provisioner: a generation not
/// yet applied, a phase not yet settled, a deletion, `also_due`, or a
/// resync due since `resync_before`; least recently synced first. A
/// connected data plane's are its own to pull, never pushed.
pub(crate) async fn due<M: Managed>(
    conn: &mut PgConnection,
    resync_before: DateTime<Utc>,
    also_due: &str,
    limit: i64,
) -> Result<Vec<Tracked<M>>> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "{} WHERE d.kind <> 'connected'
           AND (r.phase <> ALL($3) OR r.applied_generation < r.generation
                OR r.deletion_requested_at IS NOT NULL OR r.synced_at IS NULL
                OR r.synced_at < $1{also_due})
         ORDER BY r.synced_at NULLS FIRST, r.id
         LIMIT $2",
        select::<M>(", r.organization_id, r.data_plane_id, r.applied_generation, r.applied_at")
    )))
    .bind(resync_before)
    .bind(limit)
    .bind(
        M::KIND
            .settled()
            .iter()
            .chain(&["Suspended"])
            .copied()
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType as E;

    #[test]
    fn phase_moves_raise_the_events_a_customer_is_told() {
        let cluster = |a, b| Kind::Cluster.phase_events(a, b);
        assert_eq!(cluster("Provisioning", "Ready"), [E::ClusterReady]);
        assert_eq!(cluster("Updating", "Ready"), [E::ClusterReady]);
        assert_eq!(cluster("Ready", "Ready"), []);
        assert_eq!(cluster("Ready", "Degraded"), [E::ClusterDegraded]);
        assert_eq!(cluster("Ready", "Suspended"), [E::ClusterSuspended]);
        assert_eq!(cluster("Suspended", "Provisioning"), [E::ClusterResumed]);
        assert_eq!(
            cluster("Suspended", "Ready"),
            [E::ClusterResumed, E::ClusterReady]
        );
        assert_eq!(cluster("Suspended", "Deleting"), []);
        assert_eq!(cluster("Ready", "Updating"), []);
        let endpoint = |a, b| Kind::Endpoint.phase_events(a, b);
        // Waking from zero replicas is the endpoint working as asked.
        assert_eq!(endpoint("ScaledToZero", "Ready"), []);
        assert_eq!(endpoint("Provisioning", "Ready"), [E::EndpointReady]);
        assert_eq!(endpoint("Ready", "Suspended"), [E::EndpointSuspended]);
        assert_eq!(Kind::Endpoint.deleted_event(), E::EndpointDeleted);
    }
}
