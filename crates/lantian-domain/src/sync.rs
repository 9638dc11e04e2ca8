//! What the server and the offline client must compute identically: scope names, the hash of one
//! synced entity, and the per-scope checksum (a wrapping sum of entity hashes, so it does not depend
//! on order and can be kept up to date one change at a time).

use sha2::Digest;

pub const GLOBAL: &str = "global";

/// Why a pull starts over from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// First sync of this install.
    Initial,
    /// The user's unit or role changed: what they may see changed.
    ScopeChanged,
    /// The cursor points before the oldest change kept (tombstone retention).
    CursorTooOld,
    /// The server's history no longer contains the cursor's position (restored from a backup).
    HistoryDiverged,
    /// The client asked to re-pull scopes whose checksum did not match.
    Repair,
}

pub fn unit_scope(unit_code: &str) -> String {
    format!("unit:{unit_code}")
}

pub fn user_scope(user: uuid::Uuid) -> String {
    format!("user:{user}")
}

/// Hash of one entity as synced: its kind, its id and the exact JSON text of its data.
pub fn entity_hash(entity: &str, id: &str, data: &str) -> u64 {
    let mut h = sha2::Sha256::new();
    h.update(entity.as_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    h.update([0]);
    h.update(data.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// A scope's checksum as it is sent: 16 lowercase hex digits.
pub fn checksum_text(sum: u64) -> String {
    format!("{sum:016x}")
}

/// Count and checksum over a scope's entities, computed from scratch (the client does this over
/// its local copy).
pub fn scope_sum<'a>(
    entities: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> (u64, u64) {
    entities
        .into_iter()
        .fold((0, 0), |(n, sum), (e, id, data)| {
            (n + 1, sum.wrapping_add(entity_hash(e, id, data)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_ignores_order_and_sees_any_changed_byte() {
        let a = [("subject", "1", "{\"a\":1}"), ("subject", "2", "{\"a\":2}")];
        let b = [a[1], a[0]];
        assert_eq!(scope_sum(a), scope_sum(b));
        let c = [("subject", "1", "{\"a\":1}"), ("subject", "2", "{\"a\":3}")];
        assert_ne!(scope_sum(a).1, scope_sum(c).1);
    }
}
