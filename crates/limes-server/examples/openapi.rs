//! Prints the API's OpenAPI document (as served at `/api/v1/openapi.json`).

fn main() {
    print!(
        "{}",
        limes_server::api::openapi::document()
            .to_pretty_json()
            .unwrap_or_default()
    );
}
