//! The compact store: each event kept once, as its records' exact bytes compressed with a dictionary
//! trained on audit records ([`codec`]), and what the old columns held (`raw`, `sections`, `summary`, the
//! event JSON) derived from that blob on demand ([`functions`], behind the store's SQL functions).

pub mod codec;
pub mod frame;
pub mod functions;

pub use codec::{Codec, CodecError, DecodedEvent};
pub use functions::Functions;
