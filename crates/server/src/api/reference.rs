//! The API's reference as a page the server renders itself from its OpenAPI document: no script,
//! nothing loaded from elsewhere, so it works offline and under a strict Content-Security-Policy.

use std::fmt::Write;

use serde_json::Value;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A schema in a few words, linking named schemas to their section.
fn schema(s: &Value) -> String {
    if let Some(name) = s.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    if let Some(options) = s.get("oneOf").or_else(|| s.get("allOf")).and_then(Value::as_array) {
        return options.iter().map(schema).collect::<Vec<_>>().join(" | ");
    }
    let kind = match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => "any".into(),
    };
    match (kind.as_str(), s.get("items"), s.get("enum")) {
        (_, _, Some(Value::Array(values))) => {
            values.iter().map(|v| format!("<code>{}</code>", escape(&v.to_string()))).collect::<Vec<_>>().join(" | ")
        }
        ("array", Some(items), _) => format!("[{}]", schema(items)),
        _ => escape(&kind),
    }
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).map(escape).unwrap_or_default()
}

/// The reference page of `doc`.
pub fn page(doc: &Value) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>idsync admin API</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><link rel=\"stylesheet\" href=\"/api/v1/docs.css\"></head><body>",
    );
    let _ = write!(
        html,
        "<h1>{} <small>{}</small></h1><p>{}</p><p>The machine-readable document: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>",
        text(doc.pointer("/info/title")),
        text(doc.pointer("/info/version")),
        text(doc.pointer("/info/description"))
    );
    let tags: Vec<(&str, String)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?, text(t.get("description")))))
        .collect();
    html.push_str("<nav><ul>");
    for (tag, _) in &tags {
        let _ = write!(html, "<li><a href=\"#tag-{0}\">{0}</a></li>", escape(tag));
    }
    html.push_str("<li><a href=\"#schemas\">schemas</a></li></ul></nav>");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (tag, description) in &tags {
        let _ = write!(html, "<section id=\"tag-{0}\"><h2>{0}</h2><p>{description}</p>", escape(tag));
        for (path, item) in &paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(op) = item.get(method) else { continue };
                if !op["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == tag)) {
                    continue;
                }
                let scope = op.pointer("/security/0/admin_token/0").and_then(Value::as_str).unwrap_or("none");
                let id = text(op.get("operationId"));
                let _ = write!(
                    html,
                    "<article id=\"op-{id}\"><h3><span class=\"method {method}\">{}</span> <code>{}</code></h3><p class=\"scope\">admin token scope: <b>{}</b></p><p>{}</p>",
                    method.to_uppercase(),
                    escape(path),
                    escape(scope),
                    text(op.get("summary")).replace('\n', " ")
                );
                if let Some(params) = op["parameters"].as_array() {
                    html.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>");
                    for p in params {
                        let _ = write!(
                            html,
                            "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            text(p.get("name")),
                            if p["required"] == true { " <i>required</i>" } else { "" },
                            text(p.get("in")),
                            schema(&p["schema"]),
                            text(p.get("description"))
                        );
                    }
                    html.push_str("</table>");
                }
                if let Some(body) = op.pointer("/requestBody/content/application~1json/schema") {
                    let _ = write!(html, "<p>body: {}</p>", schema(body));
                }
                html.push_str("<ul class=\"responses\">");
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    let content = response["content"].as_object().and_then(|c| c.iter().next());
                    let body = content
                        .map(|(kind, c)| format!(" — <code>{}</code> {}", escape(kind), schema(&c["schema"])))
                        .unwrap_or_default();
                    let _ =
                        write!(html, "<li><b>{}</b> {}{body}</li>", escape(status), text(response.get("description")));
                }
                html.push_str("</ul></article>");
            }
        }
        html.push_str("</section>");
    }
    html.push_str("<section id=\"schemas\"><h2>schemas</h2>");
    for (name, s) in doc.pointer("/components/schemas").and_then(Value::as_object).into_iter().flatten() {
        let _ =
            write!(html, "<article id=\"schema-{0}\"><h3>{0}</h3><p>{1}</p>", escape(name), text(s.get("description")));
        let required: Vec<&str> = s["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if let Some(properties) = s["properties"].as_object() {
            html.push_str("<table><tr><th>field</th><th>type</th><th></th></tr>");
            for (field, p) in properties {
                let _ = write!(
                    html,
                    "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(field),
                    if required.contains(&field.as_str()) { " <i>required</i>" } else { "" },
                    schema(p),
                    text(p.get("description"))
                );
            }
            html.push_str("</table>");
        } else {
            let _ = write!(html, "<p>{}</p>", schema(s));
        }
        html.push_str("</article>");
    }
    html.push_str("</section></body></html>\n");
    html
}

pub const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1d1f23}\
h1 small{font-size:.6em;color:#667}nav ul{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0}\
article{border-top:1px solid #dde;padding:.5rem 0}h3{margin:.3rem 0}code{font-size:.95em}\
.method{display:inline-block;min-width:4.5rem;text-align:center;border-radius:4px;color:#fff;font-size:.8em;padding:.1rem .4rem}\
.get{background:#2f6f9f}.post{background:#2e7d4f}.put,.patch{background:#9a6a12}.delete{background:#a33}\
.scope{color:#556;margin:.2rem 0}table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #dde;padding:.2rem .5rem;text-align:left;vertical-align:top}\
i{color:#a33;font-style:normal;font-size:.85em}\n";

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_is_on_the_page_with_its_scope_and_text_is_escaped() {
        let doc = serde_json::to_value(super::super::openapi()).unwrap();
        let page = super::page(&doc);
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                assert!(page.contains(&format!("id=\"op-{id}\"")), "{id} of {path} is on the page");
            }
        }
        assert!(page.contains("admin token scope: <b>operate</b>"));
        assert!(!page.contains("<script"));
        assert_eq!(super::escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
