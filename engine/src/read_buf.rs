//! Buffers that whole segments are read into.
//!
//! A MemFirst open reads every segment and keeps the buffers: entries are slices of them. So
//! the memory is fresh, and on Linux, faulting it in 4 KiB at a time cost more than the reads
//! themselves (a quarter of the open's time went to page faults and their zeroing). Large
//! buffers are therefore mapped directly, 2 MiB aligned, and marked for transparent huge
//! pages: one fault per 2 MiB. Where that is unavailable they are plain vectors; either way
//! the contents are the same zeroed bytes, so behaviour (and the simulator's traces) cannot
//! depend on which was used.

use bytes::Bytes;

/// Buffers at least this large are mapped for huge pages (Linux).
const HUGE_PAGE_MIN_BYTES: usize = 4 << 20;

/// A zeroed buffer of `len` bytes to read into, then [`ReadBuf::freeze`] into [`Bytes`].
pub(crate) enum ReadBuf {
    Vec(Vec<u8>),
    #[cfg(target_os = "linux")]
    Mapped(huge::Mapping),
}

impl ReadBuf {
    pub fn zeroed(len: usize) -> ReadBuf {
        #[cfg(target_os = "linux")]
        if len >= HUGE_PAGE_MIN_BYTES {
            if let Some(m) = huge::Mapping::new(len) {
                return ReadBuf::Mapped(m);
            }
        }
        ReadBuf::Vec(vec![0u8; len])
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            ReadBuf::Vec(v) => v,
            #[cfg(target_os = "linux")]
            ReadBuf::Mapped(m) => m.as_mut_slice(),
        }
    }

    /// The first `len` bytes, shared without a copy.
    pub fn freeze(self, len: usize) -> Bytes {
        match self {
            ReadBuf::Vec(mut v) => {
                v.truncate(len);
                Bytes::from(v)
            }
            #[cfg(target_os = "linux")]
            ReadBuf::Mapped(m) => Bytes::from_owner(m).slice(..len),
        }
    }
}

#[cfg(target_os = "linux")]
mod huge {
    const HUGE_PAGE_BYTES: usize = 2 << 20;

    /// An anonymous private mapping: zeroed by the kernel, unmapped on drop.
    ///
    /// Invariant: `ptr` is the start of a live mapping of `map_len` bytes that this value
    /// alone owns, and `offset + len <= map_len`.
    pub struct Mapping {
        ptr: *mut u8,
        map_len: usize,
        offset: usize,
        len: usize,
    }

    // SAFETY: the mapping is plain memory owned by this value; shared access is read-only
    // (through `AsRef`), mutable access needs `&mut self`.
    unsafe impl Send for Mapping {}
    unsafe impl Sync for Mapping {}

    impl Mapping {
        pub fn new(len: usize) -> Option<Mapping> {
            let map_len = len.checked_add(HUGE_PAGE_BYTES)?;
            // SAFETY: a fresh anonymous mapping; no existing memory is touched.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return None;
            }
            let ptr = ptr.cast::<u8>();
            let offset = (HUGE_PAGE_BYTES - ptr as usize % HUGE_PAGE_BYTES) % HUGE_PAGE_BYTES;
            // SAFETY: `offset + len <= map_len` lies inside the mapping. The advice is a hint:
            // if the kernel declines it, the pages are ordinary ones.
            unsafe {
                libc::madvise(ptr.add(offset).cast(), len, libc::MADV_HUGEPAGE);
            }
            debug_assert!(offset + len <= map_len);
            Some(Mapping {
                ptr,
                map_len,
                offset,
                len,
            })
        }

        pub fn as_mut_slice(&mut self) -> &mut [u8] {
            // SAFETY: in bounds (see the invariant), initialized (zeroed by the kernel), and
            // `&mut self` makes the access exclusive.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.add(self.offset), self.len) }
        }
    }

    impl AsRef<[u8]> for Mapping {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: as in `as_mut_slice`, shared.
            unsafe { std::slice::from_raw_parts(self.ptr.add(self.offset), self.len) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: the mapping is ours and nothing borrows it once we are dropped.
            unsafe {
                libc::munmap(self.ptr.cast(), self.map_len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_buffers_read_back_what_was_written() {
        for len in [0, 10, HUGE_PAGE_MIN_BYTES, HUGE_PAGE_MIN_BYTES + 12_345] {
            let mut b = ReadBuf::zeroed(len);
            assert!(
                b.as_mut_slice().iter().all(|x| *x == 0),
                "zeroed, len {len}"
            );
            for (i, x) in b.as_mut_slice().iter_mut().enumerate() {
                *x = (i % 251) as u8;
            }
            let keep = len / 2;
            let bytes = b.freeze(keep);
            assert_eq!(bytes.len(), keep);
            assert!(bytes.iter().enumerate().all(|(i, x)| *x == (i % 251) as u8));
            let slice = bytes.slice(keep / 3..);
            drop(bytes);
            assert!(slice
                .iter()
                .enumerate()
                .all(|(i, x)| *x == ((i + keep / 3) % 251) as u8));
        }
    }
}
