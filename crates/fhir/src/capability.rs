//! The server's `CapabilityStatement` (`GET /fhir/R4/metadata`): what the FHIR facade serves,
//! which search parameters it reads, and how a client authenticates.

use serde_json::{json, Value};

/// One resource type the facade serves.
struct Served {
    kind: &'static str,
    read: bool,
    create: bool,
    /// `(name, type, documentation)`.
    params: &'static [(&'static str, &'static str, &'static str)],
}

/// Everything served, in the order of the statement.
const SERVED: &[Served] = &[
    Served {
        kind: "Patient",
        read: true,
        create: false,
        params: &[
            ("name", "string", "Starts a given or family name (case-insensitive)"),
            ("birthdate", "date", "Date of birth; prefixes eq, ge, gt, le, lt"),
        ],
    },
    Served {
        kind: "Practitioner",
        read: true,
        create: false,
        params: &[("name", "string", "Starts a given or family name (case-insensitive)")],
    },
    Served {
        kind: "Appointment",
        read: true,
        create: true,
        params: &[
            ("patient", "reference", "Patient/<id>"),
            ("practitioner", "reference", "Practitioner/<id>"),
            ("date", "date", "Start of the appointment; prefixes eq, ge, gt, le, lt; repeatable (all must hold)"),
            ("status", "token", "booked, pending, fulfilled, cancelled, noshow; comma-separated for any of them"),
        ],
    },
    Served {
        kind: "Schedule",
        read: true,
        create: false,
        params: &[("actor", "reference", "Practitioner/<id>")],
    },
    Served {
        kind: "Slot",
        read: false,
        create: false,
        params: &[
            ("schedule", "reference", "Schedule/<id> (required)"),
            ("start", "date", "Slot start; prefixes ge, gt, le, lt; a window of at most 31 days (default: the next 7 days)"),
            ("status", "token", "free (the only status served)"),
        ],
    },
];

/// The HTTP methods the facade answers at `path` (below [`crate::PATH`]: `/metadata`,
/// `/Patient`, `/Patient/{id}`), from what the statement says it serves: `GET` for the
/// statement, a search or a read, `POST` for a create. Empty for a path it does not serve.
pub fn methods(path: &str) -> Vec<&'static str> {
    if path == "/metadata" {
        return vec!["GET"];
    }
    let mut segments = path.trim_start_matches('/').split('/');
    let (Some(kind), by_id) = (segments.next(), segments.next().is_some()) else {
        return Vec::new();
    };
    let Some(served) = SERVED.iter().find(|s| s.kind == kind) else {
        return Vec::new();
    };
    match (by_id, served.read, served.create) {
        (true, true, _) => vec!["GET"],
        (true, false, _) => Vec::new(),
        (false, _, true) => vec!["GET", "POST"],
        (false, _, false) => vec!["GET"],
    }
}

/// The search result parameters every search reads.
const RESULT_PARAMS: &[(&str, &str, &str)] = &[(
    "_count",
    "number",
    "Page size: default 50, at most 1000; 0 answers the total only",
)];

/// The statement, for a server whose FHIR base is `base` (`https://clinic.example/fhir/R4`),
/// of `software` at `version`, published on `date`.
pub fn statement(base: &str, software: &str, version: &str, date: &str) -> Value {
    let resources: Vec<Value> = SERVED
        .iter()
        .map(|s| {
            let mut interactions = Vec::new();
            if s.read {
                interactions.push(json!({"code": "read"}));
            }
            interactions.push(json!({"code": "search-type"}));
            if s.create {
                interactions.push(json!({"code": "create"}));
            }
            let params: Vec<Value> = s
                .params
                .iter()
                .chain(RESULT_PARAMS)
                .map(|(name, kind, doc)| json!({"name": name, "type": kind, "documentation": doc}))
                .collect();
            json!({
                "type": s.kind,
                "interaction": interactions,
                "versioning": "versioned",
                "readHistory": false,
                "updateCreate": false,
                "searchParam": params,
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": software,
        "kind": "instance",
        "software": {"name": software, "version": version},
        "implementation": {"description": "Healthcare scheduling API, FHIR R4 facade", "url": base},
        "fhirVersion": crate::FHIR_VERSION,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read and search with the same bearer tokens, roles and scope as the REST API (POST /api/token/); every read of patient data is in the audit trail. Errors are OperationOutcome resources.",
            "security": {
                "cors": false,
                "description": "Authorization: Bearer <access token from POST /api/token/>. Only this statement is served without a token.",
            },
            "resource": resources,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_can_be_searched_and_appointments_created() {
        let s = statement("http://x/fhir/R4", "healthcare", "0.1.0", "2026-12-07");
        let resources = s["rest"][0]["resource"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(resources.len(), SERVED.len());
        let creatable: Vec<&str> = resources
            .iter()
            .filter(|r| {
                r["interaction"]
                    .as_array()
                    .is_some_and(|i| i.iter().any(|i| i["code"] == "create"))
            })
            .filter_map(|r| r["type"].as_str())
            .collect();
        assert_eq!(creatable, ["Appointment"]);
    }
}
