//! The plan catalog: plans with their limits and base fees, and usage prices.
//!
//! The catalog is data. The default ships in `catalog.toml` beside this
//! crate; a service operator may load another file with [`Catalog::from_toml`].

use std::fmt;

use metering::Meter;
use serde::{Deserialize, Serialize};

/// The identifier of a plan, such as `free` or `business`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanId(String);

impl PlanId {
    /// The plan every new organization starts on.
    pub fn free() -> Self {
        PlanId("free".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for PlanId {
    fn from(value: String) -> Self {
        PlanId(value)
    }
}

/// Which backups a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupEntitlement {
    None,
    /// Daily backups, kept 7 days.
    Daily,
    /// Hourly or custom cron schedules, kept 30 days, restore to a new cluster.
    Scheduled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub base_fee_minor: i64,
    /// `None`: unlimited.
    pub max_vector_clusters: Option<u32>,
    pub max_nodes_per_cluster: u32,
    pub max_replication_factor: u32,
    pub max_gpus_per_endpoint: u32,
    pub included_storage_gib: u32,
    /// Whether storage beyond the allowance is refused rather than billed.
    pub storage_hard_cap: bool,
    /// Whether usage is charged at the catalog prices. A free plan is held
    /// to its hard limits instead.
    pub bills_usage: bool,
    pub backups: BackupEntitlement,
    /// Whether clusters may restrict upgrades to a maintenance window.
    /// Catalogs published before it existed read as `false`.
    #[serde(default)]
    pub maintenance_windows: bool,
    /// What inference endpoints are billed by; catalogs published before
    /// token prices existed read as GPU-hours only.
    #[serde(default)]
    pub inference_billing: InferenceBilling,
    /// Input tokens included per month, before any is billed.
    #[serde(default)]
    pub included_input_tokens: u64,
    /// Output tokens included per month, before any is billed.
    #[serde(default)]
    pub included_output_tokens: u64,
    /// The most requests a minute one inference key may be allowed;
    /// `None`: unlimited. Catalogs published before it read as unlimited.
    #[serde(default)]
    pub max_key_requests_per_minute: Option<u32>,
    /// The most tokens (prompt and completion) a minute one inference key
    /// may be allowed; `None`: unlimited.
    #[serde(default)]
    pub max_key_tokens_per_minute: Option<u32>,
    /// Days a vector cluster may serve no request before it is suspended
    /// (data kept); `None`: never. Catalogs published before the idle
    /// lifecycle read as never, as do the paid plans.
    #[serde(default)]
    pub idle_suspend_after_days: Option<u32>,
    /// Days before that suspension that the owners are warned.
    #[serde(default)]
    pub idle_warning_days_before: u32,
    /// Days a cluster suspended for idleness is kept before it is deleted;
    /// `None`: kept until resumed.
    #[serde(default)]
    pub idle_delete_after_days: Option<u32>,
    /// Days before that deletion that the owners are warned, each once.
    #[serde(default)]
    pub idle_delete_warnings_days_before: Vec<u32>,
    /// Unbilled usage charges at which an interim invoice is issued and
    /// charged at once, before the period ends; `None`: only at the close.
    #[serde(default)]
    pub threshold_invoice_minor: Option<i64>,
    /// Whether the organization may register data planes of its own
    /// (customer-run, rated by a price list of their own). Catalogs
    /// published before it read as `false`.
    #[serde(default)]
    pub customer_data_planes: bool,
}

/// Which of an endpoint's meters a plan that bills usage charges: the time
/// its GPUs run, the tokens its gateway counts, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferenceBilling {
    #[default]
    GpuHours,
    Tokens,
    Both,
}

impl InferenceBilling {
    pub fn gpu_hours(self) -> bool {
        matches!(self, InferenceBilling::GpuHours | InferenceBilling::Both)
    }

    pub fn tokens(self) -> bool {
        matches!(self, InferenceBilling::Tokens | InferenceBilling::Both)
    }
}

impl Plan {
    /// Whether the plan charges anything: a fee, or usage at the prices.
    pub fn is_paid(&self) -> bool {
        self.base_fee_minor > 0 || self.bills_usage
    }
}

/// A usage price: `unit_amount_minor` per `unit` of a meter, optionally for
/// one dimension value only (a GPU model; for tokens, a served model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub meter: Meter,
    pub dimension: Option<String>,
    pub unit: String,
    pub unit_amount_minor: i64,
}

/// The price of a meter for one dimension value among `prices`: a price
/// for exactly that value, else the meter's price for any value.
fn price_among<'p>(prices: &'p [Price], meter: Meter, dimension: &str) -> Option<&'p Price> {
    let of_meter = || prices.iter().filter(move |p| p.meter == meter);
    of_meter()
        .find(|p| p.dimension.as_deref() == Some(dimension))
        .or_else(|| of_meter().find(|p| p.dimension.is_none()))
}

/// Prices of their own, for usage somewhere else than the service's own
/// data planes (a customer-run data plane's). A meter left out is not
/// charged there at all: the customer pays its own infrastructure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceList {
    /// Stable: data planes and usage name a list by it.
    pub id: String,
    /// Shown on invoice lines, e.g. "Node-hours (customer-run: Customer-run)".
    pub name: String,
    pub prices: Vec<Price>,
}

impl PriceList {
    /// The list's price of a meter for one dimension value, if it has one.
    pub fn price(&self, meter: Meter, dimension: &str) -> Option<&Price> {
        price_among(&self.prices, meter, dimension)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub currency: String,
    pub plans: Vec<Plan>,
    pub prices: Vec<Price>,
    /// Price lists other than the catalog's own prices; catalogs published
    /// before them read as none.
    #[serde(default)]
    pub price_lists: Vec<PriceList>,
    /// What customers may buy as prepaid credit; catalogs published before
    /// prepaid credit read as the defaults.
    #[serde(default)]
    pub prepaid: PrepaidTerms,
}

/// The bounds of a purchase or automatic top-up of credit, and how long
/// bought credit keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepaidTerms {
    pub min_purchase_minor: i64,
    pub max_purchase_minor: i64,
    /// Days after which an unused remainder expires; `None`: never.
    pub expires_after_days: Option<u32>,
}

impl Default for PrepaidTerms {
    fn default() -> Self {
        PrepaidTerms {
            min_purchase_minor: 500,
            max_purchase_minor: 500_000,
            expires_after_days: Some(365),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the plan catalog is not valid TOML of the expected shape: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("the plan catalog is not of the expected shape: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("`{0}` is not a currency code; use a lowercase ISO 4217 code such as `usd`")]
    Currency(String),
    #[error("plan `{0}` is in use by organizations and cannot be removed from the catalog")]
    PlanInUse(String),
    #[error("the plan catalog must contain the plan `free`, which new organizations start on")]
    NoFreePlan,
    #[error("plan `{0}` appears more than once in the catalog")]
    DuplicatePlan(PlanId),
    #[error("plan `{plan}` has a negative {field}")]
    NegativeAmount { plan: String, field: &'static str },
    #[error("`{0}` is not priced: it measures activity, never charged")]
    UnpricedMeter(Meter),
    #[error("plan `{plan}`: {reason}")]
    IdleLifecycle { plan: String, reason: &'static str },
    #[error("prepaid: min_purchase_minor must be above 0 and at most max_purchase_minor")]
    PrepaidBounds,
    #[error("price list `{0}` appears more than once in the catalog")]
    DuplicatePriceList(String),
    #[error(
        "price list id `{0}` must be 1 to 63 lowercase letters, digits and dashes, starting with a letter"
    )]
    PriceListId(String),
    #[error("price list `{0}` needs a name")]
    PriceListName(String),
    #[error("price list `{list}` prices {meter} `{dimension}` more than once")]
    DuplicatePrice {
        list: String,
        meter: Meter,
        dimension: String,
    },
    #[error(
        "price list `{list}` prices {meter} per `{unit}`, but the catalog prices it per `{expected}`: a meter has one unit everywhere"
    )]
    PriceListUnit {
        list: String,
        meter: Meter,
        unit: String,
        expected: String,
    },
    #[error("price list `{0}` rates usage of data planes and cannot be removed from the catalog")]
    PriceListInUse(String),
}

/// Whether a meter may have a price. `requests` is the idle lifecycle's
/// signal of activity: no catalog prices it, so no invoice ever charges it.
pub fn is_priced(meter: Meter) -> bool {
    match meter {
        Meter::GpuSeconds
        | Meter::NodeSeconds
        | Meter::StorageBytes
        | Meter::ObjectCount
        | Meter::InputTokens
        | Meter::OutputTokens => true,
        Meter::Requests => false,
    }
}

/// Why a plan's idle lifecycle cannot work as written, if it cannot: each
/// warning must fall after the clock it warns of has started.
fn idle_fault(plan: &Plan) -> Option<&'static str> {
    match (plan.idle_suspend_after_days, plan.idle_delete_after_days) {
        (None, Some(_)) => Some("idle_delete_after_days needs idle_suspend_after_days"),
        (None, None) if plan.idle_warning_days_before > 0 => {
            Some("idle_warning_days_before needs idle_suspend_after_days")
        }
        (Some(after), _) if plan.idle_warning_days_before >= after => {
            Some("idle_warning_days_before must be fewer than idle_suspend_after_days")
        }
        (_, delete)
            if plan
                .idle_delete_warnings_days_before
                .iter()
                .any(|&d| delete.is_none_or(|after| d >= after)) =>
        {
            Some(
                "each of idle_delete_warnings_days_before must be fewer than idle_delete_after_days",
            )
        }
        _ => None,
    }
}

const DEFAULT_CATALOG: &str = include_str!("../catalog.toml");

impl Catalog {
    /// The catalog shipped with Quartermaster.
    pub fn default_catalog() -> Result<Catalog, CatalogError> {
        Catalog::from_toml(DEFAULT_CATALOG)
    }

    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog = toml::from_str(text)?;
        catalog.validated()
    }

    /// A catalog as JSON, the form it is stored and edited in.
    pub fn from_json(value: serde_json::Value) -> Result<Catalog, CatalogError> {
        let catalog: Catalog = serde_json::from_value(value)?;
        catalog.validated()
    }

    fn validated(self) -> Result<Catalog, CatalogError> {
        let catalog = self;
        if catalog.currency.len() != 3 || !catalog.currency.bytes().all(|b| b.is_ascii_lowercase())
        {
            return Err(CatalogError::Currency(catalog.currency));
        }
        for (i, plan) in catalog.plans.iter().enumerate() {
            if catalog.plans[..i].iter().any(|p| p.id == plan.id) {
                return Err(CatalogError::DuplicatePlan(plan.id.clone()));
            }
            if plan.base_fee_minor < 0 {
                return Err(CatalogError::NegativeAmount {
                    plan: plan.id.to_string(),
                    field: "base fee",
                });
            }
            if plan.threshold_invoice_minor.is_some_and(|t| t <= 0) {
                return Err(CatalogError::NegativeAmount {
                    plan: plan.id.to_string(),
                    field: "threshold invoice amount (it must be above zero)",
                });
            }
            if let Some(reason) = idle_fault(plan) {
                return Err(CatalogError::IdleLifecycle {
                    plan: plan.id.to_string(),
                    reason,
                });
            }
        }
        validate_prices(&catalog.prices, None)?;
        for (i, list) in catalog.price_lists.iter().enumerate() {
            if catalog.price_lists[..i].iter().any(|l| l.id == list.id) {
                return Err(CatalogError::DuplicatePriceList(list.id.clone()));
            }
            if !is_list_id(&list.id) {
                return Err(CatalogError::PriceListId(list.id.clone()));
            }
            if list.name.trim().is_empty() {
                return Err(CatalogError::PriceListName(list.id.clone()));
            }
            validate_prices(&list.prices, Some(&list.id))?;
            // Rating converts a meter's rollups to one unit (`unit_size`):
            // a list pricing it per another unit would be wrong by a factor.
            for price in &list.prices {
                if let Some(own) = catalog.prices.iter().find(|p| p.meter == price.meter)
                    && own.unit != price.unit
                {
                    return Err(CatalogError::PriceListUnit {
                        list: list.id.clone(),
                        meter: price.meter,
                        unit: price.unit.clone(),
                        expected: own.unit.clone(),
                    });
                }
            }
        }
        if catalog.plan(&PlanId::free()).is_none() {
            return Err(CatalogError::NoFreePlan);
        }
        let prepaid = &catalog.prepaid;
        if prepaid.min_purchase_minor <= 0
            || prepaid.min_purchase_minor > prepaid.max_purchase_minor
        {
            return Err(CatalogError::PrepaidBounds);
        }
        Ok(catalog)
    }

    pub fn plan(&self, id: &PlanId) -> Option<&Plan> {
        self.plans.iter().find(|p| &p.id == id)
    }

    /// The price of a meter for one dimension value: a price for exactly
    /// that value, else the meter's price for any value.
    pub fn price(&self, meter: Meter, dimension: &str) -> Option<&Price> {
        price_among(&self.prices, meter, dimension)
    }

    pub fn price_list(&self, id: &str) -> Option<&PriceList> {
        self.price_lists.iter().find(|l| l.id == id)
    }
}

/// What every set of prices must be: of priced meters, not negative; and
/// in a price list (`list`), one price per meter and dimension. (The
/// catalog's own prices were published without that rule: the first of
/// two prices wins there, and a published catalog must keep loading.)
fn validate_prices(prices: &[Price], list: Option<&str>) -> Result<(), CatalogError> {
    for (i, price) in prices.iter().enumerate() {
        if !is_priced(price.meter) {
            return Err(CatalogError::UnpricedMeter(price.meter));
        }
        if price.unit_amount_minor < 0 {
            return Err(CatalogError::NegativeAmount {
                plan: match list {
                    Some(list) => format!("price list `{list}`: price for {}", price.meter),
                    None => format!("price for {}", price.meter),
                },
                field: "unit amount",
            });
        }
        if let Some(list) = list
            && prices[..i]
                .iter()
                .any(|p| p.meter == price.meter && p.dimension == price.dimension)
        {
            return Err(CatalogError::DuplicatePrice {
                list: list.to_owned(),
                meter: price.meter,
                dimension: price.dimension.clone().unwrap_or_default(),
            });
        }
    }
    Ok(())
}

/// A price list id: as a DNS label, since it is stored beside names.
fn is_list_id(id: &str) -> bool {
    id.len() <= 63
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_has_the_three_tiers_of_the_design() {
        let catalog = Catalog::default_catalog().unwrap();
        let ids: Vec<_> = catalog.plans.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["free", "starter", "business"]);

        let free = catalog.plan(&PlanId::free()).unwrap();
        assert_eq!(free.base_fee_minor, 0);
        assert_eq!(free.max_vector_clusters, Some(1));
        assert!(free.storage_hard_cap);
        assert_eq!(free.max_gpus_per_endpoint, 0);

        let business = catalog.plan(&PlanId::from("business".to_owned())).unwrap();
        assert_eq!(business.base_fee_minor, 10_000);
        assert_eq!(business.max_vector_clusters, None);
        assert_eq!(business.max_nodes_per_cluster, 16);
        assert_eq!(business.backups, BackupEntitlement::Scheduled);
    }

    #[test]
    fn every_priced_meter_has_a_price_and_requests_have_none() {
        let catalog = Catalog::default_catalog().unwrap();
        for meter in Meter::ALL {
            assert_eq!(
                catalog.prices.iter().any(|p| p.meter == meter),
                is_priced(meter),
                "{meter}"
            );
        }
        assert!(!is_priced(Meter::Requests));
        for plan in &catalog.plans {
            assert!(!crate::rating::bills(plan, Meter::Requests), "{}", plan.id);
        }
    }

    #[test]
    fn a_price_for_requests_is_refused() {
        let text = DEFAULT_CATALOG.to_owned()
            + "\n[[prices]]\nmeter = \"requests\"\nunit = \"1M requests\"\nunit_amount_minor = 1\n";
        assert!(matches!(
            Catalog::from_toml(&text),
            Err(CatalogError::UnpricedMeter(Meter::Requests))
        ));
    }

    #[test]
    fn only_the_free_plan_has_an_idle_lifecycle() {
        let catalog = Catalog::default_catalog().unwrap();
        let free = catalog.plan(&PlanId::free()).unwrap();
        assert_eq!(free.idle_suspend_after_days, Some(7));
        assert_eq!(free.idle_warning_days_before, 2);
        assert_eq!(free.idle_delete_after_days, Some(28));
        assert_eq!(free.idle_delete_warnings_days_before, [7, 1]);
        for id in ["starter", "business"] {
            let plan = catalog.plan(&PlanId::from(id.to_owned())).unwrap();
            assert_eq!(
                (plan.idle_suspend_after_days, plan.idle_delete_after_days),
                (None, None),
                "{id}"
            );
        }
    }

    #[test]
    fn a_catalog_published_before_the_idle_lifecycle_still_loads_without_one() {
        let mut document = serde_json::to_value(Catalog::default_catalog().unwrap()).unwrap();
        for plan in document["plans"].as_array_mut().unwrap() {
            let plan = plan.as_object_mut().unwrap();
            for field in [
                "idle_suspend_after_days",
                "idle_warning_days_before",
                "idle_delete_after_days",
                "idle_delete_warnings_days_before",
            ] {
                plan.remove(field);
            }
        }
        let catalog = Catalog::from_json(document).unwrap();
        assert!(
            catalog
                .plans
                .iter()
                .all(|p| p.idle_suspend_after_days.is_none()
                    && p.idle_delete_after_days.is_none()
                    && p.idle_delete_warnings_days_before.is_empty())
        );
    }

    #[test]
    fn an_idle_warning_that_would_come_before_its_clock_starts_is_refused() {
        let cases = [
            (
                "idle_warning_days_before = 2",
                "idle_warning_days_before = 7",
            ),
            (
                "idle_delete_warnings_days_before = [7, 1]",
                "idle_delete_warnings_days_before = [28, 1]",
            ),
            ("idle_suspend_after_days = 7\n", ""),
        ];
        for (from, to) in cases {
            let text = DEFAULT_CATALOG.replacen(from, to, 1);
            assert!(
                matches!(
                    Catalog::from_toml(&text),
                    Err(CatalogError::IdleLifecycle { ref plan, .. }) if plan == "free"
                ),
                "{to:?}"
            );
        }
    }

    #[test]
    fn tokens_are_priced_per_million_by_model_next_to_gpu_hours() {
        let catalog = Catalog::default_catalog().unwrap();
        for id in ["starter", "business"] {
            let plan = catalog.plan(&PlanId::from(id.to_owned())).unwrap();
            assert_eq!(plan.inference_billing, InferenceBilling::Both, "{id}");
        }
        let free = catalog.plan(&PlanId::free()).unwrap();
        assert_eq!(free.inference_billing, InferenceBilling::GpuHours);
        assert_eq!(free.included_input_tokens, 0);
        // Any model at the default prices.
        let input = catalog.price(Meter::InputTokens, "org/model").unwrap();
        assert_eq!(
            (input.unit.as_str(), input.unit_amount_minor),
            ("1M input tokens", 20)
        );
        let output = catalog.price(Meter::OutputTokens, "org/model").unwrap();
        assert_eq!(
            (output.unit.as_str(), output.unit_amount_minor),
            ("1M output tokens", 60)
        );

        // A catalog may price one model apart, include tokens, and bill
        // tokens only.
        let text = DEFAULT_CATALOG
            .replacen(
                "maintenance_windows = true\ninference_billing = \"both\"",
                "maintenance_windows = true\ninference_billing = \"tokens\"\nincluded_input_tokens = 5000000",
                1,
            )
            + "\n[[prices]]\nmeter = \"output_tokens\"\ndimension = \"big/model\"\nunit = \"1M output tokens\"\nunit_amount_minor = 900\n";
        let catalog = Catalog::from_toml(&text).unwrap();
        let business = catalog.plan(&PlanId::from("business".to_owned())).unwrap();
        assert_eq!(business.inference_billing, InferenceBilling::Tokens);
        assert!(business.inference_billing.tokens() && !business.inference_billing.gpu_hours());
        assert_eq!(business.included_input_tokens, 5_000_000);
        assert_eq!(business.included_output_tokens, 0);
        let price = |model| {
            catalog
                .price(Meter::OutputTokens, model)
                .unwrap()
                .unit_amount_minor
        };
        assert_eq!((price("big/model"), price("small/model")), (900, 60));

        let text = DEFAULT_CATALOG.replacen(
            "inference_billing = \"both\"",
            "inference_billing = \"gpus\"",
            1,
        );
        assert!(matches!(
            Catalog::from_toml(&text),
            Err(CatalogError::Parse(_))
        ));
    }

    #[test]
    fn customer_run_usage_pays_a_platform_fee_per_node_hour_and_nothing_else() {
        let catalog = Catalog::default_catalog().unwrap();
        let list = catalog.price_list("customer-run").unwrap();
        let fee = list.price(Meter::NodeSeconds, "").unwrap();
        assert_eq!((fee.unit.as_str(), fee.unit_amount_minor), ("node-hour", 2));
        for meter in Meter::ALL.into_iter().filter(|m| *m != Meter::NodeSeconds) {
            assert!(list.price(meter, "nvidia-l4").is_none(), "{meter}");
        }
        assert!(catalog.price_list("elsewhere").is_none());
        let entitled: Vec<_> = catalog
            .plans
            .iter()
            .filter(|p| p.customer_data_planes)
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(entitled, ["business"]);
    }

    #[test]
    fn a_catalog_published_before_price_lists_loads_with_none_and_no_entitlement() {
        let mut document = serde_json::to_value(Catalog::default_catalog().unwrap()).unwrap();
        document.as_object_mut().unwrap().remove("price_lists");
        for plan in document["plans"].as_array_mut().unwrap() {
            plan.as_object_mut().unwrap().remove("customer_data_planes");
        }
        let catalog = Catalog::from_json(document).unwrap();
        assert!(catalog.price_lists.is_empty());
        assert!(catalog.plans.iter().all(|p| !p.customer_data_planes));
    }

    #[test]
    fn a_price_list_that_could_not_rate_correctly_is_refused() {
        let list = |id: &str, name: &str, prices: &str| {
            format!(
                "{DEFAULT_CATALOG}\n[[price_lists]]\nid = \"{id}\"\nname = \"{name}\"\n{prices}"
            )
        };
        let price = |meter: &str, unit: &str, amount: i64| {
            format!(
                "[[price_lists.prices]]\nmeter = \"{meter}\"\nunit = \"{unit}\"\nunit_amount_minor = {amount}\n"
            )
        };
        let node = price("node_seconds", "node-hour", 3);
        /// A catalog, and whether its refusal is the one expected.
        type Case = (String, fn(&CatalogError) -> bool);
        let cases: [Case; 7] = [
            (
                list("customer-run", "Again", &node),
                |e| matches!(e, CatalogError::DuplicatePriceList(id) if id == "customer-run"),
            ),
            (list("Not An Id", "x", &node), |e| {
                matches!(e, CatalogError::PriceListId(_))
            }),
            (list("unnamed", " ", &node), |e| {
                matches!(e, CatalogError::PriceListName(_))
            }),
            (
                list("twice", "Twice", &(node.clone() + &node)),
                |e| matches!(e, CatalogError::DuplicatePrice { list, meter: Meter::NodeSeconds, .. } if list == "twice"),
            ),
            (
                list(
                    "minutes",
                    "Minutes",
                    &price("node_seconds", "node-minute", 1),
                ),
                |e| matches!(e, CatalogError::PriceListUnit { expected, .. } if expected == "node-hour"),
            ),
            (
                list(
                    "negative",
                    "Negative",
                    &price("node_seconds", "node-hour", -1),
                ),
                |e| matches!(e, CatalogError::NegativeAmount { .. }),
            ),
            (
                list("requests", "Requests", &price("requests", "1M requests", 1)),
                |e| matches!(e, CatalogError::UnpricedMeter(Meter::Requests)),
            ),
        ];
        for (text, expected) in cases {
            let err = Catalog::from_toml(&text).unwrap_err();
            assert!(expected(&err), "{err}");
        }
        // A meter priced per its catalog unit, in a new list: accepted.
        let text = list("partner", "Partner", &price("gpu_seconds", "GPU-hour", 10));
        assert!(
            Catalog::from_toml(&text)
                .unwrap()
                .price_list("partner")
                .is_some()
        );
    }

    #[test]
    fn a_catalog_without_a_free_plan_is_refused() {
        let text = DEFAULT_CATALOG.replacen("id = \"free\"", "id = \"gratis\"", 1);
        assert!(matches!(
            Catalog::from_toml(&text),
            Err(CatalogError::NoFreePlan)
        ));
    }

    #[test]
    fn a_duplicate_plan_is_refused() {
        let text = DEFAULT_CATALOG.replacen("id = \"starter\"", "id = \"free\"", 1);
        assert!(matches!(
            Catalog::from_toml(&text),
            Err(CatalogError::DuplicatePlan(id)) if id == PlanId::free()
        ));
    }

    #[test]
    fn negative_amounts_and_unknown_keys_are_refused() {
        let text = DEFAULT_CATALOG.replacen("base_fee_minor = 2500", "base_fee_minor = -1", 1);
        assert!(matches!(
            Catalog::from_toml(&text),
            Err(CatalogError::NegativeAmount { .. })
        ));
        let text = DEFAULT_CATALOG.replacen("name = \"Free\"", "name = \"Free\"\nfee = 3", 1);
        assert!(matches!(
            Catalog::from_toml(&text),
            Err(CatalogError::Parse(_))
        ));
    }
}
