//! Device copies of host buffers, kept while the host buffer lives.
//!
//! A host `Buffer` never changes once realized: kernels write only fresh outputs, and a GPU result
//! is copied into its fresh host buffer once. So a device copy made once stays valid for as long
//! as the host buffer exists, and repeated `realize()` calls over the same inputs upload them
//! once. Entries whose host buffer has been dropped are freed at the next `purge`.
//!
//! Generic over the device memory type, so the bookkeeping is tested on the CPU with a fake.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::error::Result;
use crate::runtime::buffer::Buffer;

/// Device memory of one host buffer, dropped (freed) with its entry.
#[derive(Debug)]
pub struct Residency<D> {
    map: HashMap<u64, (Weak<Buffer>, D)>,
}

impl<D> Default for Residency<D> {
    fn default() -> Self {
        Residency {
            map: HashMap::new(),
        }
    }
}

impl<D> Residency<D> {
    /// Free the device copies of host buffers that no longer exist; returns how many.
    pub fn purge(&mut self) -> usize {
        let before = self.map.len();
        self.map.retain(|_, (host, _)| host.strong_count() > 0);
        before - self.map.len()
    }

    /// The device copy of `host`, made by `make` (allocation plus any upload) when there is none.
    /// `make` is told whether the copy needs the host's contents (`upload`): outputs do not.
    pub fn get_or_make(
        &mut self,
        host: &Arc<Buffer>,
        upload: bool,
        make: impl FnOnce(&Buffer, bool) -> Result<D>,
    ) -> Result<&D> {
        // a stale entry (its host buffer dropped) is replaced, never returned
        match self.map.entry(host.id) {
            Entry::Occupied(e) if e.get().0.strong_count() > 0 => Ok(&e.into_mut().1),
            Entry::Occupied(mut e) => {
                e.insert((Arc::downgrade(host), make(host, upload)?));
                Ok(&e.into_mut().1)
            }
            Entry::Vacant(v) => Ok(&v.insert((Arc::downgrade(host), make(host, upload)?)).1),
        }
    }

    /// The device copy of `host`, if it has one.
    pub fn get(&self, host: &Buffer) -> Option<&D> {
        self.map.get(&host.id).map(|(_, d)| d)
    }

    pub fn contains(&self, host: &Buffer) -> bool {
        self.map.contains_key(&host.id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::dtype::DType;
    use crate::error::Error;

    fn buf() -> Arc<Buffer> {
        Arc::new(Buffer::new(DType::F32, 4, true).unwrap())
    }

    #[test]
    fn a_live_buffer_is_uploaded_once() {
        let uploads = Cell::new(0);
        let mut r: Residency<u64> = Residency::default();
        let a = buf();
        for _ in 0..3 {
            let d = r
                .get_or_make(&a, true, |b, up| {
                    uploads.set(uploads.get() + usize::from(up));
                    Ok(b.id * 10)
                })
                .unwrap();
            assert_eq!(*d, a.id * 10);
        }
        assert_eq!(uploads.get(), 1);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn outputs_are_not_uploaded_and_dropped_buffers_are_freed() {
        let mut r: Residency<String> = Residency::default();
        let (a, out) = (buf(), buf());
        r.get_or_make(&a, true, |_, up| Ok(format!("in {up}")))
            .unwrap();
        let d = r
            .get_or_make(&out, false, |_, up| Ok(format!("out {up}")))
            .unwrap();
        assert_eq!(d, "out false");
        drop(out);
        assert_eq!(r.purge(), 1, "the dropped output's device copy is freed");
        assert!(r.contains(&a));
        drop(a);
        assert_eq!(r.purge(), 1);
        assert!(r.is_empty());
    }

    #[test]
    fn a_failed_make_leaves_no_entry() {
        let mut r: Residency<u8> = Residency::default();
        let a = buf();
        let e = r.get_or_make(&a, true, |_, _| Err(Error::OutOfMemory { bytes: 16 }));
        assert!(e.is_err());
        assert!(!r.contains(&a));
        assert_eq!(*r.get_or_make(&a, true, |_, _| Ok(7)).unwrap(), 7);
    }
}
