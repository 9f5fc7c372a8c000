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

use serde::{de::DeserializeOwned, Serialize};

/// Encodes `value` as JSON text. Empty if it cannot be encoded, which the wire types
/// never are (plain structs, strings, safe integers).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    imp::to_string(value)
}

/// Decodes JSON text into a `T`; the error says what is wrong with the text.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    imp::from_str(text)
}

#[cfg(target_arch = "wasm32")]
pub use imp::{from_js, parse_js};

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use serde::{de::DeserializeOwned, Serialize};

    pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }

    pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use serde::{de::DeserializeOwned, Serialize};
    use wasm_bindgen::{JsCast, JsValue};

    pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
        value
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .ok()
            .and_then(|js| js_sys::JSON::stringify(&js).ok())
            .map(String::from)
            .unwrap_or_default()
    }

    pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        from_js(parse_js(text)?)
    }

    /// The first half of [`from_str`](super::from_str): JSON text to a JS value.
    pub fn parse_js(text: &str) -> Result<JsValue, String> {
        js_sys::JSON::parse(text).map_err(|e| js_error_message(&e))
    }

    /// The second half of [`from_str`](super::from_str): a JS value (as
    /// `JSON.parse` makes them) to a `T`.
    pub fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, String> {
        serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
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
    use std::collections::BTreeMap;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        Plain {
            id: u32,
            size: u64,
            time_ms: f64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            note: Option<String>,
            flags: Vec<bool>,
        },
        Empty,
    }

    #[test]
    fn same_text_on_both_targets() {
        let value = Tagged::Plain {
            id: 7,
            size: (1 << 53) - 1,
            time_ms: 1.5,
            note: None,
            flags: vec![true, false],
        };
        let text =
            r#"{"type":"plain","id":7,"size":9007199254740991,"time_ms":1.5,"flags":[true,false]}"#;
        assert_eq!(to_string(&value), text);
        assert_eq!(from_str::<Tagged>(text), Ok(value));
        assert_eq!(to_string(&Tagged::Empty), r#"{"type":"empty"}"#);
        assert_eq!(from_str::<Tagged>(r#"{"type":"empty"}"#), Ok(Tagged::Empty));
        assert_eq!(to_string("a\"\n\u{e9}"), r#""a\"\né""#);
        let map = BTreeMap::from([("a", 1), ("b", 2)]);
        assert_eq!(to_string(&map), r#"{"a":1,"b":2}"#);
        assert_eq!(to_string(&Some(3)), "3");
        assert_eq!(to_string(&None::<u8>), "null");
    }

    #[test]
    fn reads_what_either_target_writes() {
        // serde_json writes a whole f64 as `2.0`, JSON.stringify as `2`.
        for time in ["2.0", "2"] {
            let text = format!(
                r#"{{"type":"plain","note":"n","id":1,"size":0,"time_ms":{time},"flags":[],"extra":{{"x":null}}}}"#
            );
            assert_eq!(
                from_str::<Tagged>(&text),
                Ok(Tagged::Plain {
                    id: 1,
                    size: 0,
                    time_ms: 2.0,
                    note: Some("n".into()),
                    flags: vec![],
                })
            );
        }
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "{",
            "nope",
            r#"{"type":"dance"}"#,
            r#"{"id":1}"#,
            r#"{"type":"plain","id":-1,"size":0,"time_ms":0,"flags":[]}"#,
            r#"{"type":"plain","id":1.5,"size":0,"time_ms":0,"flags":[]}"#,
            r#"{"type":"plain","id":4294967296,"size":0,"time_ms":0,"flags":[]}"#,
            r#"{"type":"plain","id":1,"size":"0","time_ms":0,"flags":[]}"#,
            r#"{"type":"plain","id":1,"size":0,"time_ms":0}"#,
            "[1,2]",
        ] {
            let result = from_str::<Tagged>(bad);
            assert!(result.is_err(), "{bad:?} gave {result:?}");
            assert!(!result.unwrap_err().is_empty());
        }
    }
}
