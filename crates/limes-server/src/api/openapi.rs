//! The OpenAPI 3.1 document, generated from the handlers' annotations and the routes they are
//! registered on ([`routes()`]), so every served path is described and nothing else is.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{alerts, events, ingest, meta, read, witness, AppState};
use crate::release::{AlertOut, EventOut, FacilityOut, TrackOut};

/// An error reply.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// One sentence.
    pub error: String,
    /// Particulars, e.g. `{"field": "unit"}`.
    pub details: serde_json::Value,
}

/// An ingest body sent as JSON: one record, or an array of records.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum IngestBody {
    /// One record.
    One(limes_core::record::SensorRecord),
    /// Many.
    Many(Vec<limes_core::record::SensorRecord>),
}

/// `GET /api/v1/alerts`.
#[derive(Serialize, ToSchema)]
pub struct AlertList {
    /// The alerts.
    pub alerts: Vec<AlertOut>,
}

/// `GET /api/v1/events`.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    /// The events.
    pub events: Vec<EventOut>,
}

/// `GET /api/v1/tracks`.
#[derive(Serialize, ToSchema)]
pub struct TrackList {
    /// The tracks.
    pub tracks: Vec<TrackOut>,
}

/// `GET /api/v1/facilities`.
#[derive(Serialize, ToSchema)]
pub struct FacilityList {
    /// The facilities.
    pub facilities: Vec<FacilityOut>,
}

/// `GET /api/v1/nuisance`.
#[derive(Serialize, ToSchema)]
pub struct NuisanceList {
    /// The counts.
    pub nuisance: Vec<alerts::NuisanceRow>,
}

/// `GET /api/v1/audit`.
#[derive(Serialize, ToSchema)]
pub struct AuditList {
    /// The entries.
    pub entries: Vec<crate::audit::AuditEntry>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Limes",
        description = "The live system of Limes: sensors in, alerts and the picture out, released per partner organisation. Every item is released by the site's policy; ids are opaque and per organisation; an alert (or assessed event) that does not exist and one not released to the caller get the same 404.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&Bearer)
)]
struct Doc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token: `lms_` and 64 hex digits"))
                    .build(),
            ),
        );
    }
}

/// Every route of the partners' API, with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Doc::openapi())
        .routes(routes!(ingest::ingest))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::one))
        .routes(routes!(crate::deliver::cap::cap))
        .routes(routes!(crate::deliver::cap::feed::feed))
        .routes(routes!(alerts::ack))
        .routes(routes!(alerts::assign))
        .routes(routes!(alerts::resolve))
        .routes(routes!(alerts::nuisance))
        .routes(routes!(events::list_events))
        .routes(routes!(events::one_event))
        .routes(routes!(read::tracks))
        .routes(routes!(read::facilities))
        .routes(routes!(read::update_facility))
        .routes(routes!(crate::deliver::sse::stream))
        .routes(routes!(read::audit))
        .routes(routes!(witness::checkpoint))
        .routes(routes!(witness::key))
        .routes(routes!(witness::consistency))
        .routes(routes!(witness::inclusion))
        .routes(routes!(read::create_token))
        .routes(routes!(read::revoke_token))
        .routes(routes!(read::stats))
        .routes(routes!(meta::clock))
        .routes(routes!(meta::openapi))
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::readyz))
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}
