//! What can go wrong talking to the API, and how Terraform shows it: a
//! problem document's `title` becomes the diagnostic's summary and its
//! `detail` (with every field at fault) the detail.

use std::time::Duration;

use tf_provider::Diagnostics;

use crate::dto::Problem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused the request with a problem document.
    #[error("{title}: {detail}")]
    Problem {
        status: u16,
        title: String,
        detail: String,
        fields: Vec<(String, String)>,
    },
    /// An error status without a problem document (a proxy in between, say).
    #[error("the API answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("could not reach the Quartermaster API ({url}): {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the API's answer to {url} is not what this provider expects: {source}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error(
        "{what} is not ready after {waited:?} (phase {phase}); it may still become ready: see the dashboard"
    )]
    Timeout {
        what: String,
        waited: Duration,
        phase: String,
    },
    #[error("{what} is {phase}: {reason}")]
    Failed {
        what: String,
        phase: String,
        reason: String,
    },
}

impl Error {
    pub fn from_problem(status: u16, problem: Problem) -> Self {
        Error::Problem {
            status,
            title: problem.title,
            detail: problem.detail,
            fields: problem
                .errors
                .into_iter()
                .map(|e| (e.field, e.message))
                .collect(),
        }
    }

    /// The resource (or the organization holding it) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Problem { status: 404, .. } | Error::Status { status: 404, .. }
        )
    }

    /// A short line for the diagnostic's summary.
    pub fn summary(&self) -> String {
        match self {
            Error::Problem { title, .. } => title.clone(),
            Error::Status { status, .. } => format!("The Quartermaster API answered {status}"),
            Error::Transport { .. } => "Could not reach the Quartermaster API".to_owned(),
            Error::Decode { .. } => "Unexpected answer from the Quartermaster API".to_owned(),
            Error::Config(_) => "Provider configuration".to_owned(),
            Error::Timeout { .. } => "Timed out waiting for the resource".to_owned(),
            Error::Failed { .. } => "The resource failed".to_owned(),
        }
    }

    /// The whole story for the diagnostic's detail.
    pub fn detail(&self) -> String {
        match self {
            Error::Problem { detail, fields, .. } => {
                let mut text = detail.clone();
                for (field, message) in fields {
                    text.push_str(&format!("\n- {field}: {message}"));
                }
                text
            }
            other => other.to_string(),
        }
    }

    pub fn report(&self, diags: &mut Diagnostics) {
        diags.root_error(self.summary(), self.detail());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::FieldError;

    #[test]
    fn a_problem_shows_its_title_as_summary_and_every_field_in_the_detail() {
        let error = Error::from_problem(
            422,
            Problem {
                title: "The request has invalid fields".into(),
                detail: "2 fields are invalid".into(),
                errors: vec![
                    FieldError {
                        field: "nodes".into(),
                        message: "must be 1 to 16".into(),
                    },
                    FieldError {
                        field: "name".into(),
                        message: "is required".into(),
                    },
                ],
            },
        );
        assert_eq!(error.summary(), "The request has invalid fields");
        assert_eq!(
            error.detail(),
            "2 fields are invalid\n- nodes: must be 1 to 16\n- name: is required"
        );
        assert!(!error.is_not_found());
    }

    #[test]
    fn a_404_problem_means_not_found() {
        let error = Error::from_problem(404, Problem::default());
        assert!(error.is_not_found());
    }
}
