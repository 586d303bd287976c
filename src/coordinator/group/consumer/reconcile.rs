//! Moving one member from its current assignment towards its target, as Kafka's
//! `CurrentAssignmentBuilder`: first revoke (keeping the epoch), then take the new partitions
//! (at the target epoch) as soon as their previous owners have let go of them.

use super::assignor::Assignment;
use super::{ConsumerMember, MemberState};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Partitions a member reports owning in its heartbeat (None when it did not say).
pub type Owned<'a> = Option<&'a [(Uuid, Vec<i32>)]>;

/// Whether the member still owns any of `revoking` (an unreported set counts as owning).
fn owns_any(owned: Owned<'_>, revoking: &Assignment) -> bool {
    let Some(owned) = owned else { return true };
    owned.iter().any(|(topic, partitions)| {
        revoking
            .get(topic)
            .is_some_and(|set| partitions.iter().any(|p| set.contains(p)))
    })
}

/// The member's next state given the target. `taken(topic, partition)` says whether another
/// member still owns (or is revoking) a partition.
pub fn reconcile(
    member: &ConsumerMember,
    target_epoch: i32,
    target: &Assignment,
    owned: Owned<'_>,
    taken: &dyn Fn(Uuid, i32) -> bool,
) -> ConsumerMember {
    match member.state {
        MemberState::Stable if member.epoch == target_epoch => member.clone(),
        MemberState::Stable | MemberState::UnreleasedPartitions => {
            next(member, member.epoch, target_epoch, target, owned, taken)
        }
        MemberState::UnrevokedPartitions => {
            if owns_any(owned, &member.pending_revocation) {
                member.clone()
            } else {
                next(member, member.epoch + 1, target_epoch, target, owned, taken)
            }
        }
    }
}

fn next(
    member: &ConsumerMember,
    member_epoch: i32,
    target_epoch: i32,
    target: &Assignment,
    owned: Owned<'_>,
    taken: &dyn Fn(Uuid, i32) -> bool,
) -> ConsumerMember {
    let mut assigned = Assignment::new();
    let mut revoking = Assignment::new();
    let mut to_assign = Assignment::new();
    let mut unreleased = false;
    let topics: BTreeSet<Uuid> = target
        .keys()
        .chain(member.assigned.keys())
        .copied()
        .collect();
    let empty = BTreeSet::new();
    for topic in topics {
        let goal = target.get(&topic).unwrap_or(&empty);
        let current = member.assigned.get(&topic).unwrap_or(&empty);
        let keep: BTreeSet<i32> = current.intersection(goal).copied().collect();
        let revoke: BTreeSet<i32> = current.difference(&keep).copied().collect();
        let mut add: BTreeSet<i32> = goal.difference(&keep).copied().collect();
        let before = add.len();
        add.retain(|p| !taken(topic, *p));
        unreleased |= add.len() != before;
        if !keep.is_empty() {
            assigned.insert(topic, keep);
        }
        if !revoke.is_empty() {
            revoking.insert(topic, revoke);
        }
        if !add.is_empty() {
            to_assign.insert(topic, add);
        }
    }
    let mut updated = member.clone();
    updated.previous_epoch = member.epoch;
    if !revoking.is_empty() && owns_any(owned, &revoking) {
        updated.state = MemberState::UnrevokedPartitions;
        updated.epoch = member_epoch;
        updated.assigned = assigned;
        updated.pending_revocation = revoking;
        return updated;
    }
    for (topic, partitions) in to_assign {
        assigned.entry(topic).or_default().extend(partitions);
    }
    updated.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    updated.epoch = target_epoch;
    updated.assigned = assigned;
    updated.pending_revocation = Assignment::new();
    updated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(topic: Uuid, ps: &[i32]) -> Assignment {
        Assignment::from([(topic, ps.iter().copied().collect())])
    }

    #[test]
    fn revoke_first_then_assign_when_released() {
        let t = Uuid::new_v4();
        let mut m = ConsumerMember::new("m");
        m.epoch = 1;
        m.assigned = a(t, &[0, 1, 2]);
        // Target at epoch 2 moves partition 2 away and brings 3 (still owned elsewhere).
        let target = a(t, &[0, 1, 3]);
        let owned = vec![(t, vec![0, 1, 2])];
        let taken = |_: Uuid, p: i32| p == 3;
        let r = reconcile(&m, 2, &target, Some(&owned), &taken);
        assert_eq!(r.state, MemberState::UnrevokedPartitions);
        assert_eq!(r.epoch, 1, "stays at its epoch until it revoked");
        assert_eq!(r.assigned, a(t, &[0, 1]));
        assert_eq!(r.pending_revocation, a(t, &[2]));
        // Still reporting partition 2: nothing moves.
        assert_eq!(
            reconcile(&r, 2, &target, Some(&owned), &taken).state,
            MemberState::UnrevokedPartitions
        );
        // Revoked; 3 is still owned by someone else.
        let owned = vec![(t, vec![0, 1])];
        let r = reconcile(&r, 2, &target, Some(&owned), &taken);
        assert_eq!(r.state, MemberState::UnreleasedPartitions);
        assert_eq!(r.epoch, 2);
        assert_eq!(r.assigned, a(t, &[0, 1]));
        // 3 is released.
        let r = reconcile(&r, 2, &target, Some(&owned), &|_, _| false);
        assert_eq!(r.state, MemberState::Stable);
        assert_eq!(r.assigned, a(t, &[0, 1, 3]));
    }

    #[test]
    fn new_member_gets_free_partitions_at_once() {
        let t = Uuid::new_v4();
        let m = ConsumerMember::new("m");
        let r = reconcile(&m, 1, &a(t, &[0, 1]), Some(&[]), &|_, _| false);
        assert_eq!((r.state, r.epoch), (MemberState::Stable, 1));
        assert_eq!(r.assigned, a(t, &[0, 1]));
    }
}
