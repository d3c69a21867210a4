//! The hash maps of the event path: std's `HashMap` and `HashSet` with foldhash, a fast hasher seeded at
//! random per process (hashbrown's default). std's SipHash cost about 7 % of the event path on its short
//! keys (field names, pids, record bodies); the random seed keeps keys that an attacker writes into records
//! from being chosen to collide.

/// A hash map of the event path.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set of the event path.
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
/// The hasher of [`HashMap`], for hashing a value once (`hash_one`).
pub type RandomState = foldhash::fast::RandomState;
