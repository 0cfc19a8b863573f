//! Amounts for people: integer minor units shown in their currency.

/// `2650, "usd"` → `$26.50`; other currencies as `26.50 EUR`. Every
/// currency the catalog may use has two decimals; zero-decimal currencies
/// (JPY) are shown as such.
pub fn format(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let number = if minor_per_major(currency) == 1 {
        group(abs)
    } else {
        format!("{}.{:02}", group(abs / 100), abs % 100)
    };
    match currency {
        "usd" => format!("{sign}${number}"),
        "eur" => format!("{sign}€{number}"),
        "gbp" => format!("{sign}£{number}"),
        other => format!("{sign}{number} {}", other.to_uppercase()),
    }
}

/// How many minor units make one of the currency: 100, or 1 for the
/// zero-decimal currencies (JPY).
pub fn minor_per_major(currency: &str) -> i64 {
    if matches!(currency, "jpy" | "krw" | "vnd" | "clp" | "isk") {
        1
    } else {
        100
    }
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn amounts_are_shown_in_their_currency() {
        assert_eq!(format(2650, "usd"), "$26.50");
        assert_eq!(format(5, "usd"), "$0.05");
        assert_eq!(format(-1500, "usd"), "-$15.00");
        assert_eq!(format(123_456_789, "eur"), "€1,234,567.89");
        assert_eq!(format(1000, "jpy"), "1,000 JPY");
        assert_eq!(format(100, "chf"), "1.00 CHF");
    }
}
