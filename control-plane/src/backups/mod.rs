//! Backups as customers see them: a cluster's schedule and retention (part
//! of its desired spec), backups taken by hand, and restores into a new
//! cluster; each limited by the plan. The provisioner carries them into the
//! data plane (`provisioner/backups.rs`), whose operator takes them.

mod policy;
mod restore;
mod taken;

pub use policy::{PolicyRequest, clear_policy, set_policy};
pub(crate) use policy::{backup_request, destination_for, in_region};
pub use restore::restore;
pub use taken::{Backup, create, delete, get, list};

use crate::Error;
use crate::clusters::Cluster;
use crate::validation::ValidationErrors;

fn no_destination(cluster: &Cluster) -> Error {
    let mut errors = ValidationErrors::default();
    errors.add(
        "region",
        format!(
            "region `{}` has no backup storage configured",
            cluster.region
        ),
    );
    Error::Validation(errors)
}
