//! Short builders for Terraform schemas, so each resource reads as a table
//! of its attributes.

use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, Schema,
};

/// Bumped when a resource's stored state changes shape (then it needs `upgrade`).
const VERSION: i64 = 1;

pub fn string() -> AttributeType {
    AttributeType::String
}

pub fn number() -> AttributeType {
    AttributeType::Number
}

pub fn boolean() -> AttributeType {
    AttributeType::Bool
}

fn attribute(kind: AttributeType, constraint: AttributeConstraint, about: &str) -> Attribute {
    Attribute {
        attr_type: kind,
        description: Description::markdown(about),
        constraint,
        sensitive: false,
        deprecated: false,
    }
}

pub fn required(kind: AttributeType, about: &str) -> Attribute {
    attribute(kind, AttributeConstraint::Required, about)
}

pub fn optional(kind: AttributeType, about: &str) -> Attribute {
    attribute(kind, AttributeConstraint::Optional, about)
}

/// Optional; when left out, the API's value is kept.
pub fn defaulted(kind: AttributeType, about: &str) -> Attribute {
    attribute(kind, AttributeConstraint::OptionalComputed, about)
}

pub fn computed(kind: AttributeType, about: &str) -> Attribute {
    attribute(kind, AttributeConstraint::Computed, about)
}

pub fn sensitive(attribute: Attribute) -> Attribute {
    Attribute {
        sensitive: true,
        ..attribute
    }
}

pub fn schema<'a>(
    about: &str,
    attributes: impl IntoIterator<Item = (&'a str, Attribute)>,
) -> Schema {
    Schema {
        version: VERSION,
        block: Block {
            version: VERSION,
            attributes: attributes
                .into_iter()
                .map(|(name, attribute)| (name.to_owned(), attribute))
                .collect(),
            description: Description::markdown(about),
            ..Default::default()
        },
    }
}
