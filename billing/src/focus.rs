//! An invoice as a FOCUS 1.2 cost and usage dataset (FinOps Open Cost and
//! Usage Specification, <https://focus.finops.org>, tag `v1.2` of
//! FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, `specification/columns/`).
//!
//! One row per [`Part`] of the invoice: per usage line, resource, UTC day
//! and labels in force (ChargeCategory `Usage`); the base fee whole
//! (`Purchase`), each credit whole (`Credit`), a correction of an earlier
//! period's usage whole (`Usage`, ChargeClass `Correction`) and the
//! deduction of an interim invoice whole (`Adjustment`). BilledCost is the part's
//! amount, so the rows add up to the invoice's total exactly. There are no
//! negotiated discounts or commitments: EffectiveCost, ListCost and
//! ContractedCost equal BilledCost, and no unit prices are given (a part's
//! PricingQuantity is an allocated share, so a unit price times it would
//! not match its cost to the cent, as the specification requires).
//!
//! Money is written in major units, exact from minor units; quantities as
//! exact decimals; times as `YYYY-MM-DDTHH:mm:ssZ`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use metering::{Aggregation, Meter};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::cost_allocation::Part;
use crate::invoice::{Invoice, StoredLine};
use crate::money::minor_per_major;

/// The columns written, in order: FOCUS 1.2's Mandatory columns, then the
/// Conditional and Recommended ones that apply here.
pub const COLUMNS: [&str; 33] = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    // Conditional: resources, regions, measured usage, SKUs, tags.
    "ConsumedQuantity",
    "ConsumedUnit",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "SkuId",
    "Tags",
    // Recommended.
    "ChargeFrequency",
    "InvoiceId",
    "ServiceSubcategory",
];

/// Who sells the service: the provider, publisher and invoice issuer.
pub const PROVIDER: &str = "Quartermaster";

/// The organization billed: the FOCUS billing account.
#[derive(Debug, Clone)]
pub struct Account<'a> {
    pub id: Uuid,
    pub name: &'a str,
}

/// What the control plane knows of a resource: its name and region.
/// A resource deleted since has none, and its rows leave them empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    pub region: String,
}

/// The rows of an invoice's parts, each in [`COLUMNS`] order, `None` for
/// a null.
pub fn rows(
    account: &Account<'_>,
    invoice: &Invoice,
    lines: &[StoredLine],
    parts: &[Part],
    resources: &HashMap<Uuid, Resource>,
) -> Vec<Vec<Option<String>>> {
    let by_no: HashMap<i32, &StoredLine> = lines.iter().map(|l| (l.line_no, l)).collect();
    parts
        .iter()
        .filter_map(|part| {
            let line = by_no.get(&part.line_no)?;
            Some(row(account, invoice, line, part, resources))
        })
        .collect()
}

fn row(
    account: &Account<'_>,
    invoice: &Invoice,
    line: &StoredLine,
    part: &Part,
    resources: &HashMap<Uuid, Resource>,
) -> Vec<Option<String>> {
    let cost = major(part.amount_minor, &invoice.currency);
    let meter = line.meter.as_deref().and_then(|m| m.parse::<Meter>().ok());
    let usage = line.kind == "usage";
    let (category, class, frequency) = charge(&line.kind);
    let service = Service::of(meter);
    let (charge_start, charge_end) = charge_period(invoice, line, part);
    let resource = part.resource_id.and_then(|id| resources.get(&id));
    let sku = match (&line.kind[..], meter, &line.plan) {
        ("usage" | "adjustment", Some(meter), _) => Some(match line.dimension.as_deref() {
            Some(d) if !d.is_empty() => format!("{}:{d}", meter.as_str()),
            _ => meter.as_str().to_owned(),
        }),
        ("base_fee", _, Some(plan)) => Some(format!("plan:{plan}")),
        _ => None,
    };
    let tags = part
        .resource_id
        .map(|_| serde_json::to_string(&part.labels).unwrap_or_default());
    let values: [Option<String>; 33] = [
        Some(cost.clone()),
        Some(account.id.to_string()),
        Some(account.name.to_owned()),
        Some(invoice.currency.to_uppercase()),
        Some(time(invoice.period_end)),
        Some(time(invoice.period_start)),
        Some(category.to_owned()),
        class.map(str::to_owned),
        Some(line.description.clone()),
        Some(time(charge_end)),
        Some(time(charge_start)),
        Some(cost.clone()),
        Some(cost.clone()),
        Some(PROVIDER.to_owned()),
        Some(cost),
        Some(part.pricing_quantity.normalize().to_string()),
        Some(line.unit.clone()),
        Some(PROVIDER.to_owned()),
        Some(PROVIDER.to_owned()),
        Some(service.category.to_owned()),
        Some(service.name.to_owned()),
        usage.then(|| part.quantity.normalize().to_string()),
        meter.filter(|_| usage).map(consumed_unit),
        resource.map(|r| r.region.clone()),
        resource.map(|r| r.region.clone()),
        part.resource_id.map(|id| id.to_string()),
        resource.map(|r| r.name.clone()),
        part.resource_id.map(|_| service.resource_type.to_owned()),
        sku,
        tags,
        Some(frequency.to_owned()),
        Some(invoice.number.clone()),
        Some(service.subcategory.to_owned()),
    ];
    values.into()
}

/// A line kind's ChargeCategory, ChargeClass and ChargeFrequency. A usage
/// correction of a period invoiced before is usage of class `Correction`;
/// the deduction of what an interim invoice of the period already billed
/// is an adjustment.
fn charge(kind: &str) -> (&'static str, Option<&'static str>, &'static str) {
    match kind {
        "usage" => ("Usage", None, "Usage-Based"),
        "base_fee" => ("Purchase", None, "Recurring"),
        "credit" => ("Credit", None, "One-Time"),
        "adjustment" => ("Usage", Some("Correction"), "Usage-Based"),
        _ => ("Adjustment", None, "One-Time"),
    }
}

/// The service a meter belongs to, in FOCUS's words.
struct Service {
    name: &'static str,
    category: &'static str,
    subcategory: &'static str,
    resource_type: &'static str,
}

impl Service {
    fn of(meter: Option<Meter>) -> Service {
        match meter {
            Some(Meter::NodeSeconds | Meter::StorageBytes | Meter::ObjectCount) => Service {
                name: "Managed Vector Database",
                category: "Databases",
                subcategory: "Other (Databases)",
                resource_type: "Vector Cluster",
            },
            Some(
                Meter::GpuSeconds | Meter::InputTokens | Meter::OutputTokens | Meter::Requests,
            ) => Service {
                name: "Inference Endpoints",
                category: "AI and Machine Learning",
                subcategory: "Generative AI",
                resource_type: "Inference Endpoint",
            },
            // The plan's fee and credits: the service as a whole.
            None => Service {
                name: "Quartermaster Plan",
                category: "Other",
                subcategory: "Other (Other)",
                resource_type: "",
            },
        }
    }
}

/// A meter's unit as FOCUS writes units: `Seconds`, `Tokens`; a gauge's
/// quantity is its time integral, as `Byte-Seconds` or `Object-Seconds`.
fn consumed_unit(meter: Meter) -> String {
    let unit = match meter.unit() {
        "seconds" => "Seconds",
        "bytes" => "Byte",
        "objects" => "Object",
        "tokens" => "Tokens",
        "requests" => "Requests",
        other => other,
    };
    match meter.aggregation() {
        Aggregation::Sum => unit.to_owned(),
        Aggregation::TimeWeightedAverage => format!("{unit}-Seconds"),
    }
}

/// A usage part's day within its line's hours; anything else, the period.
fn charge_period(
    invoice: &Invoice,
    line: &StoredLine,
    part: &Part,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = line.usage_from.unwrap_or(invoice.period_start);
    let to = line.usage_to.unwrap_or(invoice.period_end);
    match part.day {
        Some(day) => (day.max(from), (day + Duration::days(1)).min(to)),
        None => (invoice.period_start, invoice.period_end),
    }
}

/// Minor units as a decimal in major units, exactly: `2650` → `26.50`.
pub fn major(minor: i64, currency: &str) -> String {
    let scale = if minor_per_major(currency) == 1 { 0 } else { 2 };
    Decimal::new(minor, scale).to_string()
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The rows as CSV (RFC 4180) with a header of [`COLUMNS`]; a null is an
/// empty field.
pub fn to_csv(rows: &[Vec<Option<String>>]) -> crate::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(COLUMNS)?;
    for row in rows {
        writer.write_record(row.iter().map(|v| v.as_deref().unwrap_or("")))?;
    }
    Ok(writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimals_in_major_units() {
        assert_eq!(major(2650, "usd"), "26.50");
        assert_eq!(major(-5, "eur"), "-0.05");
        assert_eq!(major(0, "usd"), "0.00");
        assert_eq!(major(1000, "jpy"), "1000");
        assert_eq!(major(i64::MAX, "usd"), "92233720368547758.07");
    }

    #[test]
    fn a_correction_of_an_earlier_period_is_usage_of_class_correction() {
        assert_eq!(charge("usage"), ("Usage", None, "Usage-Based"));
        assert_eq!(charge("base_fee"), ("Purchase", None, "Recurring"));
        assert_eq!(
            charge("adjustment"),
            ("Usage", Some("Correction"), "Usage-Based")
        );
        assert_eq!(charge("interim"), ("Adjustment", None, "One-Time"));
    }

    #[test]
    fn gauges_are_consumed_in_unit_seconds() {
        assert_eq!(consumed_unit(Meter::StorageBytes), "Byte-Seconds");
        assert_eq!(consumed_unit(Meter::GpuSeconds), "Seconds");
        assert_eq!(consumed_unit(Meter::InputTokens), "Tokens");
    }
}
