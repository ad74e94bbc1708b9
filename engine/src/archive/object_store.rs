//! [`ObjectStoreArchive`] (feature `object-store`): the archive on any backend of the
//! `object_store` crate: S3, GCS, Azure (the crate's `aws`, `gcp`, `azure` features), a
//! local directory or memory.

use std::io;
use std::sync::Arc;

use futures_executor::{block_on, block_on_stream};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::Archive;

/// An [`Archive`] over an `object_store` backend, objects under `prefix/`. The async calls
/// run to completion on the calling thread (`futures_executor::block_on`): the engine's
/// archive calls are synchronous, made by the thread that holds the log.
///
/// Durability is the backend's: S3, GCS and Azure acknowledge a put once it is durable;
/// `object_store::local::LocalFileSystem` renames a staged file into place without fsync,
/// so after a power loss it may lose a put it acknowledged (use [`super::FsArchive`] for a
/// local directory that must survive one); `memory::InMemory` keeps nothing across a
/// restart (tests).
#[derive(Debug)]
pub struct ObjectStoreArchive {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl ObjectStoreArchive {
    /// The archive in `store` under `prefix` (`""` for the root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> ObjectStoreArchive {
        let prefix = prefix.into().trim_matches('/').to_string();
        ObjectStoreArchive { store, prefix }
    }

    fn path(&self, name: &str) -> io::Result<ObjectPath> {
        let full = match self.prefix.is_empty() {
            true => name.to_string(),
            false => format!("{}/{name}", self.prefix),
        };
        ObjectPath::parse(&full).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

impl Archive for ObjectStoreArchive {
    fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let payload = PutPayload::from(bytes.to_vec());
        block_on(self.store.put(&self.path(name)?, payload)).map_err(to_io)?;
        Ok(())
    }

    fn read(&self, name: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let end = offset
            .checked_add(len)
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let got = block_on(self.store.get_range(&self.path(name)?, offset..end)).map_err(to_io)?;
        if (got.len() as u64) < len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(got.to_vec())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let mut names = Vec::new();
        for meta in block_on_stream(self.store.list(prefix.as_ref())) {
            let meta = meta.map_err(to_io)?;
            if let Some(name) = meta.location.filename() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        match block_on(self.store.delete(&self.path(name)?)) {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            r => r.map_err(to_io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[test]
    fn objects_round_trip_through_an_in_memory_store() {
        let a = ObjectStoreArchive::new(Arc::new(InMemory::new()), "store-1/");
        a.put("seg-1.log", b"hello world").unwrap();
        a.put("seg-2.log", b"x").unwrap();
        assert_eq!(a.read("seg-1.log", 6, 5).unwrap(), b"world");
        assert_eq!(a.list().unwrap(), vec!["seg-1.log", "seg-2.log"]);
        a.delete("seg-1.log").unwrap();
        a.delete("seg-1.log").unwrap();
        let e = a.read("seg-1.log", 0, 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(a.list().unwrap(), vec!["seg-2.log"]);
    }
}
