//! The authenticator chain: each configured Authenticator plugin in order; the first that
//! does not answer "not mine" decides. A 401 carries one `WWW-Authenticate` per mechanism.

use super::{error::ApiError, AppState};
use crate::activator::Caller;
use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts, HeaderValue, StatusCode},
};
use std::{net::SocketAddr, sync::Arc};
use whisk_spi::{AuthRequest, AuthVerdict};

fn unauthorized(state: &AppState, message: &str) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNAUTHORIZED, message);
    for a in &state.authenticators {
        if let Ok(m) = a.mechanism() {
            if let Ok(v) = HeaderValue::from_str(&m.challenge()) {
                e.headers.push((header::WWW_AUTHENTICATE, v));
            }
        }
    }
    e
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                state,
                "The resource requires authentication, which was not supplied with the request",
            ));
        };
        let value = value
            .to_str()
            .map_err(|_| unauthorized(state, "The supplied authentication is invalid"))?
            .trim();
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let client_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let request = AuthRequest {
            scheme: scheme.into(),
            credentials: credentials.trim().into(),
            method: parts.method.as_str().into(),
            path: parts.uri.path().into(),
            client_addr: client_addr.into(),
        };
        for authenticator in &state.authenticators {
            let outcome = authenticator
                .authenticate(request.clone())
                .await
                .map_err(|e| ApiError::internal(format!("authentication failed: {e}")))?;
            match outcome.verdict {
                AuthVerdict::AUTHENTICATED => {
                    let Some(identity) = outcome.identity.into_option() else {
                        return Err(ApiError::internal(format!(
                            "authenticator `{}` authenticated without an identity",
                            authenticator.plugin
                        )));
                    };
                    return Ok(Caller {
                        subject: identity.subject.into(),
                        namespace: identity.namespace.into(),
                        api_key: identity.api_key.into_option().map(String::from),
                    });
                }
                AuthVerdict::NOT_MINE => continue,
                verdict => {
                    tracing::info!(plugin = %authenticator.plugin, %verdict, "authentication refused: {}", outcome.reason);
                    return Err(unauthorized(
                        state,
                        "The supplied authentication is invalid",
                    ));
                }
            }
        }
        Err(unauthorized(
            state,
            "The supplied authentication is invalid",
        ))
    }
}

/// The namespace a path names, checked against the caller's (`_` is the caller's own).
pub fn namespace(caller: &Caller, requested: &str) -> Result<String, ApiError> {
    if requested == "_" || requested == caller.namespace {
        Ok(caller.namespace.clone())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("The supplied authentication is not authorized to access '{requested}'."),
        ))
    }
}
