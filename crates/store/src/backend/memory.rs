//! The in-memory backend: one `BTreeMap` per tree behind a read-write lock; nothing reaches
//! a disk, so a store on it is gone when the process ends (ephemeral test servers, the
//! store's own tests run against it as well as sled).
//!
//! Transactions are serialised by a mutex, read through their own write set, and apply it
//! under the write lock at once: readers see all of a transaction or none of it, and no
//! transaction ever conflicts (its closure runs once). Keys and values are `Arc<[u8]>`, so a
//! read hands out a handle, not a copy.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::{TreeId, TxResult, TxView, Value, ValueRepr};
use crate::Result;

type Tree = BTreeMap<Arc<[u8]>, Arc<[u8]>>;
type Bytes = Arc<[u8]>;

fn value(b: &Bytes) -> Value {
    Value(ValueRepr::Shared(b.clone()))
}

#[derive(Clone, Default)]
pub(crate) struct MemoryBackend {
    shared: Arc<Shared>,
}

struct Shared {
    trees: RwLock<Vec<Tree>>,
    /// Held for the whole of a transaction: one at a time.
    commit: Mutex<()>,
    ids: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            trees: RwLock::new(vec![Tree::new(); TreeId::ALL.len()]),
            commit: Mutex::new(()),
            ids: AtomicU64::new(0),
        }
    }
}

impl MemoryBackend {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Tree>> {
        self.shared.trees.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Tree>> {
        self.shared.trees.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, tree: TreeId, key: &[u8]) -> Option<Value> {
        self.read()[tree.index()].get(key).map(value)
    }

    pub(crate) fn insert(&self, tree: TreeId, key: &[u8], v: &[u8]) {
        self.write()[tree.index()].insert(key.into(), v.into());
    }

    pub(crate) fn remove(&self, tree: TreeId, key: &[u8]) {
        self.write()[tree.index()].remove(key);
    }

    pub(crate) fn scan_prefix(
        &self,
        tree: TreeId,
        prefix: &[u8],
    ) -> std::vec::IntoIter<(Value, Value)> {
        self.read()[tree.index()]
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (value(k), value(v)))
            .collect::<Vec<_>>()
            .into_iter()
    }

    pub(crate) fn range(
        &self,
        tree: TreeId,
        from: &[u8],
        to: &[u8],
    ) -> std::vec::IntoIter<(Value, Value)> {
        if from > to {
            return Vec::new().into_iter();
        }
        self.read()[tree.index()]
            .range::<[u8], _>((Bound::Included(from), Bound::Included(to)))
            .map(|(k, v)| (value(k), value(v)))
            .collect::<Vec<_>>()
            .into_iter()
    }

    pub(crate) fn apply_batch(&self, tree: TreeId, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        let mut trees = self.write();
        let t = &mut trees[tree.index()];
        for (k, v) in ops {
            match v {
                Some(v) => t.insert(k.into(), v.into()),
                None => t.remove(&k[..]),
            };
        }
    }

    pub(crate) fn ids_above(&self, n: u64) {
        self.shared
            .ids
            .fetch_max(n.saturating_add(1), Ordering::Relaxed);
    }

    pub(crate) fn generate_id(&self) -> u64 {
        self.shared.ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn transact<T>(&self, f: impl Fn(TxView<'_>) -> TxResult<T>) -> Result<T> {
        let _one = crate::lock(&self.shared.commit);
        let state = TxState {
            backend: self,
            writes: RefCell::new(vec![BTreeMap::new(); TreeId::TX]),
        };
        // A conflict cannot happen (transactions run one at a time); any error aborts.
        let t = f(TxView::Memory(&state)).map_err(|e| match e {
            super::TxError::Abort(e) | super::TxError::Storage(e) => e,
            super::TxError::Conflict => crate::Error::Db("conflict in the memory backend".into()),
        })?;
        let writes = state.writes.into_inner();
        let mut trees = self.write();
        for (tree, w) in trees.iter_mut().zip(writes) {
            for (k, v) in w {
                match v {
                    Some(v) => tree.insert(k, v),
                    None => tree.remove(&k),
                };
            }
        }
        Ok(t)
    }
}

/// One memory transaction: the committed trees underneath, its own writes on top.
pub(crate) struct TxState<'a> {
    backend: &'a MemoryBackend,
    /// Per transactional tree: key → new value (`None`: removed).
    writes: RefCell<Vec<BTreeMap<Bytes, Option<Bytes>>>>,
}

impl TxState<'_> {
    pub(crate) fn get(&self, tree: TreeId, key: &[u8]) -> Option<Value> {
        if let Some(w) = self.writes.borrow()[tree.index()].get(key) {
            return w.as_ref().map(value);
        }
        self.backend.get(tree, key)
    }

    pub(crate) fn insert(&self, tree: TreeId, key: &[u8], v: &[u8]) {
        self.writes.borrow_mut()[tree.index()].insert(key.into(), Some(v.into()));
    }

    pub(crate) fn remove(&self, tree: TreeId, key: &[u8]) -> Option<Value> {
        let old = self.get(tree, key);
        self.writes.borrow_mut()[tree.index()].insert(key.into(), None);
        old
    }
}
