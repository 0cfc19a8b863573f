//! An invoice as a printable HTML document, self-contained (inline CSS), so
//! it can be saved or printed to PDF from any browser.

use std::fmt::Write;

use billing::invoice::{Invoice, StoredLine};
use billing::money;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn render(organization: &str, invoice: &Invoice, lines: &[StoredLine]) -> String {
    let money = |minor: i64| escape(&money::format(minor, &invoice.currency));
    let mut rows = String::new();
    for line in lines {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td class=num>{}</td><td>{}</td><td class=num>{}</td><td class=num>{}</td></tr>",
            escape(&line.description),
            escape(&line.quantity.round_dp(6).normalize().to_string()),
            escape(&line.unit),
            money(line.unit_amount_minor),
            money(line.amount_minor),
        );
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Invoice {number}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #1b1f24; }}
table {{ width: 100%; border-collapse: collapse; }}
th, td {{ text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #d8dee4; }}
.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tfoot td {{ font-weight: 600; border: none; }}
.status {{ display: inline-block; padding: 0 .5rem; border-radius: 1rem; background: #eef1f4; }}
</style></head>
<body>
<h1>Invoice {number} <span class="status">{status}</span></h1>
<p>Billed to <strong>{organization}</strong><br>
Period {start} to {end}</p>
<table>
<thead><tr><th>Description</th><th class=num>Quantity</th><th>Unit</th><th class=num>Unit price</th><th class=num>Amount</th></tr></thead>
<tbody>{rows}</tbody>
<tfoot>
<tr><td colspan=4 class=num>Subtotal</td><td class=num>{subtotal}</td></tr>
<tr><td colspan=4 class=num>Credits</td><td class=num>-{credits}</td></tr>
<tr><td colspan=4 class=num>Total</td><td class=num>{total}</td></tr>
</tfoot>
</table>
</body></html>
"#,
        number = escape(&invoice.number),
        status = escape(invoice.status.as_str()),
        organization = escape(organization),
        start = invoice.period_start.format("%Y-%m-%d"),
        end = invoice.period_end.format("%Y-%m-%d"),
        subtotal = money(invoice.subtotal_minor),
        credits = money(invoice.credits_minor),
        total = money(invoice.total_minor),
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_names_is_shown_not_run() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'co'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"
        );
    }
}
