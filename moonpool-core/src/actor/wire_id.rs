// Shared, through `include!`, by moonpool-core (`method_id`) and
// moonpool-macros (which computes the ids at compile time to refuse
// collisions and to write them into the generated dispatch): one
// definition, so the ids the macros write are the ids the runtime sends.
// Holds nothing but this function (no inner docs, no imports).

/// FNV-1a, 32 bits, of `name`.
pub(crate) const fn fnv1a_32(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let mut hash: u32 = 0x811C_9DC5;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}
