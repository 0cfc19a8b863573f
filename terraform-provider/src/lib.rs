//! `terraform-provider-quartermaster`: Quartermaster's vector clusters,
//! inference endpoints, API and inference keys, backup schedules,
//! maintenance windows and webhook endpoints as Terraform resources, over
//! the public REST API like any other client (it depends on none of the
//! workspace's crates).
//!
//! Terraform talks to the provider with plugin protocol 6 (served by
//! `tf-provider`); each resource says how to plan, call and convert
//! ([`resource::ApiResource`]), and [`resource::Managed`] does the rest
//! once for all: refresh for drift, replacement, waiting for Ready, errors
//! as diagnostics.

pub mod client;
pub mod data_sources;
pub mod dto;
pub mod error;
pub mod provider;
pub mod resource;
pub mod resources;
pub mod schema;
pub mod settings;
pub mod wait;

pub use provider::QuartermasterProvider;
