//! The JSON codec for the client's wire types: signaling frames, control-channel
//! messages, file-transfer control messages.
//!
//! The serde derives on those types are the one definition of their format; this
//! module only chooses who turns serde's data model into text:
//!
//! - natively (the unit tests, and anything else that is not a browser):
//!   `serde_json`;
//! - in wasm32: the browser's own `JSON.parse` / `JSON.stringify`, with
//!   `serde-wasm-bindgen` between the parsed JS value and the Rust type. That
//!   keeps a second JSON parser and printer out of the Wasm module (about a fifth
//!   of it), and the module needs serde-wasm-bindgen anyway for its JS API.
//!
//! Both give the same text for the same value (field order, `null`s, integers),
//! except that a float with no fraction prints as `3` rather than `3.0`; both
//! read either. Integers must stay within `Number.MAX_SAFE_INTEGER` in wasm: file
//! sizes and offsets do (see
//! [`MAX_FILE_SIZE`](super::transfer::MAX_FILE_SIZE)). The tests below run on both
//! (natively with `cargo test`, in the browser with `make test-wasm`).
//!
//! The wire types are all *tagged* enums: their JSON names the variant in one field
//! (`{"type":"ack","id":1,"offset":0}`), which serde calls internally tagged. serde
//! decodes that form by first buffering the whole object in its private `Content`
//! tree and then decoding the variant out of the buffer: a second decoder per
//! variant, which in the Wasm module was the largest code there is (~30 KB raw
//! for a signaling frame, ~26 KB for a file-transfer control message). So in
//! wasm32 those enums derive serde's *externally tagged* form instead
//! (`{"ack":{"id":1,"offset":0}}`, decoded in one pass), through
//! `#[cfg_attr(not(target_arch = "wasm32"), serde(tag = "type"))]`, and this
//! module moves the tag between the two forms on the parsed JS object. The text
//! on the wire is the same on both targets, and so is what is accepted.

use serde::{de::DeserializeOwned, Serialize};

/// A wire enum whose JSON names its variant in the field `TAG`. Its serde derive
/// must carry `#[cfg_attr(not(target_arch = "wasm32"), serde(tag = "…"))]` with
/// the same name (see the module's documentation).
pub trait Tagged {
    /// The field that holds the variant's name.
    const TAG: &'static str;
    /// The (renamed) names of its unit variants, which ignore any other fields,
    /// as serde's internally tagged form does (a later sender may add some).
    const UNIT_VARIANTS: &'static [&'static str] = &[];
}

impl<D> Tagged for peerlink_protocol::ClientMessage<D> {
    const TAG: &'static str = "type";
    const UNIT_VARIANTS: &'static [&'static str] = &["ping"];
}

impl<D> Tagged for peerlink_protocol::ServerMessage<D> {
    const TAG: &'static str = "type";
    const UNIT_VARIANTS: &'static [&'static str] = &["pong"];
}

impl Tagged for peerlink_protocol::SignalPayload {
    const TAG: &'static str = "kind";
    const UNIT_VARIANTS: &'static [&'static str] = &["relink", "relink_ack"];
}

/// Encodes `value` as JSON text. Empty if it cannot be encoded, which the wire types
/// never are (plain structs, strings, safe integers).
pub fn to_string<T: Tagged + Serialize>(value: &T) -> String {
    imp::to_string(value)
}

/// Decodes JSON text into a `T`; the error says what is wrong with the text.
pub fn from_str<T: Tagged + DeserializeOwned>(text: &str) -> Result<T, String> {
    imp::from_str(text)
}

#[cfg(target_arch = "wasm32")]
pub use imp::{from_js, parse_js};

/// A tagged enum inside another wire value (a signal's payload inside a signaling
/// frame), written in the wire's form on both targets: the tag is moved for the
/// outer value only, so in wasm32 the inner one is turned into its JS object
/// first. (To read one, decode it on its own from the parsed object, as
/// `web::signaling` does.) In wasm32 it can only be written through this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nested<T>(pub T);

impl<T: Tagged + Serialize> Serialize for Nested<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        imp::serialize_nested(&self.0, serializer)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Tagged;
    use serde::{de::DeserializeOwned, Serialize};

    pub fn to_string<T: Tagged + Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }

    pub fn from_str<T: Tagged + DeserializeOwned>(text: &str) -> Result<T, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    pub fn serialize_nested<T: Tagged + Serialize, S: serde::Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Tagged;
    use js_sys::{Array, Object, Reflect};
    use serde::{de::DeserializeOwned, Serialize};
    use wasm_bindgen::{JsCast, JsValue};

    pub fn to_string<T: Tagged + Serialize>(value: &T) -> String {
        to_js(value)
            .and_then(|js| js_sys::JSON::stringify(&js).ok())
            .map(String::from)
            .unwrap_or_default()
    }

    /// `value` as the JS object whose `JSON.stringify` is its wire form.
    fn to_js<T: Tagged + Serialize>(value: &T) -> Option<JsValue> {
        value
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .ok()
            .and_then(|external| tag_inside(&external, T::TAG))
    }

    pub fn serialize_nested<T: Tagged + Serialize, S: serde::Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let js = to_js(value).ok_or_else(|| S::Error::custom("cannot encode a nested value"))?;
        serde_wasm_bindgen::preserve::serialize(&js, serializer)
    }

    pub fn from_str<T: Tagged + DeserializeOwned>(text: &str) -> Result<T, String> {
        from_js(parse_js(text)?)
    }

    /// The first half of [`from_str`](super::from_str): JSON text to a JS value.
    pub fn parse_js(text: &str) -> Result<JsValue, String> {
        js_sys::JSON::parse(text).map_err(|e| js_error_message(&e))
    }

    /// The second half of [`from_str`](super::from_str): a JS value (as
    /// `JSON.parse` makes them) to a `T`.
    pub fn from_js<T: Tagged + DeserializeOwned>(value: JsValue) -> Result<T, String> {
        serde_wasm_bindgen::from_value(tag_outside(&value, T::TAG, T::UNIT_VARIANTS)?)
            .map_err(|e| e.to_string())
    }

    /// serde's externally tagged form to the wire's: `"pong"` to
    /// `{"type":"pong"}`, `{"ack":{"id":1}}` to `{"type":"ack","id":1}` (the
    /// tag first, as serde_json writes it).
    fn tag_inside(external: &JsValue, tag: &str) -> Option<JsValue> {
        let out = Object::new();
        if external.is_string() {
            Reflect::set(&out, &tag.into(), external).ok()?;
            return Some(out.into());
        }
        let entry: Array = Object::entries(external.dyn_ref()?)
            .get(0)
            .dyn_into()
            .ok()?;
        Reflect::set(&out, &tag.into(), &entry.get(0)).ok()?;
        Some(Object::assign(&out, entry.get(1).dyn_ref()?).into())
    }

    /// The wire's form to serde's externally tagged one: `{"type":"ack","id":1}`
    /// to `{"ack":{"id":1}}`, and `{"type":"pong",…}` to `{"pong":undefined}` (a
    /// unit variant, named in `units`).
    fn tag_outside(value: &JsValue, tag: &str, units: &[&str]) -> Result<JsValue, String> {
        let object = value
            .dyn_ref::<Object>()
            .filter(|_| !Array::is_array(value));
        let name = object
            .and_then(|object| Reflect::get(object, &tag.into()).ok())
            .filter(JsValue::is_string);
        let (Some(object), Some(name)) = (object, name) else {
            return Err(format!("expected an object with a string field `{tag}`"));
        };
        // Objects without a prototype: a field named `__proto__` stays a field
        // (an unknown one), where on a plain object its assignment would set the
        // prototype, whose properties serde-wasm-bindgen would then read as fields.
        let rest = Object::assign(&bare_object(), object);
        Reflect::delete_property(&rest, &tag.into()).map_err(|e| js_error_message(&e))?;
        let unit = name
            .as_string()
            .is_some_and(|n| units.contains(&n.as_str()));
        let payload = if unit || Object::keys(&rest).length() == 0 {
            JsValue::UNDEFINED
        } else {
            rest.into()
        };
        let external = bare_object();
        Reflect::set(&external, &name, &payload).map_err(|e| js_error_message(&e))?;
        Ok(external.into())
    }

    /// `Object.create(null)`.
    fn bare_object() -> Object {
        Object::create(JsValue::NULL.unchecked_ref())
    }

    /// The message of the `SyntaxError` that `JSON.parse` throws.
    fn js_error_message(error: &JsValue) -> String {
        match error.dyn_ref::<js_sys::Error>() {
            Some(error) => error.message().into(),
            None => "not valid JSON".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(not(target_arch = "wasm32"), serde(tag = "type"))]
    #[serde(rename_all = "snake_case")]
    enum Message {
        Plain {
            id: u32,
            size: u64,
            time_ms: f64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            note: Option<String>,
            flags: Vec<bool>,
            inner: Inner,
        },
        Wrapped(Body),
        Empty,
    }

    impl Tagged for Message {
        const TAG: &'static str = "type";
        const UNIT_VARIANTS: &'static [&'static str] = &["empty"];
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Body {
        text: String,
        #[serde(default)]
        count: u8,
    }

    /// A tagged enum inside another: decoded on its own, as the signaling
    /// payload is (its derive is the same in both targets here, since only the
    /// outer value's tag is moved).
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Inner {
        A,
        B { x: u8 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(not(target_arch = "wasm32"), serde(tag = "kind"))]
    #[serde(rename_all = "snake_case")]
    enum Kinded {
        Candidate { candidate: String },
    }

    impl Tagged for Kinded {
        const TAG: &'static str = "kind";
    }

    fn plain() -> Message {
        Message::Plain {
            id: 7,
            size: (1 << 53) - 1,
            time_ms: 1.5,
            note: None,
            flags: vec![true, false],
            inner: Inner::B { x: 2 },
        }
    }

    #[test]
    fn same_text_on_both_targets() {
        let text = r#"{"type":"plain","id":7,"size":9007199254740991,"time_ms":1.5,"flags":[true,false],"inner":{"b":{"x":2}}}"#;
        assert_eq!(to_string(&plain()), text);
        assert_eq!(from_str::<Message>(text), Ok(plain()));

        let wrapped = Message::Wrapped(Body {
            text: "a\"\n\u{e9}".into(),
            count: 3,
        });
        let text = r#"{"type":"wrapped","text":"a\"\né","count":3}"#;
        assert_eq!(to_string(&wrapped), text);
        assert_eq!(from_str::<Message>(text), Ok(wrapped));

        assert_eq!(to_string(&Message::Empty), r#"{"type":"empty"}"#);
        assert_eq!(
            from_str::<Message>(r#"{"type":"empty"}"#),
            Ok(Message::Empty)
        );

        let kinded = Kinded::Candidate {
            candidate: "c".into(),
        };
        assert_eq!(
            to_string(&kinded),
            r#"{"kind":"candidate","candidate":"c"}"#
        );
        assert_eq!(
            from_str::<Kinded>(r#"{"candidate":"c","kind":"candidate","type":"x"}"#),
            Ok(kinded)
        );
    }

    #[derive(Debug, PartialEq, Serialize)]
    #[cfg_attr(not(target_arch = "wasm32"), serde(tag = "type"))]
    #[serde(rename_all = "snake_case")]
    enum Outer {
        Carry { to: u8, data: Nested<Kinded> },
    }

    impl Tagged for Outer {
        const TAG: &'static str = "type";
    }

    #[test]
    fn writes_a_nested_tagged_value_in_the_wire_form() {
        let outer = Outer::Carry {
            to: 1,
            data: Nested(Kinded::Candidate {
                candidate: "c".into(),
            }),
        };
        assert_eq!(
            to_string(&outer),
            r#"{"type":"carry","to":1,"data":{"kind":"candidate","candidate":"c"}}"#
        );
    }

    #[test]
    fn reads_what_either_target_writes() {
        // serde_json writes a whole f64 as `2.0`, JSON.stringify as `2`; the tag
        // need not come first, and unknown fields are ignored.
        for time in ["2.0", "2"] {
            let text = format!(
                r#"{{"note":"n","id":1,"size":0,"type":"plain","time_ms":{time},"flags":[],"inner":"a","extra":{{"x":null}}}}"#
            );
            assert_eq!(
                from_str::<Message>(&text),
                Ok(Message::Plain {
                    id: 1,
                    size: 0,
                    time_ms: 2.0,
                    note: Some("n".into()),
                    flags: vec![],
                    inner: Inner::A,
                })
            );
        }
        // A unit variant ignores other fields.
        assert_eq!(
            from_str::<Message>(r#"{"type":"empty","since":3,"note":{"a":1}}"#),
            Ok(Message::Empty)
        );
        // A field named like an Object.prototype property is just an unknown field.
        assert_eq!(
            from_str::<Message>(r#"{"type":"wrapped","__proto__":{"count":9},"text":"t"}"#),
            Ok(Message::Wrapped(Body {
                text: "t".into(),
                count: 0
            }))
        );
        // A newtype variant whose fields all have defaults.
        assert_eq!(
            from_str::<Message>(r#"{"type":"wrapped","text":"t"}"#),
            Ok(Message::Wrapped(Body {
                text: "t".into(),
                count: 0
            }))
        );
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "{",
            "nope",
            "null",
            "\"plain\"",
            "3",
            r#"{"type":"dance"}"#,
            r#"{"type":7}"#,
            r#"{"type":null}"#,
            r#"{"type":"__proto__","id":1}"#,
            r#"{"type":"constructor"}"#,
            r#"{"kind":"plain"}"#,
            r#"{"id":1}"#,
            r#"{"type":"plain","id":-1,"size":0,"time_ms":0,"flags":[],"inner":"a"}"#,
            r#"{"type":"plain","id":1.5,"size":0,"time_ms":0,"flags":[],"inner":"a"}"#,
            r#"{"type":"plain","id":4294967296,"size":0,"time_ms":0,"flags":[],"inner":"a"}"#,
            r#"{"type":"plain","id":1,"size":"0","time_ms":0,"flags":[],"inner":"a"}"#,
            r#"{"type":"plain","id":1,"size":0,"time_ms":0,"flags":[]}"#,
            r#"{"type":"plain"}"#,
            r#"{"type":"wrapped"}"#,
            r#"{"type":"wrapped","count":1}"#,
            "[1,2]",
            r#"["plain",{}]"#,
        ] {
            let result = from_str::<Message>(bad);
            assert!(result.is_err(), "{bad:?} gave {result:?}");
            assert!(!result.unwrap_err().is_empty());
        }
    }
}
