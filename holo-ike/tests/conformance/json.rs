//! JSON in the order it is written: the step results are built as [`J`]
//! (objects keep their field order, so a message reads header first), printed
//! with short arrays and objects on one line, and compared as
//! `serde_json::Value`s, one difference per path.

use serde_json::Value;

/// A JSON value whose objects keep their field order.
#[derive(Clone, Debug)]
pub enum J {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// An object from (key, value) pairs, in this order.
pub fn obj<const N: usize>(fields: [(&str, J); N]) -> J {
    J::Obj(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

impl J {
    /// Appends a field to an object.
    pub fn push(&mut self, key: &str, value: J) {
        if let J::Obj(fields) = self {
            fields.push((key.to_string(), value));
        }
    }

    pub fn value(&self) -> Value {
        match self {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Num(n) => Value::Number(n.clone()),
            J::Str(s) => Value::String(s.clone()),
            J::Arr(items) => Value::Array(items.iter().map(J::value).collect()),
            J::Obj(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.value())).collect())
            }
        }
    }

    /// Any serializable value (its object keys sorted).
    pub fn of(v: &impl serde::Serialize) -> J {
        J::from(serde_json::to_value(v).unwrap())
    }

    fn compact(&self) -> String {
        match self {
            J::Arr(items) => {
                let items: Vec<String> = items.iter().map(J::compact).collect();
                format!("[{}]", items.join(", "))
            }
            J::Obj(fields) if fields.is_empty() => "{}".into(),
            J::Obj(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), v.compact()))
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }
            other => other.value().to_string(),
        }
    }

    /// How deep the containers go: 0 for a scalar.
    fn depth(&self) -> usize {
        match self {
            J::Arr(items) => 1 + items.iter().map(J::depth).max().unwrap_or(0),
            J::Obj(fields) => 1 + fields.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Pretty text: a container of scalars, or of one level of short
    /// containers, on one line when it fits; else one item per line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        let compact = self.compact();
        if self.depth() <= 2 && compact.len() + indent <= WIDTH {
            out.push_str(&compact);
            return;
        }
        let pad = " ".repeat(indent + 2);
        let (open, close, items): (char, char, Vec<(Option<&str>, &J)>) = match self {
            J::Arr(items) => ('[', ']', items.iter().map(|v| (None, v)).collect()),
            J::Obj(fields) => (
                '{',
                '}',
                fields.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
            ),
            _ => return out.push_str(&compact),
        };
        out.push(open);
        for (n, (key, value)) in items.iter().enumerate() {
            out.push_str(if n == 0 { "\n" } else { ",\n" });
            out.push_str(&pad);
            if let Some(key) = key {
                out.push_str(&Value::String(key.to_string()).to_string());
                out.push_str(": ");
            }
            value.write(out, indent + 2);
        }
        out.push('\n');
        out.push_str(&" ".repeat(indent));
        out.push(close);
    }
}

const WIDTH: usize = 170;

impl From<Value> for J {
    fn from(v: Value) -> J {
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(b),
            Value::Number(n) => J::Num(n),
            Value::String(s) => J::Str(s),
            Value::Array(items) => J::Arr(items.into_iter().map(J::from).collect()),
            Value::Object(fields) => {
                J::Obj(fields.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Str(s.to_string())
    }
}

impl From<String> for J {
    fn from(s: String) -> J {
        J::Str(s)
    }
}

impl From<bool> for J {
    fn from(b: bool) -> J {
        J::Bool(b)
    }
}

impl From<u64> for J {
    fn from(n: u64) -> J {
        J::Num(n.into())
    }
}

impl From<u32> for J {
    fn from(n: u32) -> J {
        J::Num(n.into())
    }
}

impl From<Vec<J>> for J {
    fn from(items: Vec<J>) -> J {
        J::Arr(items)
    }
}

impl<T: Into<J>> From<Option<T>> for J {
    fn from(v: Option<T>) -> J {
        v.map_or(J::Null, Into::into)
    }
}

/// Milliseconds as seconds: an integer when whole.
pub fn seconds(millis: i128) -> J {
    if millis % 1000 == 0 {
        J::Num(serde_json::Number::from(
            i64::try_from(millis / 1000).unwrap(),
        ))
    } else {
        J::Num(serde_json::Number::from_f64(millis as f64 / 1000.0).unwrap())
    }
}

/// The differences between two JSON values, one line per path.
pub fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    let sub = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => diff(&sub(key), ev, av, out),
                    (Some(ev), None) => out.push(format!("{}: expected {ev}, missing", sub(key))),
                    (None, Some(av)) => out.push(format!("{}: unexpected {av}", sub(key))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let p = format!("{path}[{i}]");
                match (e.get(i), a.get(i)) {
                    (Some(ev), Some(av)) => diff(&p, ev, av, out),
                    (Some(ev), None) => out.push(format!("{p}: expected {ev}, missing")),
                    (None, Some(av)) => out.push(format!("{p}: unexpected {av}")),
                    (None, None) => {}
                }
            }
        }
        (e, a) if e != a => out.push(format!("{path}: expected {e}, actual {a}")),
        _ => {}
    }
}
