//! The dimension of the token meters (`input_tokens`, `output_tokens`):
//! `"<key uuid> <model>"`, the inference key that was used and the model
//! the endpoint served.
//!
//! The writer of this format is `crds::gateway::token_dimension`, which the
//! data plane's gateway calls; metering cannot depend on `crds` (see the
//! crate graph in DESIGN.md), so it reads the format here, and
//! control-plane's tests check that the two agree.

use uuid::Uuid;

/// A token meter's dimension, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenDimension<'a> {
    pub key_id: Uuid,
    pub model: &'a str,
}

/// Splits `dimension` at its first space into a key id and a model. The key
/// must be spelled as the writer spells it (hyphenated, lowercase) so that
/// one key's usage is always one dimension value; the model must not be
/// empty nor hold control characters.
pub fn parse(dimension: &str) -> Result<TokenDimension<'_>, String> {
    let Some((key, model)) = dimension.split_once(' ') else {
        return Err(format!(
            "`{dimension}` is not `<key uuid> <model>` (no space)"
        ));
    };
    let key_id = key
        .parse::<Uuid>()
        .ok()
        .filter(|id| id.hyphenated().to_string() == key)
        .ok_or_else(|| format!("`{key}` is not a lowercase hyphenated key uuid"))?;
    if model.is_empty() {
        return Err("the model after the key is empty".to_owned());
    }
    if model.chars().any(char::is_control) {
        return Err("the model must not contain control characters".to_owned());
    }
    Ok(TokenDimension { key_id, model })
}

/// The model of a token meter's dimension, or the whole dimension when it
/// is not one (rollups written by hand): what a token price is chosen by.
pub fn model_of(dimension: &str) -> &str {
    parse(dimension).map_or(dimension, |d| d.model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dimension_is_a_key_and_a_model() {
        let key = "0190b6a2-7f4c-7d7e-8a31-2b8f4c1d9e00";
        let ok = [
            ("org/model", "org/model"),
            ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
            // Split at the first space: the rest is the model.
            ("a model", "a model"),
        ];
        for (model, expected) in ok {
            let dimension = format!("{key} {model}");
            let parsed = parse(&dimension).unwrap();
            assert_eq!(parsed.key_id.to_string(), key);
            assert_eq!(parsed.model, expected);
        }
        // dimension, what the reason names
        let bad = [
            ("org/model".to_owned(), "no space"),
            (key.to_owned(), "no space"),
            (format!("{key} "), "model after the key is empty"),
            (format!("{key} org/\u{7}model"), "control characters"),
            ("not-a-uuid org/model".to_owned(), "`not-a-uuid`"),
            (
                format!("{} org/model", key.to_uppercase()),
                "lowercase hyphenated",
            ),
            (
                format!("{} org/model", key.replace('-', "")),
                "lowercase hyphenated",
            ),
            (format!(" {key} org/model"), "is not a lowercase"),
        ];
        for (dimension, reason) in bad {
            let err = parse(&dimension).unwrap_err();
            assert!(err.contains(reason), "{dimension:?}: {err}");
        }
    }

    #[test]
    fn the_model_is_what_follows_the_key_or_the_whole_dimension() {
        assert_eq!(
            model_of("0190b6a2-7f4c-7d7e-8a31-2b8f4c1d9e00 org/model"),
            "org/model"
        );
        assert_eq!(model_of("org/model"), "org/model");
    }
}
