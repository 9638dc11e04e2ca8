//! A JSON value that refuses duplicate object keys at any depth. serde_json keeps the last of two
//! equal keys in a `Value` without a word; for free-form parts of a request (a mutation's
//! arguments) that would let two readers of the same bytes see two different requests.

use serde::de::{Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

struct Strict;

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Strict)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(Seed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One look-up for both the check and the insert.
            match out.entry(key) {
                serde_json::map::Entry::Occupied(e) => {
                    return Err(A::Error::custom(format!("duplicate key `{}`", e.key())));
                }
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(map.next_value_seed(Seed)?);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

struct Seed;

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Strict)
    }
}

/// `#[serde(deserialize_with = "strict::value")]`: a [`Value`] without duplicate keys.
pub fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    d.deserialize_any(Strict)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "super::value")]
        v: serde_json::Value,
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth_and_the_rest_reads_as_serde_json_does() {
        for bad in [
            r#"{"v":{"a":1,"a":2}}"#,
            r#"{"v":{"a":{"b":[{"c":1,"c":1}]}}}"#,
        ] {
            let e = serde_json::from_str::<Holder>(bad).err().expect("refused");
            assert!(e.to_string().contains("duplicate key"), "{e}");
        }
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"big":18446744073709551615}"#;
        let h: Holder = serde_json::from_str(&format!(r#"{{"v":{text}}}"#)).expect("reads");
        assert_eq!(
            h.v,
            serde_json::from_str::<serde_json::Value>(text).expect("json")
        );
    }
}
