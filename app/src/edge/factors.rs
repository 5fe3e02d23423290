//! What the API and the pages share about second factors: a passkey's name as given,
//! the refusal words of a passkey sign-in, and the count of every second-factor proof.

use poem::http::StatusCode;
use tessera_domain::auth::SecondStepError;
use tessera_domain::mfa::PasskeyName;

use super::AppState;
use crate::problem::ApiError;

/// A passkey's name as the user typed it: 422 `invalid_name` when it is empty or long.
pub fn passkey_name(raw: &str) -> Result<PasskeyName, Box<ApiError>> {
    PasskeyName::parse(raw).map_err(|why| {
        Box::new(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            why,
        ))
    })
}

/// Counts a second step or passkey sign-in (`tessera_second_factors_total`).
pub fn count_second_factor<T>(
    state: &AppState,
    method: &'static str,
    result: &Result<T, SecondStepError>,
) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(
            SecondStepError::InvalidChallenge
            | SecondStepError::InvalidCode
            | SecondStepError::NoPasskey
            | SecondStepError::Throttled(_),
        ) => "refused",
        Err(_) => "error",
    };
    state.telemetry.metrics.second_factors.add(
        1,
        &[
            opentelemetry::KeyValue::new("method", method),
            opentelemetry::KeyValue::new("outcome", outcome),
        ],
    );
}

/// A passkey sign-in's refusals say nothing about which part was wrong.
pub fn passkey_refusal(e: SecondStepError) -> ApiError {
    match e {
        SecondStepError::InvalidChallenge
        | SecondStepError::InvalidCode
        | SecondStepError::NoPasskey => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_passkey",
            "the passkey was not accepted; start again with new options",
        ),
        e => e.into(),
    }
}
