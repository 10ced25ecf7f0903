//! GitHub App authentication: RS256 JWTs signed with the app's private key buy installation
//! tokens that expire; plus the free `GET /rate_limit`.

use super::json::{InstallationToken, RateLimit, RateLimitOverview};
use super::{DOCS, GithubState, not_found, urls};
use crate::server::{Caller, TokenKind, read};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    /// GitHub accepts the app id as a number or a string, or the client id.
    iss: serde_json::Value,
}

/// GitHub's longest accepted JWT lifetime is ten minutes; allow a minute of clock drift on top,
/// as GitHub does for `iat`.
const MAX_LIFETIME_SECS: i64 = 600;
const DRIFT_SECS: i64 = 60;

fn jwt_error(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": message, "documentation_url": DOCS, "status": "401"})),
    )
        .into_response()
}

/// Verifies the bearer JWT against the scenario's app; `Err` is the message of the 401 to send.
fn verify_jwt(state: &GithubState, headers: &HeaderMap) -> Result<(), &'static str> {
    let world = read(&state.world);
    let Some(app) = world.app.as_ref() else {
        return Err("A JSON web token could not be decoded");
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or("A JSON web token could not be decoded")?;
    let key = DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes())
        .map_err(|_| "A JSON web token could not be decoded")?;
    let mut validation = Validation::new(Algorithm::RS256);
    // Time claims are checked below against the simulated clock, not the real one.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|_| "A JSON web token could not be decoded")?;
    let claims = data.claims;
    let now = state.infra.now_secs() as i64;
    let iss_ok = match &claims.iss {
        serde_json::Value::Number(n) => n.as_u64() == Some(app.app_id),
        serde_json::Value::String(s) => s == &app.app_id.to_string(),
        _ => false,
    };
    if !iss_ok {
        return Err("'Issuer' claim ('iss') must be an Integer");
    }
    if claims.iat > now + DRIFT_SECS {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        );
    }
    if claims.exp <= now || claims.exp - claims.iat > MAX_LIFETIME_SECS + DRIFT_SECS {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    Ok(())
}

pub(crate) async fn create_installation_token(
    State(state): State<GithubState>,
    Path(installation_id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    if let Err(message) = verify_jwt(&state, &headers) {
        return jwt_error(message);
    }
    let (lifetime, selection, permissions) = {
        let world = read(&state.world);
        match world.app.as_ref() {
            Some(app) if app.installation_id == installation_id => (
                app.token_lifetime_secs,
                app.repository_selection(),
                app.permissions(),
            ),
            _ => return not_found(),
        }
    };
    let token = format!(
        "ghs_{:016x}{:016x}{:04x}",
        state.infra.next_random(),
        state.infra.next_random(),
        state.infra.next_random() & 0xffff
    );
    let expires = state.infra.now_secs() + lifetime;
    state.infra.add_token(
        token.clone(),
        TokenKind::Installation,
        None,
        None,
        Some(expires),
    );
    let expires_at = chrono::DateTime::from_timestamp(expires as i64, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    (
        StatusCode::CREATED,
        Json(InstallationToken {
            token,
            expires_at,
            permissions,
            repository_selection: Some(selection.to_string()),
        }),
    )
        .into_response()
}

pub(crate) async fn get_org_installation(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(message) = verify_jwt(&state, &headers) {
        return jwt_error(message);
    }
    let world = read(&state.world);
    let Some(app) = world
        .app
        .as_ref()
        .filter(|a| a.org.eq_ignore_ascii_case(&org))
    else {
        return not_found();
    };
    let Some(o) = world.org(&org) else {
        return not_found();
    };
    let base = &state.base;
    Json(json!({
        "id": app.installation_id,
        "account": urls::org_as_owner(base, o),
        "access_tokens_url": format!("{base}/app/installations/{}/access_tokens", app.installation_id),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("{base}/organizations/{}/settings/installations/{}", o.login, app.installation_id),
        "app_id": app.app_id,
        "client_id": format!("Iv1.{:016x}", app.app_id),
        "target_id": o.id,
        "target_type": "Organization",
        "permissions": app.permissions(),
        "events": ["organization", "membership", "member", "team", "repository"],
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "repository_selection": app.repository_selection(),
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
        "app_slug": app.slug,
        "suspended_at": null,
        "suspended_by": null
    }))
    .into_response()
}

/// Free: reports the caller's budget without spending it.
pub(crate) async fn rate_limit(
    State(state): State<GithubState>,
    caller: Option<Extension<Caller>>,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return super::GithubFlavor.unauthorized_response();
    };
    let Some(b) = state.infra.budget(&caller.token) else {
        return super::GithubFlavor.unauthorized_response();
    };
    let core = RateLimit {
        limit: b.limit,
        remaining: b.remaining,
        reset: b.reset,
        used: b.used,
    };
    let fixed = |limit: u64| RateLimit {
        limit,
        remaining: limit,
        reset: b.reset,
        used: 0,
    };
    let resources: BTreeMap<String, RateLimit> = [
        ("core".to_string(), core),
        ("search".to_string(), fixed(30)),
        ("graphql".to_string(), fixed(5000)),
        ("integration_manifest".to_string(), fixed(5000)),
        ("code_search".to_string(), fixed(10)),
    ]
    .into_iter()
    .collect();
    Json(RateLimitOverview {
        resources,
        rate: core,
    })
    .into_response()
}
