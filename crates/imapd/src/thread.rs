//! THREAD (RFC 5256 §4): ORDEREDSUBJECT and REFERENCES over the messages a search matched,
//! Dovecot's REFS, and the parenthesized answer (RFC 5256 §5 `thread-list`).
//!
//! Input is in mailbox order; each message carries its number (sequence number, or UID for
//! UID THREAD) and the [`sort::Fields`] read from its header. "Sent date" ties keep mailbox
//! order (RFC 5256 §2.2).

use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use crate::sort::Fields;

/// The threading algorithms we offer (RFC 5256 §3 `THREAD=` capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    OrderedSubject,
    References,
    /// Dovecot's THREAD=REFS (no RFC; the `THREAD=` capability of RFC 5256 §3 leaves room
    /// for it): REFERENCES without gathering threads by subject (step 5), threads ordered by
    /// their latest message.
    Refs,
}

impl Algorithm {
    pub fn parse(name: &str) -> Option<Algorithm> {
        if name.eq_ignore_ascii_case("ORDEREDSUBJECT") {
            Some(Algorithm::OrderedSubject)
        } else if name.eq_ignore_ascii_case("REFERENCES") {
            Some(Algorithm::References)
        } else if name.eq_ignore_ascii_case("REFS") {
            Some(Algorithm::Refs)
        } else {
            None
        }
    }
}

/// A node of a thread tree: a message, or a dummy that only groups its children (REFERENCES
/// keeps one at the top when messages share a missing parent or a base subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub number: Option<u32>,
    pub children: Vec<Node>,
}

/// The threads of `msgs` (number, fields), in mailbox order.
pub fn thread(algorithm: Algorithm, msgs: &[(u32, Arc<Fields>)]) -> Vec<Node> {
    match algorithm {
        Algorithm::OrderedSubject => ordered_subject(msgs),
        Algorithm::References => references(msgs, true),
        Algorithm::Refs => references(msgs, false),
    }
}

/// RFC 5256 §4 ORDEREDSUBJECT: messages sorted by base subject, then sent date; each run of
/// one base subject is a thread whose first message is the parent of all the others; threads
/// are ordered by the sent date of their first message.
fn ordered_subject(msgs: &[(u32, Arc<Fields>)]) -> Vec<Node> {
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by(|&a, &b| {
        (&msgs[a].1.subject, msgs[a].1.date, a).cmp(&(&msgs[b].1.subject, msgs[b].1.date, b))
    });
    let mut threads: Vec<(i64, usize, Node)> = Vec::new();
    let mut last_subject: Option<&str> = None;
    for i in order {
        let (number, f) = &msgs[i];
        let leaf = Node {
            number: Some(*number),
            children: Vec::new(),
        };
        match (last_subject, threads.last_mut()) {
            (Some(s), Some((_, _, parent))) if s == f.subject => parent.children.push(leaf),
            _ => threads.push((f.date, i, leaf)),
        }
        last_subject = Some(&f.subject);
    }
    threads.sort_by_key(|(date, i, _)| (*date, *i));
    threads.into_iter().map(|(_, _, n)| n).collect()
}

/// One container of the REFERENCES algorithm: a message (index into the input) or a dummy.
struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Arena<'a> {
    c: Vec<Container>,
    msgs: &'a [(u32, Arc<Fields>)],
}

impl Arena<'_> {
    fn new_container(&mut self, msg: Option<usize>) -> usize {
        self.c.push(Container {
            msg,
            parent: None,
            children: Vec::new(),
        });
        self.c.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut at = Some(b);
        while let Some(x) = at {
            if x == a {
                return true;
            }
            at = self.c[x].parent;
        }
        false
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.c[child].parent.take() {
            self.c[p].children.retain(|&x| x != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.c[child].parent = Some(parent);
        self.c[parent].children.push(child);
    }

    /// Sent date of a container: its message's, or its first child's (children sorted).
    fn date(&self, x: usize) -> (i64, usize) {
        match self.c[x].msg {
            Some(m) => (self.msgs[m].1.date, m),
            None => self.c[x]
                .children
                .first()
                .map_or((i64::MAX, usize::MAX), |&k| self.date(k)),
        }
    }

    fn subject(&self, x: usize) -> Option<(&str, bool)> {
        let m = match self.c[x].msg {
            Some(m) => m,
            // A dummy goes by its first child (RFC 5256 §4 REFERENCES step 5A).
            None => self.c[x].children.first().and_then(|&k| self.c[k].msg)?,
        };
        let f = &self.msgs[m].1;
        Some((f.subject.as_str(), f.reply))
    }

    /// (3) Dummies without children go; a dummy's children take its place, except at the
    /// top when there is more than one of them.
    fn prune(&mut self, list: Vec<usize>, top: bool) -> Vec<usize> {
        let mut out = Vec::new();
        for x in list {
            let kids = std::mem::take(&mut self.c[x].children);
            let kids = self.prune(kids, false);
            if self.c[x].msg.is_none() && (kids.is_empty() || !top || kids.len() == 1) {
                for &k in &kids {
                    self.c[k].parent = self.c[x].parent;
                }
                out.extend(kids);
            } else {
                for &k in &kids {
                    self.c[k].parent = Some(x);
                }
                self.c[x].children = kids;
                out.push(x);
            }
        }
        out
    }

    /// (6) Siblings ordered by sent date, at every level.
    fn sort_all(&mut self, list: &mut [usize]) {
        for &x in list.iter() {
            let mut kids = std::mem::take(&mut self.c[x].children);
            self.sort_all(&mut kids);
            self.c[x].children = kids;
        }
        list.sort_by_key(|&x| self.date(x));
    }

    /// THREAD=REFS: the latest (sent date, mailbox position) in the thread under `x`, by
    /// which REFS orders threads (a tie goes to the thread whose latest message came first).
    fn latest(&self, x: usize) -> (i64, usize) {
        let own = self.c[x].msg.map(|m| (self.msgs[m].1.date, m));
        self.c[x]
            .children
            .iter()
            .map(|&k| self.latest(k))
            .chain(own)
            .max()
            .unwrap_or((i64::MIN, 0))
    }

    fn node(&self, x: usize) -> Node {
        Node {
            number: self.c[x].msg.map(|m| self.msgs[m].0),
            children: self.c[x].children.iter().map(|&k| self.node(k)).collect(),
        }
    }
}

/// RFC 5256 §4 REFERENCES (steps numbered as there); `gather` false for Dovecot's REFS,
/// which leaves out step 5 and orders the threads by their latest message.
fn references(msgs: &[(u32, Arc<Fields>)], gather: bool) -> Vec<Node> {
    let mut a = Arena {
        c: Vec::new(),
        msgs,
    };
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, (_, f)) in msgs.iter().enumerate() {
        // (1A) A container per Message-ID; a message without one, or with one already taken
        // by another message, gets a container of its own.
        let me = match f.message_id.as_deref() {
            Some(id) => match by_id.get(id) {
                Some(&c) if a.c[c].msg.is_none() => {
                    a.c[c].msg = Some(i);
                    c
                }
                Some(_) => a.new_container(Some(i)),
                None => {
                    let c = a.new_container(Some(i));
                    by_id.insert(id, c);
                    c
                }
            },
            None => a.new_container(Some(i)),
        };
        // (1B) Link the references in order, keeping links that exist and making no loops.
        let mut prev: Option<usize> = None;
        for id in &f.references {
            let c = match by_id.get(id.as_str()) {
                Some(&c) => c,
                None => {
                    let c = a.new_container(None);
                    by_id.insert(id, c);
                    c
                }
            };
            if let Some(p) = prev {
                if a.c[c].parent.is_none() && !a.is_ancestor(c, p) {
                    a.link(p, c);
                }
            }
            prev = Some(c);
        }
        // (1C) The message's parent is its last reference, replacing any earlier link,
        // unless that would make a loop.
        match prev {
            Some(p) if a.c[me].parent == Some(p) => {}
            Some(p) if !a.is_ancestor(me, p) => {
                a.unlink(me);
                a.link(p, me);
            }
            Some(_) => {}
            // No references: no parent.
            None => a.unlink(me),
        }
    }
    // (2) The root set: containers without a parent, in creation order.
    let roots: Vec<usize> = (0..a.c.len())
        .filter(|&x| a.c[x].parent.is_none())
        .collect();
    // (3) Prune dummies.
    let mut roots = a.prune(roots, true);
    // (4) Top-level threads by sent date (a dummy's by its earliest child).
    for &x in &roots {
        let mut kids = std::mem::take(&mut a.c[x].children);
        kids.sort_by_key(|&k| a.date(k));
        a.c[x].children = kids;
    }
    roots.sort_by_key(|&x| a.date(x));
    if !gather {
        // REFS: no subject gathering; every level by sent date, then the threads by their
        // latest message.
        a.sort_all(&mut roots);
        roots.sort_by_key(|&x| a.latest(x));
        return roots.iter().map(|&x| a.node(x)).collect();
    }
    // (5) Threads at the top with the same base subject are gathered.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &x in &roots {
        let Some((subject, reply)) = a.subject(x) else {
            continue;
        };
        if subject.is_empty() {
            continue;
        }
        match table.get(subject) {
            None => {
                table.insert(subject.to_string(), x);
            }
            Some(&old) => {
                let old_reply = a.subject(old).is_some_and(|(_, r)| r);
                let replace = (a.c[x].msg.is_none() && a.c[old].msg.is_some())
                    || (old_reply && !reply && a.c[x].msg.is_some());
                if replace {
                    table.insert(subject.to_string(), x);
                }
            }
        }
    }
    let mut kept: Vec<usize> = Vec::new();
    // Where each kept root is in `kept` (no linear search per merge on a large mailbox).
    let mut kept_at: HashMap<usize, usize> = HashMap::new();
    // Roots already placed under a dummy made for an earlier root.
    let mut wrapped: HashSet<usize> = HashSet::new();
    for &x in &roots {
        if wrapped.contains(&x) {
            continue;
        }
        let subject = a.subject(x).map(|(s, _)| s.to_string());
        let reply = a.subject(x).is_some_and(|(_, r)| r);
        let Some(&t) = subject
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|s| table.get(s))
        else {
            keep(&mut kept, &mut kept_at, x);
            continue;
        };
        if t == x {
            keep(&mut kept, &mut kept_at, x);
            continue;
        }
        let (x_dummy, t_dummy) = (a.c[x].msg.is_none(), a.c[t].msg.is_none());
        let t_reply = a.subject(t).is_some_and(|(_, r)| r);
        if x_dummy && t_dummy {
            // (5B) Both dummies: x's children join t's.
            let kids = std::mem::take(&mut a.c[x].children);
            for k in kids {
                a.c[k].parent = None;
                a.link(t, k);
            }
        } else if t_dummy || (reply && !t_reply) {
            // The one in the table is a dummy, or x is a reply to it: x becomes its child.
            a.link(t, x);
        } else {
            // Otherwise a new dummy holds both, where t was.
            let d = a.new_container(None);
            match kept_at.remove(&t) {
                Some(pos) => {
                    kept[pos] = d;
                    kept_at.insert(d, pos);
                }
                None => {
                    keep(&mut kept, &mut kept_at, d);
                    wrapped.insert(t);
                }
            }
            a.link(d, t);
            a.link(d, x);
            let key = subject.unwrap_or_default();
            table.insert(key, d);
        }
    }
    // (6) Every level by sent date.
    a.sort_all(&mut kept);
    kept.iter().map(|&x| a.node(x)).collect()
}

/// Appends a top-level container, remembering where it is.
fn keep(kept: &mut Vec<usize>, at: &mut HashMap<usize, usize>, x: usize) {
    at.insert(x, kept.len());
    kept.push(x);
}

/// RFC 5256 §5 thread-list: `(2)(3 6 (4 23)(44 7 96))`: a message and its only child run on
/// in one list; two or more children are each a nested list.
pub fn render(threads: &[Node]) -> String {
    let mut out = String::new();
    for t in threads {
        out.push('(');
        members(t, &mut out);
        out.push(')');
    }
    out
}

fn members(n: &Node, out: &mut String) {
    let mut n = n;
    let mut first = true;
    loop {
        if let Some(number) = n.number {
            if !first {
                out.push(' ');
            }
            out.push_str(&number.to_string());
            first = false;
        }
        match n.children.as_slice() {
            [] => return,
            [only] if n.number.is_some() => n = only,
            kids => {
                if !first {
                    out.push(' ');
                }
                for k in kids {
                    out.push('(');
                    members(k, out);
                    out.push(')');
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u32, id: &str, refs: &[&str], subject: &str, date: i64) -> (u32, Arc<Fields>) {
        let (base, reply) = crate::sort::base_subject(subject);
        (
            n,
            Arc::new(Fields {
                date,
                subject: crate::sort::fold(&base),
                reply,
                message_id: (!id.is_empty()).then(|| id.to_string()),
                references: refs.iter().map(|s| s.to_string()).collect(),
                ..Fields::default()
            }),
        )
    }

    #[test]
    fn render_forms() {
        let leaf = |n| Node {
            number: Some(n),
            children: vec![],
        };
        let node = |n, children| Node {
            number: n,
            children,
        };
        // The RFC 5256 §5 example: (2)(3 6 (4 23)(44 7 96)).
        let t = vec![
            leaf(2),
            node(
                Some(3),
                vec![node(
                    Some(6),
                    vec![
                        node(Some(4), vec![leaf(23)]),
                        node(Some(44), vec![node(Some(7), vec![leaf(96)])]),
                    ],
                )],
            ),
        ];
        assert_eq!(render(&t), "(2)(3 6 (4 23)(44 7 96))");
        // A dummy at the top with two children.
        assert_eq!(render(&[node(None, vec![leaf(3), leaf(5)])]), "((3)(5))");
        assert_eq!(render(&[]), "");
    }

    #[test]
    fn ordered_subject_groups_by_base_subject() {
        let msgs = vec![
            msg(1, "", &[], "Hello", 100),
            msg(2, "", &[], "Other", 50),
            msg(3, "", &[], "Re: Hello", 300),
            msg(4, "", &[], "Re: hello", 200),
            msg(5, "", &[], "Third", 400),
        ];
        assert_eq!(
            render(&thread(Algorithm::OrderedSubject, &msgs)),
            "(2)(1 (4)(3))(5)"
        );
    }

    #[test]
    fn references_follows_the_chain_and_prunes_dummies() {
        let msgs = vec![
            msg(1, "a@x", &[], "Topic", 100),
            msg(2, "b@x", &["a@x"], "Re: Topic", 200),
            msg(3, "c@x", &["a@x", "b@x"], "Re: Topic", 300),
            msg(4, "d@x", &["a@x"], "Re: Topic", 250),
            // A reply to a message we do not have: a dummy parent, pruned away.
            msg(5, "e@x", &["missing@x"], "Lonely", 50),
            // Two replies to one missing message: the dummy stays, holding both.
            msg(6, "f@x", &["gone@x"], "Gone", 400),
            msg(7, "g@x", &["gone@x"], "Re: Gone", 500),
        ];
        assert_eq!(
            render(&thread(Algorithm::References, &msgs)),
            "(5)(1 (2 3)(4))((6)(7))"
        );
    }

    #[test]
    fn references_gathers_top_level_threads_by_subject() {
        // No references at all: the reply is put under the original by subject (5B).
        let msgs = vec![
            msg(1, "a@x", &[], "Plan", 100),
            msg(2, "b@x", &[], "Re: Plan", 200),
            msg(3, "c@x", &[], "Plan", 300),
            msg(4, "d@x", &[], "", 50),
        ];
        assert_eq!(
            render(&thread(Algorithm::References, &msgs)),
            "(4)((1 2)(3))"
        );
    }

    /// Dovecot's REFS on the messages its answer was checked against: no gathering by
    /// subject (2 and 4 stay apart), threads by their latest message (1's thread last, the
    /// dummy of 5 and 6 before 7 at the same date), children by date as in REFERENCES.
    #[test]
    fn refs_orders_threads_by_latest_message() {
        let day = |d: i64| d * 86_400;
        let msgs = vec![
            msg(1, "a@x", &[], "A", day(1)),
            msg(2, "b@x", &[], "B", day(5)),
            msg(3, "c@x", &["a@x"], "Re: A", day(10)),
            msg(4, "d@x", &[], "Re: B", day(7)),
            msg(5, "e@x", &["zz@x"], "E", day(2)),
            msg(6, "f@x", &["zz@x"], "F", day(3)),
            msg(7, "g@x", &[], "G", day(3)),
            msg(8, "h@x", &["a@x"], "Re: A", day(2)),
        ];
        assert_eq!(
            render(&thread(Algorithm::References, &msgs)),
            "(1 (8)(3))((5)(6))(7)(2 4)"
        );
        assert_eq!(
            render(&thread(Algorithm::Refs, &msgs)),
            "((5)(6))(7)(2)(4)(1 (8)(3))"
        );
        assert_eq!(
            render(&thread(Algorithm::Refs, &msgs[..6])),
            "((5)(6))(2)(4)(1 3)"
        );
    }

    #[test]
    fn references_survives_loops_and_duplicate_ids() {
        let msgs = vec![
            msg(1, "a@x", &["b@x"], "x", 100),
            msg(2, "b@x", &["a@x"], "y", 200),
            msg(3, "a@x", &[], "z", 300),
            msg(4, "", &["a@x", "a@x"], "w", 400),
        ];
        let out = render(&thread(Algorithm::References, &msgs));
        for n in ["1", "2", "3", "4"] {
            assert_eq!(
                out.split(|c: char| !c.is_ascii_digit())
                    .filter(|s| *s == n)
                    .count(),
                1,
                "{n} once in {out}"
            );
        }
    }
}
