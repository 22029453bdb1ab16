#![no_main]
//! Any bytes as a PATCH body applied to a user and a group, and as a resource body.

use libfuzzer_sys::fuzz_target;
use model::schema::{GROUP_TYPE, USER_TYPE};
use model::FilterLimits;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    for (rt, base) in [(&*USER_TYPE, json!({"userName": "u", "emails": [{"value": "a", "type": "work"}]})), (&*GROUP_TYPE, json!({"displayName": "g"}))] {
        if let Ok(ops) = model::patch::parse_request(&body, rt, FilterLimits::default()) {
            let mut resource = base.as_object().cloned().unwrap_or_default();
            let _ = model::patch::apply(&mut resource, &ops, rt);
        }
        let _ = model::resource::normalize(body.clone(), rt);
    }
});
