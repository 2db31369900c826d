//! Ring positions. These functions decide on which ingesters a trace lives and which
//! compactor owns a job, and every distributor must compute them identically, so their
//! output is a persisted contract: never change it, add a new function instead.

use strand_model::{TenantId, TraceId};
use twox_hash::XxHash3_64;

/// The stable 32-bit ring position of `bytes`: xxh3-64 with seed 0, its two halves folded
/// together with XOR (`(h ^ (h >> 32)) as u32`) so both halves of the 64-bit hash count.
pub fn ring_hash(bytes: &[u8]) -> u32 {
    let h = XxHash3_64::oneshot(bytes);
    (h ^ (h >> 32)) as u32
}

/// Longest tenant key hashed from a stack buffer; tenant IDs are at most 150 bytes.
const STACK_KEY_LEN: usize = 256;

/// The ring position of a trace: the hash of the tenant's bytes, a 0 byte, then the 16 trace
/// ID bytes. The separator keeps `("ab", id)` and `("a", "b"‖id)` apart; the tenant is part of
/// the key so one tenant's hot trace IDs do not pile onto the same ingesters as another's.
pub fn trace_key(tenant: &TenantId, trace: &TraceId) -> u32 {
    let tenant = tenant.as_str().as_bytes();
    let id = trace.as_bytes();
    let len = tenant.len() + 1 + id.len();
    // Hashed on every pushed trace: avoid a heap allocation for every realistic tenant.
    if len <= STACK_KEY_LEN {
        let mut buf = [0u8; STACK_KEY_LEN];
        buf[..tenant.len()].copy_from_slice(tenant);
        buf[tenant.len() + 1..len].copy_from_slice(id);
        ring_hash(&buf[..len])
    } else {
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(tenant);
        buf.push(0);
        buf.extend_from_slice(id);
        ring_hash(&buf)
    }
}

/// Position of a compaction job: a tenant's blocks whose start falls in the window starting at
/// `window_start` (Unix seconds). Compactors own the jobs whose key they own on their ring.
pub fn compaction_key(tenant: &TenantId, window_start: u64) -> u32 {
    let mut key = Vec::with_capacity(tenant.as_str().len() + 9);
    key.extend_from_slice(tenant.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(&window_start.to_be_bytes());
    ring_hash(&key)
}

/// The tokens of a member: `ring_hash("{id}/{i}")` for `i` in `0..n`, sorted and deduplicated.
///
/// Derived from the ID alone, so every process computes the same ring without talking to the
/// others, and a member that restarts under the same ID (a StatefulSet pod's DNS name) owns
/// the same keys as before.
pub fn member_tokens(id: &str, n: u32) -> Vec<u32> {
    let mut tokens: Vec<u32> = (0..n).map(|i| ring_hash(format!("{id}/{i}").as_bytes())).collect();
    tokens.sort_unstable();
    tokens.dedup();
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xxHash's sanity buffer (`XSUM_fillTestBuffer` in xxHash's `cli/xsum_sanity_check.c`).
    fn sanity_buffer(len: usize) -> Vec<u8> {
        const PRIME32: u64 = 2_654_435_761;
        const PRIME64: u64 = 11_400_714_785_074_694_797;
        let mut byte_gen = PRIME32;
        (0..len)
            .map(|_| {
                let byte = (byte_gen >> 56) as u8;
                byte_gen = byte_gen.wrapping_mul(PRIME64);
                byte
            })
            .collect()
    }

    #[test]
    fn ring_hash_is_xxh3_of_the_reference_vectors_folded() {
        // XXH3_64bits with seed 0, from xxHash's published sanity test vectors: one per
        // length class of the algorithm. Independent of this crate and of twox-hash.
        let vectors: [(usize, u64); 8] = [
            (0, 0x2D06_8005_38D3_94C2),
            (1, 0xC44B_DFF4_074E_ECDB),
            (6, 0x27B5_6A84_CD2D_7325),
            (12, 0xA713_DAF0_DFBB_77E7),
            (24, 0xA3FE_70BF_9D35_10EB),
            (48, 0x397D_A259_ECBA_1F11),
            (80, 0xBCDE_FBBB_2C47_C90A),
            (195, 0xCD94_217E_E362_EC3A),
        ];
        for (len, xxh3) in vectors {
            let folded = ((xxh3 >> 32) as u32) ^ (xxh3 as u32);
            assert_eq!(ring_hash(&sanity_buffer(len)), folded, "length {len}");
        }
        // Worked by hand: 0x2D068005 ^ 0x38D394C2.
        assert_eq!(ring_hash(b""), 0x15D5_14C7);
    }

    #[test]
    fn trace_key_hashes_tenant_separator_and_id() {
        let tenant = TenantId::new("team-a").unwrap();
        let trace = TraceId([0x11; 16]);
        let mut bytes = b"team-a\0".to_vec();
        bytes.extend_from_slice(&[0x11; 16]);
        assert_eq!(trace_key(&tenant, &trace), ring_hash(&bytes));
        // The tenant matters.
        assert_ne!(trace_key(&TenantId::new("team-b").unwrap(), &trace), trace_key(&tenant, &trace));
        // The longest tenant ID still fits the stack buffer, and gives the same answer as the
        // heap path would.
        let long = "x".repeat(150);
        let mut bytes = long.clone().into_bytes();
        bytes.push(0);
        bytes.extend_from_slice(&[0x11; 16]);
        assert_eq!(trace_key(&TenantId::new(&long).unwrap(), &trace), ring_hash(&bytes));
    }

    /// Regression pins: these values decide where existing traces live, so a change here
    /// means a release would move every trace. The hash itself is checked against xxHash's
    /// reference vectors above; these pin how keys and tokens are built from it.
    #[test]
    fn trace_keys_and_tokens_never_change() {
        let trace = TraceId::parse_hex("0102030405060708090a0b0c0d0e0f10").unwrap();
        assert_eq!(trace_key(&TenantId::single(), &trace), PINNED_TRACE_KEY);
        assert_eq!(
            member_tokens("strand-ingester-0.strand-ingester-headless:9095", 4),
            PINNED_TOKENS_INGESTER_0.to_vec()
        );
        assert_eq!(ring_hash(b"strand-ingester-1.strand-ingester-headless:9095/0"), PINNED_INGESTER_1_TOKEN_0);
    }

    #[test]
    fn compaction_keys_hash_tenant_separator_and_window() {
        let tenant = TenantId::new("team-a").unwrap();
        let mut expected = b"team-a\0".to_vec();
        expected.extend_from_slice(&7200u64.to_be_bytes());
        assert_eq!(compaction_key(&tenant, 7200), ring_hash(&expected));
        assert_ne!(compaction_key(&tenant, 7200), compaction_key(&tenant, 10_800));
        assert_ne!(compaction_key(&tenant, 7200), compaction_key(&TenantId::single(), 7200));
    }

    // Recorded from the first release of this code; see the test's comment.
    const PINNED_TRACE_KEY: u32 = 0x9515_A850;
    const PINNED_TOKENS_INGESTER_0: [u32; 4] = [0x1FBF_3E5F, 0x28D6_85FE, 0xCBF3_48C8, 0xD96D_4BC5];
    const PINNED_INGESTER_1_TOKEN_0: u32 = 0x7681_1B18;

    #[test]
    fn member_tokens_are_sorted_distinct_and_deterministic() {
        let tokens = member_tokens("10.0.0.1:9095", 128);
        assert_eq!(tokens.len(), 128, "128 distinct tokens expected from a 32-bit hash");
        assert!(tokens.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(tokens, member_tokens("10.0.0.1:9095", 128));
        assert_ne!(tokens, member_tokens("10.0.0.2:9095", 128));
        assert!(tokens.contains(&ring_hash(b"10.0.0.1:9095/127")));
        assert!(member_tokens("a", 0).is_empty());
    }
}
