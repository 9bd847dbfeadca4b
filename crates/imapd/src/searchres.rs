//! RFC 5182 SEARCHRES on the session side: what `SEARCH RETURN (SAVE)` keeps, and `$` put
//! back into a command as the messages it names now.
//!
//! The result is kept as UIDs in the session's [`Selected`], so it goes with the mailbox:
//! a SELECT, EXAMINE, CLOSE or UNSELECT drops it with the rest of the selected state, and
//! a new selection starts empty (RFC 5182 §2.1). A message expunged since is left out when
//! `$` is used (RFC 5182 §2.1: the saved result loses expunged messages), because only
//! messages the session still knows are turned into numbers.

use store::Uid;

use crate::command::{Bound, Kind, SearchReturn, SeqSet};
use crate::selected::Selected;

/// The UIDs a `SEARCH RETURN (...SAVE...)` keeps from its hits (ascending UIDs of the
/// matches, in mailbox order).
pub fn to_save(r: &SearchReturn, hits: &[Uid]) -> Vec<Uid> {
    // RFC 5182 §2.2: with MIN and/or MAX and neither ALL nor COUNT, only the messages
    // returned are saved; otherwise every match.
    if (r.min || r.max) && !(r.all || r.count) {
        let mut v: Vec<Uid> = Vec::new();
        if let (Some(&first), true) = (hits.first(), r.min) {
            v.push(first);
        }
        if let (Some(&last), true) = (hits.last(), r.max) {
            if v.last() != Some(&last) {
                v.push(last);
            }
        }
        return v;
    }
    hits.to_vec()
}

/// Replaces every `$` of the command with the saved result: UIDs where the set holds UIDs,
/// the messages' current sequence numbers otherwise (RFC 5182 §2.1). No saved result is the
/// empty set (RFC 5182 §2.1: the variable starts empty), which matches nothing.
pub fn substitute(kind: &mut Kind, sel: &Selected) {
    kind.sets_mut(&mut |set, uid| {
        if !set.is_saved() {
            return;
        }
        let mut nums: Vec<u32> = sel
            .saved
            .iter()
            .filter_map(|&u| sel.seq_of(u).map(|q| if uid { u.get() } else { q.get() }))
            .collect();
        nums.sort_unstable();
        *set = ranges(&nums);
    });
}

/// A sorted list of numbers as a set of ranges.
fn ranges(nums: &[u32]) -> SeqSet {
    let mut out: Vec<(Bound, Bound)> = Vec::new();
    for &n in nums {
        match out.last_mut() {
            Some((_, Bound::Num(hi))) if hi.checked_add(1) == Some(n) => *hi = n,
            _ => out.push((Bound::Num(n), Bound::Num(n))),
        }
    }
    SeqSet(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_messages_per_return_option() {
        let hits = [2, 5, 9].map(Uid::new);
        let r = |s: &str| SearchReturn {
            min: s.contains("MIN"),
            max: s.contains("MAX"),
            all: s.contains("ALL"),
            count: s.contains("COUNT"),
            save: true,
            partial: None,
            update: false,
        };
        let u = |v: &[u32]| v.iter().map(|&n| Uid::new(n)).collect::<Vec<_>>();
        assert_eq!(to_save(&r(""), &hits), u(&[2, 5, 9]));
        assert_eq!(to_save(&r("MIN"), &hits), u(&[2]));
        assert_eq!(to_save(&r("MAX"), &hits), u(&[9]));
        assert_eq!(to_save(&r("MIN MAX"), &hits), u(&[2, 9]));
        assert_eq!(to_save(&r("MIN COUNT"), &hits), u(&[2, 5, 9]));
        assert_eq!(to_save(&r("MAX ALL"), &hits), u(&[2, 5, 9]));
        assert_eq!(to_save(&r("MIN MAX"), &hits[..1]), u(&[2]));
        assert_eq!(to_save(&r("MIN"), &[]), u(&[]));
    }

    #[test]
    fn ranges_merge() {
        let s = ranges(&[1, 2, 3, 7, 9, 10]);
        assert_eq!(
            s.0,
            [(1, 3), (7, 7), (9, 10)].map(|(a, b)| (Bound::Num(a), Bound::Num(b)))
        );
        assert!(s.contains(9u32, 10) && !s.contains(8u32, 10));
        assert!(ranges(&[]).0.is_empty());
    }
}
