//! JSON for humans: the conformance files are written compactly in field
//! order (one CIE, cache entry or data-plane output per line), and compared
//! as values with a difference per path.

use serde::Serialize;
use serde_json::Value;

/// A result as compared (a JSON value) and as written (pretty, in field
/// order, so that files read like the packets they show).
pub struct Written {
    pub value: Value,
    pub text: String,
}

impl Written {
    pub fn of(result: &impl Serialize) -> Self {
        let compact = serde_json::to_string(result).unwrap();
        let mut text = String::new();
        Json::parse(&mut compact.as_str()).write(&mut text, 0);
        text.push('\n');
        Written {
            value: serde_json::to_value(result).unwrap(),
            text,
        }
    }
}

/// JSON as serde_json wrote it, in field order, for the pretty printer.
enum Json {
    Scalar(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// A value that is one line when written shorter than this: a CIE, a cache
/// entry, a data-plane output.
const WIDTH: usize = 200;

impl Json {
    /// Parses compact JSON that serde_json produced (so: valid).
    fn parse(text: &mut &str) -> Json {
        let (open, rest) = text.split_at(1);
        *text = rest;
        match open {
            "[" => {
                let mut items = vec![];
                while !text.starts_with(']') {
                    items.push(Json::parse(text));
                    *text = text.strip_prefix(',').unwrap_or(text);
                }
                *text = &text[1..];
                Json::Array(items)
            }
            "{" => {
                let mut fields = vec![];
                while !text.starts_with('}') {
                    let Json::Scalar(key) = Json::parse(text) else {
                        unreachable!("object keys are strings")
                    };
                    *text = &text[1..]; // ':'
                    fields.push((key, Json::parse(text)));
                    *text = text.strip_prefix(',').unwrap_or(text);
                }
                *text = &text[1..];
                Json::Object(fields)
            }
            "\"" => {
                let mut escaped = false;
                let end = text
                    .char_indices()
                    .find(|&(_, c)| {
                        let closes = c == '"' && !escaped;
                        escaped = c == '\\' && !escaped;
                        closes
                    })
                    .map(|(i, _)| i)
                    .unwrap();
                let scalar = format!("\"{}\"", &text[..end]);
                *text = &text[end + 1..];
                Json::Scalar(scalar)
            }
            _ => {
                let end = text.find([',', ']', '}']).unwrap_or(text.len());
                let scalar = format!("{open}{}", &text[..end]);
                *text = &text[end..];
                Json::Scalar(scalar)
            }
        }
    }

    fn compact(&self) -> String {
        match self {
            Json::Scalar(s) => s.clone(),
            Json::Array(items) => {
                let items: Vec<String> = items.iter().map(Json::compact).collect();
                format!("[{}]", items.join(", "))
            }
            Json::Object(fields) if fields.is_empty() => "{}".to_string(),
            Json::Object(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.compact()))
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }
        }
    }

    /// A scalar or an empty container.
    fn is_atom(&self) -> bool {
        match self {
            Json::Scalar(_) => true,
            Json::Array(items) => items.is_empty(),
            Json::Object(fields) => fields.is_empty(),
        }
    }

    /// An object of atoms, or of objects of atoms: one line when short.
    fn is_record(&self) -> bool {
        let shallow = |v: &Json| match v {
            Json::Object(fields) => fields.iter().all(|(_, v)| v.is_atom()),
            other => other.is_atom(),
        };
        match self {
            Json::Object(fields) => fields.iter().all(|(_, v)| shallow(v)),
            other => other.is_atom(),
        }
    }

    /// Writes atoms and short records on one line, anything else one item
    /// per line, indented.
    fn write(&self, out: &mut String, indent: usize) {
        let compact = self.compact();
        if self.is_atom() || (self.is_record() && compact.len() <= WIDTH) {
            out.push_str(&compact);
            return;
        }
        let pad = " ".repeat(indent + 2);
        let (open, close) = match self {
            Json::Array(_) => ('[', ']'),
            _ => ('{', '}'),
        };
        out.push(open);
        let mut first = true;
        let mut item = |out: &mut String, key: Option<&str>, value: &Json| {
            out.push_str(if first { "\n" } else { ",\n" });
            first = false;
            out.push_str(&pad);
            if let Some(key) = key {
                out.push_str(key);
                out.push_str(": ");
            }
            value.write(out, indent + 2);
        };
        match self {
            Json::Array(items) => items.iter().for_each(|v| item(out, None, v)),
            Json::Object(fields) => fields.iter().for_each(|(k, v)| item(out, Some(k), v)),
            Json::Scalar(_) => {}
        }
        out.push('\n');
        out.push_str(&" ".repeat(indent));
        out.push(close);
    }
}

/// The differences between two JSON values, one line per path. Objects of
/// another kind (a different packet `type`, `output` or `notification`)
/// differ as a whole.
pub fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    let kind = |v: &Value| {
        ["type", "output", "notification"].map(|k| v.get(k).cloned().unwrap_or(Value::Null))
    };
    match (expected, actual) {
        (Value::Object(_), Value::Object(_)) if kind(expected) != kind(actual) => {
            out.push(format!("{path}: expected {expected}, actual {actual}"));
        }
        (Value::Object(e), Value::Object(a)) => {
            let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => diff(&sub, ev, av, out),
                    (Some(ev), None) => out.push(format!("{sub}: expected {ev}, actual missing")),
                    (None, Some(av)) => out.push(format!("{sub}: not expected, actual {av}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let sub = format!("{path}[{i}]");
                match (e.get(i), a.get(i)) {
                    (Some(ev), Some(av)) => diff(&sub, ev, av, out),
                    (Some(ev), None) => out.push(format!("{sub}: expected {ev}, actual missing")),
                    (None, Some(av)) => out.push(format!("{sub}: not expected, actual {av}")),
                    (None, None) => {}
                }
            }
        }
        (e, a) if e != a => out.push(format!("{path}: expected {e}, actual {a}")),
        _ => {}
    }
}
