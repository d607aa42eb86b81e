//! What the scheduler's maps are keyed by. An app's name and a task's id
//! are both strings on the wire and in the store, so a map of tasks looked
//! up by an app name (or a set of apps fed a task id) would compile if they
//! were plain `String`s; as these types it does not. Both borrow as `str`,
//! so a map keyed by one is still read with a `&str`, and hash and order as
//! the string does.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

macro_rules! string_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                Self(s.clone())
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> Self {
                name.0
            }
        }

        // A copy without the formatting machinery `to_string` goes through.
        impl From<&$name> for String {
            fn from(name: &$name) -> Self {
                name.0.clone()
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        // So a map keyed by names is read with a `&String` too (the records
        // carry names as `String`s).
        impl Borrow<String> for $name {
            fn borrow(&self) -> &String {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_name!(
    /// An app's name ([`crate::spec::App::name`]).
    AppName
);

string_name!(
    /// A task's id (`<app>.<instance>.<uuid>`, [`crate::store::TaskRecord::task_id`]).
    TaskId
);

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    #[test]
    fn maps_keyed_by_names_are_read_with_plain_strings_in_string_order() {
        let mut by_name: HashMap<AppName, u32> = HashMap::new();
        by_name.insert("web".into(), 1);
        assert_eq!(by_name.get("web"), Some(&1));
        let mut ordered: BTreeMap<TaskId, ()> = BTreeMap::new();
        for id in ["web.1.b", "web.0.z", "api.0.a"] {
            ordered.insert(id.into(), ());
        }
        let order: Vec<&str> = ordered.keys().map(TaskId::as_str).collect();
        assert_eq!(order, ["api.0.a", "web.0.z", "web.1.b"]);
        assert_eq!(AppName::from("web").to_string(), "web");
    }
}
