//! docs/api.md's reference tables (operations; request bodies, field by field, with every limit)
//! are rendered from the served OpenAPI document, so the prose reference cannot drift from the
//! contract. `UPDATE_DOCS=1 cargo test -p healthcare-api --test api_reference` rewrites them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::Value;
use std::fmt::Write;

const BEGIN: &str = "<!-- reference: generated from the OpenAPI document; do not edit by hand -->";
const END: &str = "<!-- end of reference -->";

fn resolve<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    match schema["$ref"].as_str() {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
        None => schema,
    }
}

fn type_of(doc: &Value, schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        let target = resolve(doc, schema);
        return match target["enum"].as_array() {
            Some(values) => format!("{name}: {}", codes(values)),
            None => name.to_owned(),
        };
    }
    let base = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    let base = match schema["format"].as_str() {
        Some(f) => format!("{base} ({f})"),
        None => base,
    };
    if base == "array" {
        return format!("array of {}", type_of(doc, &schema["items"]));
    }
    match schema["enum"].as_array() {
        Some(values) => format!("{base}: {}", codes(values)),
        None => base,
    }
}

fn codes(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn limits(schema: &Value) -> String {
    let mut out = Vec::new();
    let n = |k: &str| schema[k].as_i64();
    match (n("minLength"), n("maxLength")) {
        (Some(a), Some(b)) => out.push(format!("{a}-{b} characters")),
        (None, Some(b)) => out.push(format!("at most {b} characters")),
        (Some(a), None) => out.push(format!("at least {a} characters")),
        _ => {}
    }
    match (n("minimum"), n("maximum")) {
        (Some(a), Some(b)) => out.push(format!("{a}-{b}")),
        (None, Some(b)) => out.push(format!("at most {b}")),
        (Some(a), None) => out.push(format!("at least {a}")),
        _ => {}
    }
    if let Some(m) = n("maxItems") {
        out.push(format!("at most {m} items"));
    }
    if let Some(p) = schema["pattern"].as_str() {
        out.push(format!("pattern `{p}`"));
    }
    if let Some(d) = schema.get("default") {
        out.push(format!("default `{d}`"));
    }
    out.join("; ")
}

fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

fn render(doc: &Value) -> String {
    let mut out = String::new();
    out.push_str("### Operations\n\n| method and path | operationId | answers |\n|---|---|---|\n");
    let mut bodies: Vec<(String, Vec<String>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let answers = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let endpoint = format!("{} {path}", method.to_uppercase());
            writeln!(
                out,
                "| `{endpoint}` | `{}` | {answers} |",
                op["operationId"].as_str().unwrap()
            )
            .unwrap();
            if let Some(r) = op
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(Value::as_str)
            {
                let name = r.rsplit('/').next().unwrap().to_owned();
                match bodies.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, uses)) => uses.push(endpoint),
                    None => bodies.push((name, vec![endpoint])),
                }
            }
        }
    }
    out.push_str("\n### Request bodies\n");
    bodies.sort();
    for (name, uses) in bodies {
        let schema = &doc["components"]["schemas"][&name];
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        write!(
            out,
            "\n#### {name}\n\n{}\n\nSent to {}.\n\n| field | type | required | limits | notes |\n|---|---|---|---|---|\n",
            cell(schema["description"].as_str().unwrap_or_default()),
            uses.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ")
        )
        .unwrap();
        for (field, prop) in schema["properties"].as_object().unwrap() {
            let target = resolve(doc, prop);
            let description = prop["description"]
                .as_str()
                .or(target["description"].as_str())
                .unwrap_or_default();
            writeln!(
                out,
                "| `{field}` | {} | {} | {} | {} |",
                cell(&type_of(doc, prop)),
                if required.contains(&field.as_str()) {
                    "yes"
                } else {
                    "no"
                },
                cell(&limits(target)),
                cell(description)
            )
            .unwrap();
        }
    }
    out
}

#[test]
fn api_md_reference_tables_match_the_document() {
    let doc = healthcare_api::openapi::document().unwrap();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
    let text = std::fs::read_to_string(&file).unwrap();
    let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        panic!("docs/api.md has no generated reference section ({BEGIN} ... {END})");
    };
    let rendered = render(&doc);
    let current = &text[start + BEGIN.len()..end];
    let expected = format!("\n\n{rendered}\n");
    if current != expected {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{BEGIN}{expected}{}", &text[..start], &text[end..]);
            std::fs::write(&file, updated).unwrap();
        } else {
            panic!(
                "docs/api.md's reference tables differ from the OpenAPI document; run \
                 UPDATE_DOCS=1 cargo test -p healthcare-api --test api_reference"
            );
        }
    }
}
