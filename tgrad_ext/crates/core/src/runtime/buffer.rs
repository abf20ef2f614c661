//! Buffers: a tensor's data, on the host, on a device, or both.
//!
//! A buffer is written once, by the kernel that creates it (or from user data), so a copy made
//! for another device stays valid for as long as the buffer lives. Where the current data is
//! (`Placement`) decides what a read costs: a GPU kernel's output stays on the GPU until the
//! host reads it, an input is uploaded once and kept beside the host copy. Host memory is
//! allocated on first use, 64-byte aligned; device memory is a `DeviceMemory` from the device
//! that wrote or read the buffer, freed with the buffer.

use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::dtype::DType;
use crate::error::{Error, Result};

pub const ALIGN: usize = 64;

/// Memory on a device, with the copies in and out of it. Freed on drop.
pub trait DeviceMemory: Send + Sync + fmt::Debug {
    /// The name of the device holding it ("CUDA", "CUDA_EMU", ...).
    fn device(&self) -> &str;
    /// Its address as kernels on the device see it.
    fn addr(&self) -> u64;
    /// Copy host bytes in (`src.len()` is the buffer's size).
    fn write(&self, src: &[u8]) -> Result<()>;
    /// Copy the contents out (`dst.len()` is the buffer's size).
    fn read(&self, dst: &mut [u8]) -> Result<()>;
}

/// What a kernel does with a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// The whole buffer is (re)written: copies elsewhere become stale.
    Write,
}

struct HostMem(NonNull<u8>);

// SAFETY: the allocation is owned; who writes it when is coordinated by the engine (a kernel
// writes only its output buffer, which no running kernel reads).
unsafe impl Send for HostMem {}
unsafe impl Sync for HostMem {}

#[derive(Default)]
struct Placement {
    device: Option<Arc<dyn DeviceMemory>>,
    host_current: bool,
    device_current: bool,
}

pub struct Buffer {
    pub dtype: DType,
    pub id: u64,
    len: usize,
    host: OnceLock<HostMem>,
    place: Mutex<Placement>,
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Buffer(#{} {} x {} B)",
            self.id,
            self.dtype.name(),
            self.len
        )
    }
}

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

fn host_alloc(len: usize, zeroed: bool) -> Result<HostMem> {
    if len == 0 {
        return Ok(HostMem(NonNull::<u64>::dangling().cast()));
    }
    let oom = Error::OutOfMemory { bytes: len };
    let layout = Layout::from_size_align(len, ALIGN).map_err(|_| oom.clone())?;
    // SAFETY: the layout has a non-zero size.
    let raw = unsafe {
        if zeroed {
            alloc_zeroed(layout)
        } else {
            alloc(layout)
        }
    };
    NonNull::new(raw).map(HostMem).ok_or(oom)
}

impl Buffer {
    /// A buffer of `count` elements with no memory yet: the device that writes it places it.
    pub fn unallocated(dtype: DType, count: usize) -> Result<Buffer> {
        let too_big = Error::OutOfMemory {
            bytes: count.saturating_mul(dtype.itemsize()),
        };
        let len = count.checked_mul(dtype.itemsize()).ok_or(too_big.clone())?;
        if len > physical_memory() || len > isize::MAX as usize - ALIGN {
            return Err(too_big);
        }
        Ok(Buffer {
            dtype,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            len,
            host: OnceLock::new(),
            place: Mutex::new(Placement::default()),
        })
    }

    /// A host buffer of `count` elements; contents are unspecified unless `zeroed`.
    pub fn new(dtype: DType, count: usize, zeroed: bool) -> Result<Buffer> {
        let b = Buffer::unallocated(dtype, count)?;
        let mem = host_alloc(b.len, zeroed)?;
        let _ = b.host.set(mem);
        b.lock().host_current = true;
        Ok(b)
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
        buf.copy_from(bytes)?;
        Ok(buf)
    }

    pub fn len_bytes(&self) -> usize {
        self.len
    }

    pub fn count(&self) -> usize {
        self.len / self.dtype.itemsize()
    }

    fn lock(&self) -> MutexGuard<'_, Placement> {
        self.place
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The host allocation, made on first use: zeroed unless the caller is about to overwrite all
    /// of it (`zeroed` false), so no read ever sees uninitialised memory.
    fn host_mem(&self, zeroed: bool) -> Result<*mut u8> {
        if let Some(m) = self.host.get() {
            return Ok(m.0.as_ptr());
        }
        let mem = host_alloc(self.len, zeroed)?;
        if !zeroed && cfg!(debug_assertions) {
            // debug builds poison memory handed out to be overwritten (0xFF bytes: NaN in floats,
            // -1 in ints), so an element a kernel fails to write shows in tests
            // SAFETY: `mem` is a fresh allocation of `len` bytes nobody else has seen.
            unsafe { std::ptr::write_bytes(mem.0.as_ptr(), 0xFF, self.len) };
        }
        // a racing initialiser's allocation wins; ours is freed by `HostMem`'s owner below
        if let Err(ours) = self.host.set(mem) {
            free_host(&ours, self.len);
        }
        Ok(self.host.get().expect("set above").0.as_ptr())
    }

    /// The host address of the data for a CPU kernel: current data for `Read` (copied back from
    /// the device that holds it), memory to overwrite for `Write`.
    pub fn host_ptr(&self, access: Access) -> Result<*mut u8> {
        let mut p = self.lock();
        // a kernel writes every byte of its output, so memory it is given to write needs no zeroing
        let ptr = self.host_mem(access == Access::Read)?;
        match access {
            Access::Write => {
                p.host_current = true;
                p.device_current = false;
            }
            Access::Read if !p.host_current => {
                if let (Some(d), true) = (&p.device, p.device_current) {
                    // SAFETY: the host allocation is `len` bytes and nobody else touches it
                    // while the placement lock is held.
                    d.read(unsafe { std::slice::from_raw_parts_mut(ptr, self.len) })?;
                }
                p.host_current = true;
            }
            Access::Read => {}
        }
        Ok(ptr)
    }

    /// The address of the data on device `device` for a kernel there: the device's copy, made
    /// with `alloc` (and uploaded for `Read`) when it has none. A copy on another device is
    /// brought back to the host first.
    pub fn device_addr(
        &self,
        device: &str,
        access: Access,
        alloc: impl FnOnce(usize) -> Result<Arc<dyn DeviceMemory>>,
    ) -> Result<u64> {
        let mut p = self.lock();
        let here = p.device.as_ref().is_some_and(|d| d.device() == device);
        if !here {
            if p.device_current && !p.host_current {
                drop(p);
                self.host_ptr(Access::Read)?;
                p = self.lock();
            }
            p.device = Some(alloc(self.len)?);
            p.device_current = false;
        }
        let mem = p.device.clone().expect("placed above");
        match access {
            Access::Write => {
                p.device_current = true;
                p.host_current = false;
            }
            Access::Read if !p.device_current => {
                if p.host_current {
                    let src = self.host_mem(true)?;
                    // SAFETY: `len` bytes of host memory, current, read under the lock.
                    mem.write(unsafe { std::slice::from_raw_parts(src, self.len) })?;
                }
                p.device_current = true;
            }
            Access::Read => {}
        }
        Ok(mem.addr())
    }

    /// The device currently holding the only current copy of the data, if any.
    pub fn only_on_device(&self) -> Option<String> {
        let p = self.lock();
        (p.device_current && !p.host_current)
            .then(|| p.device.as_ref().map(|d| d.device().to_string()))
            .flatten()
    }

    /// The current contents, in host memory (copied back from a device if need be). The slice
    /// stays valid until the buffer is rewritten (a TinyJit replay).
    pub fn host_bytes(&self) -> Result<&[u8]> {
        let ptr = self.host_ptr(Access::Read)?;
        // SAFETY: the host allocation is `len` bytes and lives as long as `self`.
        Ok(unsafe { std::slice::from_raw_parts(ptr, self.len) })
    }

    /// A copy of the current contents.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        self.host_bytes().map(<[u8]>::to_vec)
    }

    /// Overwrite the contents with host bytes.
    pub fn copy_from(&self, src: &[u8]) -> Result<()> {
        if src.len() != self.len {
            return Err(Error::InvalidArgument(format!(
                "copy of {} bytes into a buffer of {} bytes",
                src.len(),
                self.len
            )));
        }
        let dst = self.host_ptr(Access::Write)?;
        // SAFETY: lengths match, regions are distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, self.len) };
        Ok(())
    }

    /// Typed host access for filling a fresh buffer (rng, tests). The caller picks the type.
    pub fn as_mut_slice<T: Copy>(&mut self) -> Result<&mut [T]> {
        debug_assert_eq!(std::mem::size_of::<T>(), self.dtype.itemsize());
        let ptr = self.host_ptr(Access::Write)?;
        // SAFETY: an aligned allocation of `count` elements of size_of::<T>, borrowed mutably.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<T>(), self.count()) })
    }
}

fn free_host(m: &HostMem, len: usize) {
    if len > 0 {
        // SAFETY: allocated in `host_alloc` with exactly this layout, freed once.
        unsafe { dealloc(m.0.as_ptr(), Layout::from_size_align_unchecked(len, ALIGN)) };
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Some(m) = self.host.get() {
            free_host(m, self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn buffers_are_aligned_and_round_trip() {
        let mut b = Buffer::from_bytes(DType::F32, &[0u8, 0, 128, 63, 0, 0, 0, 64]).unwrap();
        assert_eq!(b.host_ptr(Access::Read).unwrap() as usize % ALIGN, 0);
        assert_eq!(b.as_mut_slice::<f32>().unwrap(), &[1.0, 2.0]);
    }

    #[test]
    fn impossible_allocations_are_errors() {
        assert!(matches!(
            Buffer::new(DType::F32, usize::MAX / 2, false),
            Err(Error::OutOfMemory { .. })
        ));
        assert!(matches!(
            Buffer::unallocated(DType::F64, 1 << 50),
            Err(Error::OutOfMemory { .. })
        ));
        assert_eq!(Buffer::new(DType::F32, 0, false).unwrap().len_bytes(), 0);
    }

    /// Device memory that counts its copies.
    #[derive(Debug)]
    struct Fake {
        name: &'static str,
        data: Mutex<Vec<u8>>,
        writes: Arc<AtomicUsize>,
        reads: Arc<AtomicUsize>,
    }

    impl DeviceMemory for Fake {
        fn device(&self) -> &str {
            self.name
        }
        fn addr(&self) -> u64 {
            self.data.lock().unwrap().as_ptr() as u64
        }
        fn write(&self, src: &[u8]) -> Result<()> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.data.lock().unwrap().copy_from_slice(src);
            Ok(())
        }
        fn read(&self, dst: &mut [u8]) -> Result<()> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            dst.copy_from_slice(&self.data.lock().unwrap());
            Ok(())
        }
    }

    #[test]
    fn inputs_upload_once_and_outputs_stay_on_the_device_until_read() {
        let (writes, reads) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let fake = |name: &'static str| {
            let (w, r) = (writes.clone(), reads.clone());
            move |n: usize| -> Result<Arc<dyn DeviceMemory>> {
                Ok(Arc::new(Fake {
                    name,
                    data: Mutex::new(vec![0; n]),
                    writes: w,
                    reads: r,
                }))
            }
        };
        let input = Buffer::from_bytes(DType::F32, &[1, 2, 3, 4]).unwrap();
        for _ in 0..3 {
            input.device_addr("GPU", Access::Read, fake("GPU")).unwrap();
        }
        assert_eq!(writes.load(Ordering::SeqCst), 1, "uploaded once");
        let out = Buffer::unallocated(DType::F32, 1).unwrap();
        let addr = out.device_addr("GPU", Access::Write, fake("GPU")).unwrap();
        // the "kernel" writes the output on the device
        // SAFETY: the fake's memory is 4 bytes at `addr`.
        unsafe { std::ptr::copy_nonoverlapping([9u8, 8, 7, 6].as_ptr(), addr as *mut u8, 4) };
        assert_eq!(out.only_on_device().as_deref(), Some("GPU"));
        assert_eq!(reads.load(Ordering::SeqCst), 0, "nothing read back yet");
        assert_eq!(out.to_vec().unwrap(), vec![9, 8, 7, 6]);
        assert_eq!(out.to_vec().unwrap(), vec![9, 8, 7, 6]);
        assert_eq!(reads.load(Ordering::SeqCst), 1, "read back once");
        // another device reads it: the host copy is current, so it is uploaded from there
        out.device_addr("OTHER", Access::Read, fake("OTHER"))
            .unwrap();
        assert_eq!(writes.load(Ordering::SeqCst), 2);
        // a host write makes the device copy stale: the next device read uploads again
        input.copy_from(&[5, 6, 7, 8]).unwrap();
        input.device_addr("GPU", Access::Read, fake("GPU")).unwrap();
        assert_eq!(writes.load(Ordering::SeqCst), 3);
    }
}
