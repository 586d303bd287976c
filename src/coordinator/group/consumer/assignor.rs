//! The server-side assignors of KIP-848 groups: `uniform` (balanced and sticky: members keep
//! what they had as far as balance allows) and `range` (contiguous ranges per topic).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// What an assignor knows about a member.
pub struct AssignorMember<'a> {
    pub id: &'a str,
    /// Subscribed topic names.
    pub topics: &'a BTreeSet<String>,
    /// The member's previous target assignment, kept where possible.
    pub previous: Option<&'a Assignment>,
}

/// Subscribed topics that exist: name → (topic id, partition count).
pub type TopicMetadata = BTreeMap<String, (Uuid, i32)>;

/// Computes the target assignment of every member with the named assignor (`range`, or
/// `uniform` for anything else).
pub fn assign(
    assignor: &str,
    members: &[AssignorMember<'_>],
    topics: &TopicMetadata,
) -> HashMap<String, Assignment> {
    if assignor == "range" {
        range(members, topics)
    } else {
        uniform(members, topics)
    }
}

fn range(members: &[AssignorMember<'_>], topics: &TopicMetadata) -> HashMap<String, Assignment> {
    let mut result: HashMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for (name, (id, count)) in topics {
        let mut subscribed: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(name))
            .map(|m| m.id)
            .collect();
        if subscribed.is_empty() {
            continue;
        }
        subscribed.sort_unstable();
        let n = subscribed.len() as i32;
        let (per, extra) = (count / n, count % n);
        let mut start = 0;
        for (i, member) in subscribed.iter().enumerate() {
            let len = per + i32::from((i as i32) < extra);
            if len > 0
                && let Some(a) = result.get_mut(*member)
            {
                a.entry(*id).or_default().extend(start..start + len);
            }
            start += len;
        }
    }
    result
}

fn uniform(members: &[AssignorMember<'_>], topics: &TopicMetadata) -> HashMap<String, Assignment> {
    let by_id: HashMap<Uuid, (&str, i32)> = topics
        .iter()
        .map(|(name, (id, count))| (*id, (name.as_str(), *count)))
        .collect();
    let mut sorted: Vec<&AssignorMember<'_>> = members.iter().collect();
    sorted.sort_by_key(|m| m.id);
    let eligible = |m: &AssignorMember<'_>, topic: &Uuid| {
        by_id
            .get(topic)
            .is_some_and(|(name, _)| m.topics.contains(*name))
    };
    let mut owned: HashMap<&str, BTreeSet<(Uuid, i32)>> =
        sorted.iter().map(|m| (m.id, BTreeSet::new())).collect();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    // 1. Stickiness: keep previous partitions that still exist and are still subscribed.
    for m in &sorted {
        for (topic, partitions) in m.previous.into_iter().flatten() {
            let Some((_, count)) = by_id.get(topic) else {
                continue;
            };
            if !eligible(m, topic) {
                continue;
            }
            for p in partitions.iter().filter(|p| **p < *count) {
                if taken.insert((*topic, *p))
                    && let Some(set) = owned.get_mut(m.id)
                {
                    set.insert((*topic, *p));
                }
            }
        }
    }
    // 2. Every other partition goes to the least loaded member subscribed to its topic.
    for (id, count) in topics.values() {
        for p in 0..*count {
            if taken.contains(&(*id, p)) {
                continue;
            }
            let target = sorted
                .iter()
                .filter(|m| eligible(m, id))
                .min_by_key(|m| owned.get(m.id).map_or(0, BTreeSet::len));
            if let Some(m) = target
                && let Some(set) = owned.get_mut(m.id)
            {
                set.insert((*id, p));
                taken.insert((*id, p));
            }
        }
    }
    // 3. Balance: move partitions from the most to the least loaded members while the gap
    //    exceeds one (kept partitions may have left members uneven).
    let total: usize = owned.values().map(BTreeSet::len).sum();
    for _ in 0..=total {
        let mut loads: Vec<(&str, usize)> = sorted
            .iter()
            .map(|m| (m.id, owned.get(m.id).map_or(0, BTreeSet::len)))
            .collect();
        loads.sort_by_key(|(id, n)| (std::cmp::Reverse(*n), *id));
        let mut moved = false;
        'search: for (from, from_n) in &loads {
            for (to, to_n) in loads.iter().rev() {
                if from_n <= &(to_n + 1) {
                    break;
                }
                let Some(to_member) = sorted.iter().find(|m| m.id == *to) else {
                    continue;
                };
                let candidate = owned
                    .get(*from)
                    .and_then(|set| set.iter().rev().find(|(t, _)| eligible(to_member, t)))
                    .copied();
                if let Some(tp) = candidate {
                    if let Some(set) = owned.get_mut(*from) {
                        set.remove(&tp);
                    }
                    if let Some(set) = owned.get_mut(*to) {
                        set.insert(tp);
                    }
                    moved = true;
                    break 'search;
                }
            }
        }
        if !moved {
            break;
        }
    }
    owned
        .into_iter()
        .map(|(member, set)| {
            let mut a = Assignment::new();
            for (topic, p) in set {
                a.entry(topic).or_default().insert(p);
            }
            (member.to_string(), a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(spec: &[(&str, i32)]) -> TopicMetadata {
        spec.iter()
            .map(|(n, c)| (n.to_string(), (Uuid::new_v4(), *c)))
            .collect()
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    fn covers_exactly_once(result: &HashMap<String, Assignment>, topics: &TopicMetadata) {
        let mut seen = BTreeSet::new();
        for a in result.values() {
            for (t, ps) in a {
                for p in ps {
                    assert!(seen.insert((*t, *p)), "partition {t}-{p} assigned twice");
                }
            }
        }
        let total: i32 = topics.values().map(|(_, c)| c).sum();
        assert_eq!(seen.len(), total as usize, "every partition assigned");
    }

    #[test]
    fn uniform_is_balanced_and_sticky() {
        let t = topics(&[("a", 6), ("b", 1)]);
        let subs: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let two: Vec<AssignorMember<'_>> = ["m1", "m2"]
            .iter()
            .map(|id| AssignorMember {
                id,
                topics: &subs,
                previous: None,
            })
            .collect();
        let first = assign("uniform", &two, &t);
        covers_exactly_once(&first, &t);
        let counts: Vec<usize> = first.values().map(count).collect();
        assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
        // A third member joins: the others keep all but what they must give up.
        let three: Vec<AssignorMember<'_>> = ["m1", "m2", "m3"]
            .iter()
            .map(|id| AssignorMember {
                id,
                topics: &subs,
                previous: first.get(*id),
            })
            .collect();
        let second = assign("uniform", &three, &t);
        covers_exactly_once(&second, &t);
        for id in ["m1", "m2"] {
            let before = &first[id];
            let after = &second[id];
            for (topic, ps) in after {
                assert!(ps.is_subset(&before[topic]), "{id} only lost partitions");
            }
        }
        let counts: Vec<usize> = second.values().map(count).collect();
        assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
    }

    #[test]
    fn uniform_respects_subscriptions() {
        let t = topics(&[("a", 4), ("b", 4)]);
        let only_a: BTreeSet<String> = ["a".to_string()].into();
        let only_b: BTreeSet<String> = ["b".to_string()].into();
        let members = [
            AssignorMember {
                id: "x",
                topics: &only_a,
                previous: None,
            },
            AssignorMember {
                id: "y",
                topics: &only_b,
                previous: None,
            },
        ];
        let r = assign("uniform", &members, &t);
        covers_exactly_once(&r, &t);
        assert_eq!(r["x"].keys().collect::<Vec<_>>(), vec![&t["a"].0]);
        assert_eq!(r["y"].keys().collect::<Vec<_>>(), vec![&t["b"].0]);
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let t = topics(&[("a", 5)]);
        let subs: BTreeSet<String> = ["a".to_string()].into();
        let members = [
            AssignorMember {
                id: "m2",
                topics: &subs,
                previous: None,
            },
            AssignorMember {
                id: "m1",
                topics: &subs,
                previous: None,
            },
        ];
        let r = assign("range", &members, &t);
        let id = t["a"].0;
        assert_eq!(r["m1"][&id], BTreeSet::from([0, 1, 2]));
        assert_eq!(r["m2"][&id], BTreeSet::from([3, 4]));
    }
}
