//! The OpenAPI 3.1 document of the API.

/// The document.
pub fn document() -> serde_json::Value {
    serde_json::from_str(include_str!("openapi.json")).unwrap_or_default()
}
