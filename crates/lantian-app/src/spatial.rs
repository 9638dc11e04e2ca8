//! The in-memory spatial index of subjects, kept current: each query compares the database's
//! subject revision (a counter that triggers move on every insert, update and delete, whoever made
//! it: the API, `lantian import`, a proposal accepted) with the revision the index was built at, and
//! rebuilds once when they differ. Queries meanwhile use the previous index.

use std::sync::{Arc, RwLock};

use lantian_domain::geo::SpatialIndex;
use lantian_store::geo::{self, Placed};
use lantian_store::{Store, StoreError};

type Built = Arc<(i64, SpatialIndex<Placed>)>;

pub(crate) struct SubjectIndex {
    current: RwLock<Built>,
    rebuild: tokio::sync::Mutex<()>,
}

impl SubjectIndex {
    pub fn new() -> SubjectIndex {
        SubjectIndex {
            current: RwLock::new(Arc::new((-1, SpatialIndex::build(Vec::new())))),
            rebuild: tokio::sync::Mutex::new(()),
        }
    }

    fn snapshot(&self) -> Built {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// The index as of the database's current subject revision.
    pub async fn current(&self, store: &Store) -> Result<Built, StoreError> {
        let rev = store.read(geo::subject_revision).await?;
        let now = self.snapshot();
        if now.0 == rev {
            return Ok(now);
        }
        let _one_rebuild = self.rebuild.lock().await;
        let now = self.snapshot();
        if now.0 >= rev {
            return Ok(now);
        }
        let fresh: Built = Arc::new(store.read(geo::subject_index).await?);
        match self.current.write() {
            Ok(mut g) => *g = Arc::clone(&fresh),
            Err(p) => *p.into_inner() = Arc::clone(&fresh),
        }
        Ok(fresh)
    }
}
