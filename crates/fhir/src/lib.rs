//! The FHIR R4 (4.0.1) view of the healthcare scheduling domain (docs/fhir.md): the resources
//! the API serves ([`resources`]), how domain records map to them ([`map`]), how a FHIR
//! `Appointment` becomes a booking ([`booking`]), the search parameters ([`search`]) and the
//! server's `CapabilityStatement` ([`capability`]). No I/O and no HTTP: the API crate serves
//! these; other programs can reuse the mapping.

pub mod booking;
pub mod capability;
pub mod map;
pub mod resources;
pub mod search;

/// The FHIR version served.
pub const FHIR_VERSION: &str = "4.0.1";

/// The media type of every FHIR answer.
pub const MEDIA_TYPE: &str = "application/fhir+json";

/// Where the API serves FHIR, below its base URL.
pub const PATH: &str = "/fhir/R4";
