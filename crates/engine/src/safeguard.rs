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
    let share = deprovisioning as f64 / managed.max(1) as f64;
    if deprovisioning >= policy.min_count.max(1) && share > policy.max_share {
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
        let p = Safeguard { max_count: 10, max_share: 0.2, min_count: 3 };
        assert_eq!(hold_reason(&p, 0, 100), None);
        assert_eq!(hold_reason(&p, 10, 1000), None);
        assert!(hold_reason(&p, 11, 1000).unwrap().contains("max_count (10)"));
        assert!(hold_reason(&p, 3, 10).unwrap().contains("30%"));
        assert_eq!(hold_reason(&p, 2, 10), None, "20% is not more than 20%");
        assert_eq!(hold_reason(&p, 2, 4), None, "fewer than min_count users are never a share");
        assert_eq!(hold_reason(&p, 1, 1), None);
    }
}
