//! A cluster's maintenance window: when, in UTC, its nodes may begin
//! restarting onto a new version or new resources. Part of the desired
//! spec, so setting or clearing it raises the generation; the operator
//! holds a new template until the window opens. Business plans only.

use billing::{Catalog, entitlements};
use crds::VectorClusterSpec;
use crds::maintenance::{DURATION_HOURS, START_HOURS};
pub use crds::maintenance::{MaintenanceWindow, Weekday};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Cluster;
use crate::access::{OrgAccess, Permission};
use crate::validation::ValidationErrors;
use crate::{Result, organizations, resource};

/// A window as received: numbers as `i64` so that a wrong one is reported
/// against its field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowRequest {
    /// `mon` … `sun`; every day when `None`.
    pub day: Option<String>,
    pub start_hour: i64,
    pub duration_hours: i64,
}

impl WindowRequest {
    /// The window, or every field at fault.
    pub fn parse(&self) -> Result<MaintenanceWindow> {
        let mut errors = ValidationErrors::default();
        let day = match self.day.as_deref() {
            None => Some(None),
            Some(raw) => {
                let day = Weekday::ALL.into_iter().find(|d| d.as_str() == raw);
                if day.is_none() {
                    errors.add(
                        "day",
                        format!(
                            "`{raw}` is not a day: use mon … sun, or leave it out for every day"
                        ),
                    );
                }
                day.map(Some)
            }
        };
        let start_hour = errors.in_range("start_hour", self.start_hour, START_HOURS);
        let duration_hours = errors.in_range("duration_hours", self.duration_hours, DURATION_HOURS);
        let window =
            day.zip(start_hour)
                .zip(duration_hours)
                .map(|((day, start_hour), duration_hours)| MaintenanceWindow {
                    day,
                    start_hour,
                    duration_hours,
                });
        errors.finish(window)
    }
}

/// Holds the cluster's restarts to `request`'s window.
pub async fn set(
    conn: &mut PgConnection,
    access: &OrgAccess,
    catalog: &Catalog,
    cluster_id: Uuid,
    request: &WindowRequest,
) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    let window = request.parse()?;
    let plan = organizations::lock_plan(conn, access, catalog).await?;
    entitlements::may_use_maintenance_window(plan)?;
    with_window(conn, access, cluster_id, "maintenance_window", Some(window)).await
}

/// Lets the cluster's restarts begin at once again.
pub async fn clear(
    conn: &mut PgConnection,
    access: &OrgAccess,
    cluster_id: Uuid,
) -> Result<Cluster> {
    access.require(Permission::ClustersWrite)?;
    with_window(conn, access, cluster_id, "maintenance_window_cleared", None).await
}

async fn with_window(
    conn: &mut PgConnection,
    access: &OrgAccess,
    cluster_id: Uuid,
    verb: &str,
    window: Option<MaintenanceWindow>,
) -> Result<Cluster> {
    resource::change_spec(conn, access, cluster_id, verb, |current: &Cluster| {
        Ok(VectorClusterSpec {
            maintenance_window: window,
            ..current.spec.clone()
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn fields(request: WindowRequest) -> Vec<String> {
        match request.parse() {
            Err(Error::Validation(errors)) => {
                errors.errors().iter().map(|e| e.field.clone()).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_window_is_a_day_or_every_day_an_hour_and_a_duration() {
        let sunday = WindowRequest {
            day: Some("sun".into()),
            start_hour: 22,
            duration_hours: 4,
        };
        assert_eq!(
            sunday.parse().unwrap(),
            MaintenanceWindow {
                day: Some(Weekday::Sun),
                start_hour: 22,
                duration_hours: 4
            }
        );
        let daily = WindowRequest {
            day: None,
            start_hour: 0,
            duration_hours: 24,
        };
        assert_eq!(daily.parse().unwrap().day, None);
    }

    #[test]
    fn every_field_at_fault_is_named() {
        let wrong = WindowRequest {
            // Exactly as Terraform and the form send it: no trimming, so
            // what is stored is what was sent.
            day: Some(" sun".into()),
            start_hour: 24,
            duration_hours: 0,
        };
        assert_eq!(fields(wrong), ["day", "start_hour", "duration_hours"]);
    }
}
