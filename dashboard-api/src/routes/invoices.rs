//! Invoices as customers see them: the list, one invoice with its lines,
//! its printable document, and each usage line traced back to the hourly
//! rollups it rated.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use billing::invoice::{Invoice, Rollup, StoredLine};
use billing::money;
use billing::rating::Line;
use chrono::{DateTime, Utc};
use control_plane::money::invoices;
use metering::corrections::Correction;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::{List, ProblemJson};
use crate::unit::OrgRead;

#[derive(Debug, Serialize, ToSchema)]
pub struct LineJson {
    pub line_no: Option<i32>,
    /// base_fee, usage, credit, adjustment or interim (what an interim
    /// invoice of the period billed, deducted).
    pub kind: String,
    pub description: String,
    pub plan: Option<String>,
    /// For usage lines: which rollups were rated.
    pub meter: Option<String>,
    /// The GPU model; for token meters the model, every key's tokens of it
    /// summed.
    pub dimension: Option<String>,
    /// For usage lines priced by a catalog price list (usage in a
    /// customer-run data plane), its id; the rollups are that list's.
    pub price_list: Option<String>,
    pub usage_from: Option<DateTime<Utc>>,
    pub usage_to: Option<DateTime<Utc>>,
    pub rollup_rows: Option<i64>,
    /// The rollups' sum (seconds or tokens, or value × seconds for gauges).
    #[schema(value_type = Option<String>)]
    pub rollup_quantity: Option<Decimal>,
    /// The plan's allowance over the same time, in the same unit.
    #[schema(value_type = Option<String>)]
    pub included_quantity: Option<Decimal>,
    /// Billed quantity in `unit`s: (rollups − allowance) ÷ unit size.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    pub unit: String,
    pub unit_amount_minor: i64,
    /// `quantity × unit_amount_minor`, rounded half away from zero; for
    /// an adjustment, the change of the adjusted line's amount (or the part
    /// of it this invoice could take).
    pub amount_minor: i64,
    pub amount: String,
    /// For an adjustment: the invoice and line it adjusts, and the usage
    /// correction behind it.
    pub adjusts_invoice_id: Option<Uuid>,
    pub adjusts_line_no: Option<i32>,
    pub correction_id: Option<Uuid>,
    /// For an interim line: the interim invoice it deducts.
    pub billed_invoice_id: Option<Uuid>,
}

impl LineJson {
    fn from_stored(l: StoredLine, currency: &str) -> Self {
        LineJson {
            line_no: Some(l.line_no),
            amount: money::format(l.amount_minor, currency),
            kind: l.kind,
            description: l.description,
            plan: l.plan,
            meter: l.meter,
            dimension: l.dimension,
            price_list: l.price_list,
            usage_from: l.usage_from,
            usage_to: l.usage_to,
            rollup_rows: l.rollup_rows,
            rollup_quantity: l.rollup_quantity,
            included_quantity: l.included_quantity,
            quantity: l.quantity,
            unit: l.unit,
            unit_amount_minor: l.unit_amount_minor,
            amount_minor: l.amount_minor,
            adjusts_invoice_id: l.adjusts_invoice_id,
            adjusts_line_no: l.adjusts_line_no,
            correction_id: l.correction_id,
            billed_invoice_id: l.billed_invoice_id,
        }
    }

    pub(super) fn from_rated(l: Line, currency: &str) -> Self {
        let source = l.source;
        LineJson {
            line_no: None,
            amount: money::format(l.amount_minor, currency),
            kind: l.kind.as_str().to_owned(),
            description: l.description,
            plan: l.plan,
            meter: source.as_ref().map(|s| s.meter.as_str().to_owned()),
            dimension: source.as_ref().map(|s| s.dimension.clone()),
            price_list: source.as_ref().and_then(|s| s.price_list.clone()),
            usage_from: source.as_ref().map(|s| s.from),
            usage_to: source.as_ref().map(|s| s.to),
            rollup_rows: source.as_ref().map(|s| s.rows),
            rollup_quantity: source.as_ref().map(|s| s.quantity),
            included_quantity: source.as_ref().map(|s| s.included),
            quantity: l.quantity,
            unit: l.unit,
            unit_amount_minor: l.unit_amount_minor,
            amount_minor: l.amount_minor,
            adjusts_invoice_id: l.adjusts.map(|a| a.invoice_id),
            adjusts_line_no: l.adjusts.map(|a| a.line_no),
            correction_id: l.adjusts.map(|a| a.correction_id),
            billed_invoice_id: l.billed_invoice,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceJson {
    /// Always `invoice`.
    pub object: &'static str,
    pub id: Uuid,
    pub number: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub currency: String,
    /// `period` (written when the period closes) or `interim` (issued
    /// during the period when unbilled usage reached the plan's threshold).
    pub kind: String,
    /// An interim invoice's: it billed the usage of the hours before this.
    pub usage_to: Option<DateTime<Utc>>,
    /// open, paid, void or uncollectible.
    pub status: String,
    pub subtotal_minor: i64,
    pub credits_minor: i64,
    pub total_minor: i64,
    pub total: String,
    pub due_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub payment_error: Option<String>,
    /// The catalog version it was rated with.
    pub catalog_version: i64,
    /// With `GET …/invoices/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<LineJson>>,
}

impl InvoiceJson {
    fn new(i: Invoice, lines: Option<Vec<StoredLine>>) -> Self {
        let currency = i.currency.clone();
        InvoiceJson {
            object: "invoice",
            id: i.id,
            total: money::format(i.total_minor, &i.currency),
            number: i.number,
            period_start: i.period_start,
            period_end: i.period_end,
            kind: i.kind,
            usage_to: i.usage_to,
            status: i.status.as_str().to_owned(),
            subtotal_minor: i.subtotal_minor,
            credits_minor: i.credits_minor,
            total_minor: i.total_minor,
            due_at: i.due_at,
            paid_at: i.paid_at,
            payment_error: i.payment_error,
            catalog_version: i.catalog_version,
            currency: i.currency,
            lines: lines.map(|lines| {
                lines
                    .into_iter()
                    .map(|l| LineJson::from_stored(l, &currency))
                    .collect()
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineUsageJson {
    /// Always `line_usage`.
    pub object: &'static str,
    pub line: LineJson,
    /// The hourly rollups the line rated, as stored now.
    #[schema(value_type = Vec<Object>)]
    pub rollups: Vec<Rollup>,
    /// Their sum now; equal to the line's `rollup_quantity` unless late
    /// usage arrived after the close.
    #[schema(value_type = String)]
    pub sum: Decimal,
    /// The usage corrections of the line's meter in its hours, oldest
    /// first: in the rollups (`in_rollups`), or adjusting the line on a
    /// later invoice.
    pub corrections: Vec<LineCorrectionJson>,
}

/// A usage correction as the customer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineCorrectionJson {
    pub id: Uuid,
    /// `void` or `set`.
    pub action: String,
    pub value: Option<i64>,
    pub reason: String,
    /// Events it changed.
    pub events: i64,
    /// Whether it is in the rollups (made before the period was invoiced).
    pub in_rollups: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Correction> for LineCorrectionJson {
    fn from(c: Correction) -> Self {
        LineCorrectionJson {
            id: c.id,
            action: c.action,
            value: c.value,
            reason: c.reason,
            events: c.events,
            in_rollups: c.in_rollups,
            created_at: c.created_at,
        }
    }
}

/// The organization's invoices, newest first.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/invoices", tag = "billing",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = List<InvoiceJson>), (status = 404, body = ProblemJson)))]
pub async fn list_invoices(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
) -> Result<Json<List<InvoiceJson>>, ApiError> {
    let invoices = invoices::list(&mut conn, &access).await?;
    Ok(Json(List {
        object: "list",
        data: invoices
            .into_iter()
            .map(|i| InvoiceJson::new(i, None))
            .collect(),
        has_more: false,
    }))
}

/// One invoice with its lines.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/invoices/{invoice_id}", tag = "billing",
    params(("org_id" = Uuid, Path), ("invoice_id" = Uuid, Path)),
    responses((status = 200, body = InvoiceJson), (status = 404, body = ProblemJson)))]
pub async fn get_invoice(
    OrgRead(mut conn, access, (_, invoice_id)): OrgRead<(Uuid, Uuid)>,
) -> Result<Json<InvoiceJson>, ApiError> {
    let (invoice, lines) = invoices::get(&mut conn, &access, invoice_id).await?;
    Ok(Json(InvoiceJson::new(invoice, Some(lines))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DocumentParams {
    /// Any value: answer as a file to save (`Content-Disposition: attachment`).
    pub download: Option<String>,
}

/// The invoice as a printable HTML document.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/invoices/{invoice_id}/html", tag = "billing",
    params(("org_id" = Uuid, Path), ("invoice_id" = Uuid, Path), DocumentParams),
    responses((status = 200, content_type = "text/html", body = String), (status = 404, body = ProblemJson)))]
pub async fn invoice_html(
    OrgRead(mut conn, access, (_, invoice_id)): OrgRead<(Uuid, Uuid)>,
    crate::extract::Query(params): crate::extract::Query<DocumentParams>,
) -> Result<Response, ApiError> {
    let organization = control_plane::organizations::get(&mut conn, &access).await?;
    let (invoice, lines) = invoices::get(&mut conn, &access, invoice_id).await?;
    let html = crate::invoice_document::render(&organization.name, &invoice, &lines);
    let mut response = html.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if params.download.is_some()
        && let Ok(value) =
            HeaderValue::from_str(&format!("attachment; filename=\"{}.html\"", invoice.number))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The hourly rollups behind one usage line, and the usage corrections in
/// them or adjusting the line since.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/invoices/{invoice_id}/lines/{line_no}/usage",
    tag = "billing",
    params(("org_id" = Uuid, Path), ("invoice_id" = Uuid, Path), ("line_no" = i32, Path)),
    responses((status = 200, body = LineUsageJson), (status = 404, body = ProblemJson)))]
pub async fn line_usage(
    OrgRead(mut conn, access, (_, invoice_id, line_no)): OrgRead<(Uuid, Uuid, i32)>,
) -> Result<Json<LineUsageJson>, ApiError> {
    let (invoice, _) = invoices::get(&mut conn, &access, invoice_id).await?;
    let trace = invoices::line_rollups(&mut conn, &access, invoice_id, line_no).await?;
    let sum = trace.rollups.iter().map(|r| r.quantity).sum();
    Ok(Json(LineUsageJson {
        object: "line_usage",
        line: LineJson::from_stored(trace.line, &invoice.currency),
        rollups: trace.rollups,
        sum,
        corrections: trace.corrections.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BreakdownParams {
    /// The label key to break the invoice down by, such as `team`: a
    /// Kubernetes label key (an optional DNS subdomain prefix of at most
    /// 253 characters and `/`, then a name of at most 63).
    #[param(
        example = "team",
        pattern = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
    )]
    pub label: String,
}

/// What one value of the label was billed.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabelAmountJson {
    /// The label's value; `null` for usage of resources without the label.
    pub value: Option<String>,
    pub amount_minor: i64,
    pub amount: String,
}

/// An amount of no resource: the base fee or credits.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnallocatedJson {
    /// `base_fee` or `credit`.
    pub kind: String,
    pub amount_minor: i64,
    pub amount: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceBreakdownJson {
    /// Always `invoice_breakdown`.
    pub object: &'static str,
    pub invoice_id: Uuid,
    pub currency: String,
    /// The label key broken down by.
    pub label: String,
    /// Usage per value of the label, values by name, unlabelled last.
    pub values: Vec<LabelAmountJson>,
    /// The base fee and credits, which belong to no resource.
    pub unallocated: Vec<UnallocatedJson>,
    /// The invoice's total: `values` and `unallocated` add up to it.
    pub total_minor: i64,
}

/// The invoice broken down by a label. Each usage line's amount is split
/// over the resources whose hourly rollups it rated, in proportion to their
/// quantity (largest remainder, so the parts add up to the line exactly),
/// and each hour counts under the labels its resource carried when the
/// hour started; the base fee and credits are not allocated to a resource.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/invoices/{invoice_id}/breakdown",
    tag = "billing",
    params(("org_id" = Uuid, Path), ("invoice_id" = Uuid, Path), BreakdownParams),
    responses(
        (status = 200, body = InvoiceBreakdownJson),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson, description = "the label is not a valid label key"),
    ))]
pub async fn breakdown(
    OrgRead(mut conn, access, (_, invoice_id)): OrgRead<(Uuid, Uuid)>,
    crate::extract::Query(params): crate::extract::Query<BreakdownParams>,
) -> Result<Json<InvoiceBreakdownJson>, ApiError> {
    let (invoice, breakdown) =
        invoices::breakdown(&mut conn, &access, invoice_id, &params.label).await?;
    let currency = invoice.currency;
    Ok(Json(InvoiceBreakdownJson {
        object: "invoice_breakdown",
        invoice_id: invoice.id,
        label: breakdown.key,
        values: breakdown
            .by_value
            .into_iter()
            .map(|v| LabelAmountJson {
                amount: money::format(v.amount_minor, &currency),
                value: v.value,
                amount_minor: v.amount_minor,
            })
            .collect(),
        unallocated: breakdown
            .unallocated
            .into_iter()
            .map(|(kind, amount_minor)| UnallocatedJson {
                amount: money::format(amount_minor, &currency),
                kind,
                amount_minor,
            })
            .collect(),
        total_minor: invoice.total_minor,
        currency,
    }))
}
