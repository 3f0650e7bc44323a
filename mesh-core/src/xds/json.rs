//! JSON <-> `google.protobuf.Struct`.
//!
//! The bootstrap carries node metadata as JSON; on the wire it is a `Struct`. The mapping is the
//! protobuf JSON mapping: numbers are doubles, so integers beyond 2^53 lose precision (as they
//! do in every gRPC implementation).

use envoy_types::pb::google::protobuf::{ListValue, NullValue, Struct, Value, value::Kind};
use serde_json::{Map, Number};

/// Converts a JSON object into a `Struct`.
pub fn json_to_struct(object: &Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: object
            .iter()
            .map(|(key, value)| (key.clone(), json_to_value(value)))
            .collect(),
    }
}

/// Converts a `Struct` into a JSON object.
pub fn struct_to_json(proto: &Struct) -> Map<String, serde_json::Value> {
    proto
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), value_to_json(value)))
        .collect()
}

fn json_to_value(json: &serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(NullValue::NullValue as i32),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(object) => Kind::StructValue(json_to_struct(object)),
    };
    Value { kind: Some(kind) }
}

fn value_to_json(value: &Value) -> serde_json::Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.iter().map(value_to_json).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(struct_to_json(s)),
    }
}

/// Whole numbers come back as JSON integers (so `40001` stays `40001`, not `40001.0`); NaN and
/// infinities, which JSON cannot hold, become null.
fn number_to_json(n: f64) -> serde_json::Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to it is exact
    if n.fract() == 0.0 && n.abs() <= EXACT {
        serde_json::Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let original = json!({
            "null": null, "bool": true, "int": 40001, "negative": -3, "float": 1.5,
            "string": "s", "list": [1, "two", [false]], "object": {"nested": {"deep": []}},
            "mesh.serves": [{"service": "serviceb.demo:50051", "address": "127.0.0.1:40001"}]
        });
        let object = original.as_object().unwrap();
        let proto = json_to_struct(object);
        assert_eq!(
            proto.fields["int"].kind,
            Some(Kind::NumberValue(40001.0)),
            "numbers are doubles on the wire"
        );
        assert_eq!(&struct_to_json(&proto), object);
    }

    #[test]
    fn missing_kind_and_non_finite_numbers_become_null() {
        let proto = Struct {
            fields: [
                ("none".to_string(), Value { kind: None }),
                (
                    "nan".to_string(),
                    Value {
                        kind: Some(Kind::NumberValue(f64::NAN)),
                    },
                ),
            ]
            .into(),
        };
        assert_eq!(
            serde_json::Value::Object(struct_to_json(&proto)),
            json!({"none": null, "nan": null})
        );
    }
}
