//! Deprovisioning held for approval when it is unusually large.

use crate::rules::Safeguard;

/// Why a set of deactivations and deletions must wait for an administrator, or None.
pub fn hold_reason(policy: &Safeguard, deprovisioning: u64, managed: u64) -> Option<String> {
    if deprovisioning == 0 {
        return None;
    }
    if deprovisioning > policy.max_count {
        return Some(format!(
            "{deprovisioning} users would be deactivated or deleted, more than safeguard.max_count ({})",
            policy.max_count
        ));
    }
    // A single deprovisioning is never "a share": small installations would hold every one.
    let share = deprovisioning as f64 / managed.max(1) as f64;
    if deprovisioning > 1 && share > policy.max_share {
        return Some(format!(
            "{deprovisioning} of {managed} managed users ({:.0}%) would be deactivated or deleted, more than safeguard.max_share ({:.0}%)",
            share * 100.0,
            policy.max_share * 100.0
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_above_count_or_share() {
        let p = Safeguard { max_count: 10, max_share: 0.2 };
        assert_eq!(hold_reason(&p, 0, 100), None);
        assert_eq!(hold_reason(&p, 10, 1000), None);
        assert!(hold_reason(&p, 11, 1000).unwrap().contains("max_count (10)"));
        assert!(hold_reason(&p, 3, 10).unwrap().contains("30%"));
        assert_eq!(hold_reason(&p, 2, 10), None);
        assert_eq!(hold_reason(&p, 1, 1), None);
    }
}
