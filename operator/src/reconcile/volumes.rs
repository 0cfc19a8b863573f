//! Growing a cluster's volumes, as a pure decision.
//!
//! The apiserver refuses any change to a StatefulSet's
//! `volumeClaimTemplates` (kubernetes `pkg/apis/apps/validation`,
//! `ValidateStatefulSetUpdate`: "updates to statefulset spec for fields other
//! than 'replicas', 'ordinals', 'template', 'updateStrategy', …"). So, as
//! CloudNativePG does, the claims themselves are resized: each PVC's request
//! is raised (allowed only where its StorageClass has `allowVolumeExpansion`),
//! and once every PVC reports the new capacity the StatefulSet is deleted
//! with its pods orphaned and created again with the new template. The pods
//! never restart for it; the new StatefulSet adopts them. Until then the
//! StatefulSet is applied with the template it already has, so no apply is
//! refused and nothing else waits.

/// What a claim template asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub gib: u32,
    /// `None`: the data plane's default StorageClass.
    pub class: Option<String>,
}

/// One node's volume as its PVC reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub requested_gib: u32,
    /// `status.capacity`: what the volume has now.
    pub capacity_gib: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The StatefulSet's template asks for what the spec does.
    Current,
    /// The change cannot be made; the template stays as it is.
    Refused(String),
    /// Raise the request of `resize`; wait for `waiting` to report it.
    Expand {
        resize: Vec<String>,
        waiting: Vec<String>,
    },
    /// Every volume has grown: replace the StatefulSet, orphaning its pods.
    Replace,
}

/// The reason of a `Degraded` condition for a volume change refused.
pub const REFUSED: &str = "VolumeChangeRefused";
/// The reason while volumes grow.
pub const EXPANDING: &str = "ExpandingVolumes";

impl Plan {
    /// What the status says of this plan: whether it degrades the cluster,
    /// the reason and the message; `None` when volumes are as asked.
    pub fn report(&self, gib: u32) -> Option<(bool, &'static str, String)> {
        match self {
            Plan::Current => None,
            Plan::Refused(reason) => Some((true, REFUSED, reason.clone())),
            Plan::Expand { waiting, .. } => Some((
                false,
                EXPANDING,
                format!(
                    "growing the volumes to {gib} GiB; waiting for {}",
                    waiting.join(", ")
                ),
            )),
            Plan::Replace => Some((
                false,
                EXPANDING,
                format!(
                    "every volume has {gib} GiB; replacing the StatefulSet, its pods kept running"
                ),
            )),
        }
    }

    /// The claim template this pass applies: the desired one only once
    /// the StatefulSet can take it.
    pub fn template<'a>(&self, existing: Option<&'a Claim>, desired: &'a Claim) -> &'a Claim {
        match (self, existing) {
            (Plan::Current, _) | (_, None) => desired,
            (_, Some(existing)) => existing,
        }
    }
}

/// `existing`: the StatefulSet's claim template (none: no StatefulSet yet);
/// `expandable`: the volumes' StorageClass allows expansion (none: it could
/// not be found).
pub fn plan(
    existing: Option<&Claim>,
    desired: &Claim,
    volumes: &[Volume],
    class: Option<&str>,
    expandable: Option<bool>,
) -> Plan {
    let Some(existing) = existing else {
        return Plan::Current;
    };
    if existing == desired {
        return Plan::Current;
    }
    if existing.class != desired.class {
        let name = |c: &Option<String>| c.clone().unwrap_or_else(|| "the default".to_owned());
        return Plan::Refused(format!(
            "spec.storageClass cannot change on a running cluster: the volumes stay on {} \
             (asked: {}); restore a backup into a new cluster to move them",
            name(&existing.class),
            name(&desired.class)
        ));
    }
    if desired.gib < existing.gib {
        return Plan::Refused(format!(
            "spec.resources.storageGib: volumes cannot shrink from {} GiB to {} GiB",
            existing.gib, desired.gib
        ));
    }
    let class = class.unwrap_or("(none)");
    match expandable {
        None => {
            return Plan::Refused(format!(
                "cannot grow the volumes to {} GiB: their StorageClass {class} was not found",
                desired.gib
            ));
        }
        Some(false) => {
            return Plan::Refused(format!(
                "cannot grow the volumes to {} GiB: StorageClass {class} does not allow volume \
                 expansion (allowVolumeExpansion is not true)",
                desired.gib
            ));
        }
        Some(true) => {}
    }
    let names = |keep: fn(&Volume, u32) -> bool| -> Vec<String> {
        volumes
            .iter()
            .filter(|v| keep(v, desired.gib))
            .map(|v| v.name.clone())
            .collect()
    };
    let resize = names(|v, gib| v.requested_gib < gib);
    let waiting = names(|v, gib| v.capacity_gib < gib);
    if resize.is_empty() && waiting.is_empty() {
        Plan::Replace
    } else {
        Plan::Expand { resize, waiting }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(gib: u32, class: Option<&str>) -> Claim {
        Claim {
            gib,
            class: class.map(str::to_owned),
        }
    }

    fn volume(ordinal: u32, requested_gib: u32, capacity_gib: u32) -> Volume {
        Volume {
            name: format!("storage-search-{ordinal}"),
            requested_gib,
            capacity_gib,
        }
    }

    #[test]
    fn an_unchanged_or_new_template_is_current() {
        let desired = claim(20, None);
        assert_eq!(plan(None, &desired, &[], None, None), Plan::Current);
        assert_eq!(
            plan(Some(&desired), &desired, &[], None, None),
            Plan::Current
        );
    }

    #[test]
    fn growth_resizes_each_claim_waits_for_the_capacity_then_replaces() {
        let (old, new) = (claim(10, Some("fast")), claim(20, Some("fast")));
        let volumes = [volume(0, 10, 10), volume(1, 10, 10)];
        let first = plan(Some(&old), &new, &volumes, Some("fast"), Some(true));
        assert_eq!(
            first,
            Plan::Expand {
                resize: vec!["storage-search-0".into(), "storage-search-1".into()],
                waiting: vec!["storage-search-0".into(), "storage-search-1".into()],
            }
        );
        assert_eq!(first.template(Some(&old), &new), &old, "not yet");
        let resizing = [volume(0, 20, 20), volume(1, 20, 10)];
        assert_eq!(
            plan(Some(&old), &new, &resizing, Some("fast"), Some(true)),
            Plan::Expand {
                resize: vec![],
                waiting: vec!["storage-search-1".into()],
            }
        );
        let grown = [volume(0, 20, 20), volume(1, 20, 21)];
        let done = plan(Some(&old), &new, &grown, Some("fast"), Some(true));
        assert_eq!(done, Plan::Replace);
        assert_eq!(done.template(Some(&old), &new), &old);
    }

    #[test]
    fn a_class_without_expansion_a_new_class_and_shrinking_are_refused() {
        let old = claim(10, None);
        let volumes = [volume(0, 10, 10)];
        let Plan::Refused(reason) = plan(
            Some(&old),
            &claim(20, None),
            &volumes,
            Some("standard"),
            Some(false),
        ) else {
            panic!("refused")
        };
        assert!(reason.contains("StorageClass standard does not allow volume expansion"));
        let Plan::Refused(reason) = plan(Some(&old), &claim(20, None), &volumes, None, None) else {
            panic!("refused")
        };
        assert!(reason.contains("was not found"), "{reason}");
        let Plan::Refused(reason) = plan(
            Some(&old),
            &claim(10, Some("fast")),
            &volumes,
            None,
            Some(true),
        ) else {
            panic!("refused")
        };
        assert!(
            reason.starts_with("spec.storageClass cannot change"),
            "{reason}"
        );
        let Plan::Refused(reason) = plan(Some(&old), &claim(5, None), &volumes, None, Some(true))
        else {
            panic!("refused")
        };
        assert!(reason.contains("cannot shrink"), "{reason}");
    }
}
