//! Sizes in Kubernetes' quantity notation, read in integers.

/// Bytes in a Kubernetes quantity (`20Gi`, `21474836480`, `1.5Ti`, `32G`),
/// rounded down, in integers; `None` for a quantity that is not a size.
pub fn bytes(quantity: &str) -> Option<u64> {
    let split = quantity
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let factor: u128 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.len() > 9 {
        return None;
    }
    let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    u64::try_from(digits.checked_mul(factor)? / scale).ok()
}

/// Whole GiB in a quantity, rounded down.
pub fn gib(quantity: &str) -> Option<u32> {
    u32::try_from(bytes(quantity)? >> 30).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_in_integers() {
        assert_eq!(gib("20Gi"), Some(20));
        assert_eq!(gib("21474836480"), Some(20));
        assert_eq!(gib("1Ti"), Some(1024));
        assert_eq!(gib("1500Mi"), Some(1));
        assert_eq!(gib("32G"), Some(29));
        assert_eq!(bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(bytes(".5Gi"), Some(1 << 29));
        assert_eq!(bytes(""), None);
        assert_eq!(gib("10Xi"), None);
        assert_eq!(gib("lots"), None);
    }
}
