//! Organizations and their members.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use control_plane::access::{self, Principal, Role};
use control_plane::accounts::Email;
use control_plane::idempotency::Scope;
use control_plane::organizations::{self, OrganizationName};
use control_plane::validation::ValidationErrors;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{Caller, Json as Body, Mutation};
use crate::json::{
    AddMemberRequest, CreateOrganizationRequest, List, MemberJson, OrganizationJson, ProblemJson,
};
use crate::state::AppState;
use crate::unit::{Begun, OrgMutation, OrgRead, Unit};

/// The caller's organizations: a user's memberships, or an API key's own.
#[utoipa::path(get, path = "/v1/organizations", tag = "organizations",
    responses((status = 200, body = List<OrganizationJson>), (status = 401, body = ProblemJson)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<Json<List<OrganizationJson>>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let ids: Vec<Uuid> = match &principal {
        Principal::User { user_id } => organizations::memberships(&mut conn, *user_id)
            .await?
            .into_iter()
            .map(|m| m.organization_id)
            .collect(),
        Principal::ApiKey {
            organization_id, ..
        } => vec![*organization_id],
    };
    let mut data = Vec::with_capacity(ids.len());
    for id in ids {
        let access = access::resolve(&mut conn, &principal, id).await?;
        data.push(organizations::get(&mut conn, &access).await?.into());
    }
    Ok(Json(List {
        object: "list",
        data,
        has_more: false,
    }))
}

/// Creates an organization owned by the logged-in user, on the free plan.
#[utoipa::path(post, path = "/v1/organizations", tag = "organizations",
    request_body = CreateOrganizationRequest,
    responses((status = 201, body = OrganizationJson), (status = 422, body = ProblemJson)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mutation: Mutation<Body<CreateOrganizationRequest>>,
) -> Result<Response, ApiError> {
    let user_id = caller.user_id()?;
    let name = OrganizationName::parse(&mutation.body.0.name)
        .map_err(|e| control_plane::Error::Validation(ValidationErrors::single("name", e)))?;
    let unit = Unit::begin(&state).await?;
    let mut unit = match unit.claim(Scope::user(user_id), &mutation).await? {
        Begun::Fresh(unit) => unit,
        Begun::Replay(saved) => return Ok(saved),
    };
    let organization = organizations::create(unit.conn(), user_id, name).await?;
    unit.answer(StatusCode::CREATED, &OrganizationJson::from(organization))
        .await
}

/// One organization, with its plan.
#[utoipa::path(get, path = "/v1/organizations/{org_id}", tag = "organizations",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = OrganizationJson), (status = 404, body = ProblemJson)))]
pub async fn get(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
) -> Result<Json<OrganizationJson>, ApiError> {
    Ok(Json(organizations::get(&mut conn, &access).await?.into()))
}

/// The organization's members and their roles.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/members", tag = "organizations",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = List<MemberJson>), (status = 404, body = ProblemJson)))]
pub async fn members(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
) -> Result<Json<List<MemberJson>>, ApiError> {
    let members = organizations::members(&mut conn, &access).await?;
    Ok(Json(List {
        object: "list",
        data: members.into_iter().map(MemberJson::from).collect(),
        has_more: false,
    }))
}

/// Adds an existing user to the organization.
#[utoipa::path(post, path = "/v1/organizations/{org_id}/members", tag = "organizations",
    params(("org_id" = Uuid, Path)),
    request_body = AddMemberRequest,
    responses(
        (status = 201, body = MemberJson),
        (status = 404, body = ProblemJson, description = "No such organization, or no user with that email"),
        (status = 409, body = ProblemJson, description = "already-member"),
    ))]
pub async fn add_member(
    OrgMutation(mut unit, access, _, Body(request)): OrgMutation<Uuid, Body<AddMemberRequest>>,
) -> Result<Response, ApiError> {
    let mut errors = ValidationErrors::default();
    let email = errors.check("email", Email::parse(&request.email));
    let role = errors.check("role", request.role.parse::<Role>());
    let (email, role) = errors.finish(email.zip(role))?;
    let member = organizations::add_member(unit.conn(), &access, &email, role).await?;
    unit.answer(StatusCode::CREATED, &MemberJson::from(member))
        .await
}

/// Removes a member. The last owner cannot be removed.
#[utoipa::path(delete, path = "/v1/organizations/{org_id}/members/{user_id}", tag = "organizations",
    params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = ProblemJson),
        (status = 409, body = ProblemJson, description = "last-owner"),
    ))]
pub async fn remove_member(
    OrgMutation(mut unit, access, (_, user_id), ()): OrgMutation<(Uuid, Uuid), ()>,
) -> Result<Response, ApiError> {
    organizations::remove_member(unit.conn(), &access, user_id).await?;
    unit.answer(StatusCode::NO_CONTENT, &()).await
}
