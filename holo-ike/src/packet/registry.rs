//! Numbers from the IANA IKEv2 registries, as newtypes that keep any value
//! (unknown numbers must survive a round trip) and print the registry name
//! when they know it.

/// Defines `pub struct $name(pub $repr)` with named constants, `name()`,
/// and a `Serialize` that writes the name when known, else the number.
macro_rules! registry {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name($value); )*

            /// The registry name, when this value has one here.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self.name() {
                    Some(name) => s.serialize_str(name),
                    None => s.serialize_u64(u64::from(self.0)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(name) => write!(f, "{name}"),
                    None => write!(f, "{}", self.0),
                }
            }
        }
    };
}

pub(crate) use registry;
