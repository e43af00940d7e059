//! Set (specification 3.4): the deletes, replaces and updates of one
//! request turned into the edits of one commit, so that they apply all
//! together or not at all, through the same transaction as every other
//! front end.
//!
//! ```text
//!   delete  path          -> Delete of each existing node it selects
//!                            (none: silently accepted, 3.4.6)
//!   replace path, value   -> the deletes of path, then as update
//!   update  path, value   -> leaf: Set(path, value)
//!                            else: Load(JSON tree down to path, merge)
//!   replace /, value      -> Load(value, replace)
//! ```

use dmvpn_api::gnmi;
use yang2::data::Data;

use super::path::{self, Resolved, Target};
use crate::candidate::LoadMode;
use crate::config::{Config, Format};
use crate::data;
use crate::task::Edit;

/// Why an operation cannot become an edit: a bad value or an unsupported
/// one (UNIMPLEMENTED).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Invalid(String),
    Unsupported(String),
}

fn invalid(message: impl Into<String>) -> Refused {
    Refused::Invalid(message.into())
}

/// The edits deleting what `target` selects in `running`.
pub(crate) fn delete(target: &Resolved, running: &Config) -> Result<Vec<Edit>, Refused> {
    if target.target == Target::Root {
        return Ok(vec![Edit::Load(
            "{}".to_owned(),
            Format::Json,
            LoadMode::Replace,
        )]);
    }
    config_only(target)?;
    let tree = running.tree();
    if tree.reference().is_none() {
        return Ok(vec![]);
    }
    let nodes = tree.find_xpath(&target.xpath).map_err(|e| {
        invalid(format!(
            "{}: {}",
            target.xpath,
            crate::error::Error::from(e)
        ))
    })?;
    let exact = !target.wildcard
        && target.steps.iter().all(|step| step.kind != Target::List)
        && matches!(
            target.target,
            Target::Leaf | Target::Container | Target::Entry
        );
    let mut edits = vec![];
    for node in nodes {
        // A path with every key is the node's own path; a wider one (a
        // whole list, a wildcard) is expanded to the nodes it selects.
        let path = match exact {
            true => Some(target.xpath.clone()),
            false => path::xpath_of(&node),
        };
        let path = path.ok_or_else(|| {
            invalid("a key holds both quote characters: delete it by its own path")
        })?;
        edits.push(Edit::Delete(path));
        if exact {
            break;
        }
    }
    Ok(edits)
}

/// The edits of an update (or the second half of a replace) of `target`
/// with `value`.
pub(crate) fn update(
    target: &Resolved,
    value: Option<&gnmi::TypedValue>,
    replace: bool,
) -> Result<Vec<Edit>, Refused> {
    let json = decode(value)?;
    if target.wildcard {
        return Err(invalid("a Set path cannot hold wildcards"));
    }
    if target.target == Target::Root {
        if !json.is_object() {
            return Err(invalid(
                "the value of the root is an object of top-level nodes",
            ));
        }
        let mode = match replace {
            true => LoadMode::Replace,
            false => LoadMode::Merge,
        };
        return Ok(vec![Edit::Load(json.to_string(), Format::Json, mode)]);
    }
    config_only(target)?;
    if target.target == Target::Leaf {
        let text = match &json {
            serde_json::Value::String(text) => Some(text.clone()),
            serde_json::Value::Number(number) => Some(number.to_string()),
            serde_json::Value::Bool(bool) => Some(bool.to_string()),
            // RFC 7951, 6.9: an `empty` leaf.
            serde_json::Value::Array(items) if items.len() == 1 && items[0].is_null() => None,
            _ => {
                return Err(invalid(format!(
                    "{}: a leaf takes a single value",
                    target.xpath
                )));
            }
        };
        if let Some(text) = &text {
            data::c_text(text).map_err(|e| invalid(e.to_string()))?;
        }
        return Ok(vec![Edit::Set(target.xpath.clone(), text)]);
    }
    let tree = wrap(target, json)?;
    Ok(vec![Edit::Load(
        tree.to_string(),
        Format::Json,
        LoadMode::Merge,
    )])
}

/// Nodes that are state (config false) cannot be written.
fn config_only(target: &Resolved) -> Result<(), Refused> {
    match target.config {
        true => Ok(()),
        false => Err(invalid(format!(
            "{} is state: it cannot be written",
            target.xpath
        ))),
    }
}

/// The JSON tree from the top down to `target`, with `value` as its content.
fn wrap(target: &Resolved, value: serde_json::Value) -> Result<serde_json::Value, Refused> {
    let mut inner = value;
    for (at, step) in target.steps.iter().enumerate().rev() {
        let last = at + 1 == target.steps.len();
        inner = match step.kind {
            Target::Entry => {
                let serde_json::Value::Object(mut entry) = inner else {
                    return Err(invalid(format!(
                        "{}: a list entry takes an object",
                        step.member
                    )));
                };
                for (key, _, json) in &step.keys {
                    entry.insert(key.clone(), json.clone());
                }
                serde_json::json!({ step.member.clone(): [entry] })
            }
            Target::List if last => match inner {
                serde_json::Value::Array(_) => serde_json::json!({ step.member.clone(): inner }),
                _ => {
                    return Err(invalid(format!(
                        "{}: a list takes an array of entries",
                        step.member
                    )));
                }
            },
            Target::List => {
                return Err(invalid(format!(
                    "{}: give every key of the list",
                    step.member
                )));
            }
            Target::Container => match inner {
                serde_json::Value::Object(_) => serde_json::json!({ step.member.clone(): inner }),
                _ => {
                    return Err(invalid(format!(
                        "{}: a container takes an object",
                        step.member
                    )));
                }
            },
            Target::LeafList => match inner {
                serde_json::Value::Array(_) => serde_json::json!({ step.member.clone(): inner }),
                single => serde_json::json!({ step.member.clone(): [single] }),
            },
            Target::Leaf | Target::Root | Target::Unknown => {
                return Err(invalid(format!("{}: cannot hold other nodes", step.member)));
            }
        };
    }
    Ok(inner)
}

/// The JSON of a TypedValue; scalars as RFC 7951 writes them.
// Older clients still send the deprecated float and decimal values.
#[allow(deprecated)]
fn decode(value: Option<&gnmi::TypedValue>) -> Result<serde_json::Value, Refused> {
    use gnmi::typed_value::Value;
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        return Err(invalid("an update without a value"));
    };
    let json = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map_err(|e| invalid(format!("the value is not JSON: {e}")))
    };
    Ok(match value {
        Value::JsonIetfVal(bytes) | Value::JsonVal(bytes) => json(bytes)?,
        Value::StringVal(text) | Value::AsciiVal(text) => text.clone().into(),
        Value::IntVal(v) => scalar_int(i128::from(*v)),
        Value::UintVal(v) => scalar_int(i128::from(*v)),
        Value::BoolVal(v) => (*v).into(),
        Value::DoubleVal(v) => decimal(*v)?,
        Value::FloatVal(v) => decimal(f64::from(*v))?,
        Value::DecimalVal(d) => decimal_text(d.digits, d.precision).into(),
        Value::LeaflistVal(array) => {
            let mut items = vec![];
            for element in &array.element {
                items.push(decode(Some(element))?);
            }
            items.into()
        }
        Value::BytesVal(_) | Value::AnyVal(_) | Value::ProtoBytes(_) => {
            return Err(Refused::Unsupported(
                "values are JSON, JSON_IETF or scalars: bytes, any and proto are not supported"
                    .to_owned(),
            ));
        }
    })
}

/// RFC 7951, 6.1: 64-bit integers are strings; smaller ones bare.
fn scalar_int(value: i128) -> serde_json::Value {
    match i32::try_from(value)
        .ok()
        .map(i64::from)
        .or_else(|| u32::try_from(value).ok().map(i64::from))
    {
        Some(small) => small.into(),
        None => value.to_string().into(),
    }
}

fn decimal(value: f64) -> Result<serde_json::Value, Refused> {
    match value.is_finite() {
        true => Ok(value.to_string().into()),
        false => Err(invalid("not a finite number")),
    }
}

fn decimal_text(digits: i64, precision: u32) -> String {
    let negative = digits < 0;
    let mut text = digits.unsigned_abs().to_string();
    let precision = precision.min(18) as usize;
    if precision > 0 {
        while text.len() <= precision {
            text.insert(0, '0');
        }
        text.insert(text.len() - precision, '.');
    }
    match negative {
        true => format!("-{text}"),
        false => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(elems: &[(&str, &[(&str, &str)])]) -> Resolved {
        let p = gnmi::Path {
            elem: elems
                .iter()
                .map(|(name, keys)| gnmi::PathElem {
                    name: (*name).to_owned(),
                    key: keys
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                })
                .collect(),
            ..Default::default()
        };
        path::resolve(&p).unwrap()
    }

    fn json_ietf(text: &str) -> gnmi::TypedValue {
        gnmi::TypedValue {
            value: Some(gnmi::typed_value::Value::JsonIetfVal(
                text.as_bytes().to_vec(),
            )),
        }
    }

    #[test]
    fn a_container_update_is_a_tree_down_to_it_with_the_keys() {
        let target = resolved(&[
            ("interfaces", &[]),
            ("interface", &[("name", "tun0")]),
            ("nhrp", &[]),
        ]);
        let edits = update(&target, Some(&json_ietf(r#"{"holding-time": 300}"#)), false).unwrap();
        let [Edit::Load(text, Format::Json, LoadMode::Merge)] = edits.as_slice() else {
            panic!("{edits:?}");
        };
        let tree: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            tree,
            serde_json::json!({"ietf-interfaces:interfaces": {"interface": [
                {"name": "tun0", "dmvpn-nhrp:nhrp": {"holding-time": 300}}]}})
        );
    }

    #[test]
    fn a_leaf_update_sets_its_text_and_state_is_refused() {
        let target = resolved(&[
            ("interfaces", &[]),
            ("interface", &[("name", "tun0")]),
            ("nhrp", &[]),
            ("holding-time", &[]),
        ]);
        let value = gnmi::TypedValue {
            value: Some(gnmi::typed_value::Value::UintVal(300)),
        };
        let edits = update(&target, Some(&value), false).unwrap();
        assert!(
            matches!(edits.as_slice(), [Edit::Set(path, Some(v))] if path.ends_with("/holding-time") && v == "300"),
            "{edits:?}"
        );
        let state = resolved(&[
            ("interfaces", &[]),
            ("interface", &[("name", "tun0")]),
            ("nhrp", &[]),
            ("counters", &[]),
        ]);
        assert!(matches!(
            update(&state, Some(&json_ietf("{}")), false),
            Err(Refused::Invalid(_))
        ));
        assert!(matches!(
            update(&target, Some(&json_ietf("{nope")), false),
            Err(Refused::Invalid(_))
        ));
    }

    #[test]
    fn decimals_keep_their_digits() {
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(7, 0), "7");
        assert_eq!(scalar_int(1 << 40), serde_json::json!("1099511627776"));
        assert_eq!(scalar_int(-3), serde_json::json!(-3));
    }
}
