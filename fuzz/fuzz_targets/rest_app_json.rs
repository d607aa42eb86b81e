//! Arbitrary bytes as a REST app body, through the functions the handlers
//! call: `spec::parse_apps` (POST /v1/api/app), `spec::parse_app` (PUT), the
//! DELETE body, and `App`'s serde reader (how the store reads specs back).
//!
//! Parsing and validation must never panic; an app that parses must survive
//! being written and read again unchanged (the store and HA instances rely on
//! it, and on its content hash staying the same).

#![no_main]

use hydrogen::api::rest::KillRequestBody;
use hydrogen::spec::{self, App};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(apps) = spec::parse_apps(data) {
        assert!(!apps.is_empty(), "POST accepted an empty array");
        for app in &apps {
            round_trips(app);
        }
    }
    if let Ok(app) = spec::parse_app(data) {
        round_trips(&app);
    }
    // The store's reader: shape only, no validation; must not panic either.
    let _ = serde_json::from_slice::<App>(data);
    let _ = serde_json::from_slice::<KillRequestBody>(data);
});

fn round_trips(app: &App) {
    let json = serde_json::to_vec(app).expect("a parsed app serialises");
    let shown = String::from_utf8_lossy(&json);
    let again = spec::parse_app(&json)
        .unwrap_or_else(|e| panic!("the app we wrote does not parse again: {e}\n{shown}"));
    assert_eq!(&again, app, "written and read again differs\n{shown}");
    assert_eq!(again.content_hash(), app.content_hash(), "{shown}");
    // The POST form of the same app, and the store's (unvalidated) reader.
    let mut array = b"[".to_vec();
    array.extend_from_slice(&json);
    array.push(b']');
    let apps = spec::parse_apps(&array)
        .unwrap_or_else(|e| panic!("[app] does not parse as a POST body: {e}\n{shown}"));
    assert_eq!(apps.as_slice(), std::slice::from_ref(app), "{shown}");
    let stored: App = serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("the store cannot read the app back: {e}\n{shown}"));
    assert_eq!(&stored, app, "{shown}");
}
