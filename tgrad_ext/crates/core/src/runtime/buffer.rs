//! Host buffers: 64-byte aligned, never larger than the machine's memory, freed on drop.

use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::dtype::DType;
use crate::error::{Error, Result};

pub const ALIGN: usize = 64;

/// A device buffer on the CPU. The pointer is owned; `Buffer` is shared through `Arc`.
#[derive(Debug)]
pub struct Buffer {
    ptr: NonNull<u8>,
    len: usize,
    pub dtype: DType,
    pub id: u64,
}

// SAFETY: the buffer owns its allocation; concurrent access is coordinated by the engine
// (a kernel writes only its output buffer, which no other running kernel reads).
unsafe impl Send for Buffer {}
unsafe impl Sync for Buffer {}

fn physical_memory() -> usize {
    static MEM: OnceLock<usize> = OnceLock::new();
    *MEM.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<usize>().ok())
            })
            .map_or(usize::MAX, |kb| kb.saturating_mul(1024))
    })
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Buffer {
    /// Allocate `count` elements of `dtype`; contents are unspecified unless `zeroed`.
    pub fn new(dtype: DType, count: usize, zeroed: bool) -> Result<Buffer> {
        let too_big = Error::OutOfMemory {
            bytes: count.saturating_mul(dtype.itemsize()),
        };
        let len = count.checked_mul(dtype.itemsize()).ok_or(too_big.clone())?;
        if len > physical_memory() || len > isize::MAX as usize - ALIGN {
            return Err(too_big);
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if len == 0 {
            return Ok(Buffer {
                ptr: NonNull::<u64>::dangling().cast(),
                len,
                dtype,
                id,
            });
        }
        let layout = Layout::from_size_align(len, ALIGN).map_err(|_| too_big.clone())?;
        // SAFETY: layout has non-zero size.
        let raw = unsafe {
            if zeroed {
                alloc_zeroed(layout)
            } else {
                alloc(layout)
            }
        };
        let ptr = NonNull::new(raw).ok_or(too_big)?;
        Ok(Buffer {
            ptr,
            len,
            dtype,
            id,
        })
    }

    pub fn from_bytes(dtype: DType, bytes: &[u8]) -> Result<Buffer> {
        if !bytes.len().is_multiple_of(dtype.itemsize()) {
            return Err(Error::InvalidArgument(format!(
                "{} bytes is not a whole number of {} elements",
                bytes.len(),
                dtype.name()
            )));
        }
        let buf = Buffer::new(dtype, bytes.len() / dtype.itemsize(), false)?;
        // SAFETY: both regions are `bytes.len()` long and do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.ptr.as_ptr(), bytes.len()) };
        Ok(buf)
    }

    pub fn len_bytes(&self) -> usize {
        self.len
    }

    pub fn count(&self) -> usize {
        self.len / self.dtype.itemsize()
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the allocation is `len` bytes and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// Copy host bytes in (used by tests and the binding's `copy_in`).
    pub fn copy_from(&self, src: &[u8]) -> Result<()> {
        if src.len() != self.len {
            return Err(Error::InvalidArgument(format!(
                "copy of {} bytes into a buffer of {} bytes",
                src.len(),
                self.len
            )));
        }
        // SAFETY: lengths match, regions are distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr(), self.len) };
        Ok(())
    }

    /// Typed read access for host-side work (rng fill, tests). Caller picks the matching type.
    pub fn as_mut_slice<T: Copy>(&mut self) -> &mut [T] {
        debug_assert_eq!(std::mem::size_of::<T>(), self.dtype.itemsize());
        // SAFETY: aligned allocation of `count` elements of size_of::<T>, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast::<T>(), self.count()) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated in `new` with exactly this layout.
            unsafe {
                dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.len, ALIGN),
                );
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_round_trip() {
        let mut b = Buffer::from_bytes(DType::F32, &[0u8, 0, 128, 63, 0, 0, 0, 64]).unwrap();
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        assert_eq!(b.as_mut_slice::<f32>(), &[1.0, 2.0]);
    }

    #[test]
    fn impossible_allocations_are_errors() {
        assert!(matches!(
            Buffer::new(DType::F32, usize::MAX / 2, false),
            Err(Error::OutOfMemory { .. })
        ));
        assert!(matches!(
            Buffer::new(DType::F64, 1 << 50, false),
            Err(Error::OutOfMemory { .. })
        ));
        assert_eq!(Buffer::new(DType::F32, 0, false).unwrap().len_bytes(), 0);
    }
}
