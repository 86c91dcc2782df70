//! A global allocator that counts allocations, per thread, on top of the system allocator.
//!
//! Per thread because the test harness runs tests (and its own bookkeeping) on other threads
//! at the same time: a process-wide count would see their allocations too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

thread_local! {
    // `const` and a type without `Drop`: no lazy initialisation and no destructor to
    // register, so reading it from inside the allocator neither allocates nor recurses.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static THREAD_BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count_one(bytes: usize) {
    // `try_with`: never panic, even while the thread's locals are being torn down.
    let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = THREAD_BYTES.try_with(|n| n.set(n.get().saturating_add(bytes as u64)));
}

/// The system allocator, counting every allocation and reallocation of the calling thread.
///
/// Install it in a test or bench binary with
/// `#[global_allocator] static ALLOC: bead_testkit::CountingAlloc = bead_testkit::CountingAlloc;`
/// and read the counts with [`thread_allocations`] or [`allocations_during`]. Deallocations
/// are not counted: the contract under test is "does not allocate".
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; counting touches only a thread-local `Cell`.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one(layout.size());
        // SAFETY: same contract as the caller's (non-zero-sized `layout`).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one(new_size);
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`; `new_size` is
        // the caller's, valid by the `GlobalAlloc::realloc` contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (and reallocations) made by the calling thread so far. Always 0 when
/// [`CountingAlloc`] is not the global allocator.
pub fn thread_allocations() -> u64 {
    THREAD_ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// Bytes allocated by the calling thread so far (a reallocation counts its new size).
/// Always 0 when [`CountingAlloc`] is not the global allocator.
pub fn thread_bytes() -> u64 {
    THREAD_BYTES.try_with(Cell::get).unwrap_or(0)
}

/// Runs `f` and returns its result with the number of allocations it made on this thread.
pub fn allocations_during<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = thread_allocations();
    let result = f();
    (result, thread_allocations() - before)
}

/// Whether [`CountingAlloc`] is the global allocator (it counts a test allocation). A test
/// asserting "0 allocations" should check this first, or it would pass without counting.
pub fn counting_is_installed() -> bool {
    let ((), n) = allocations_during(|| drop(black_box(Box::new(0u64))));
    n > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_installed_counts_nothing() {
        // This test binary uses the system allocator directly.
        assert!(!counting_is_installed());
        let (v, n) = allocations_during(|| vec![1u8; 100]);
        assert_eq!((v.len(), n), (100, 0));
    }

    #[test]
    fn forwards_to_the_system_allocator_and_counts() {
        // Called directly (not installed): allocation, zeroing, growth and release all work.
        let counting = CountingAlloc;
        let layout = Layout::from_size_align(64, 16).unwrap();
        let (before, bytes_before) = (thread_allocations(), thread_bytes());
        // SAFETY: non-zero-sized layout; every pointer is freed with the layout it has.
        unsafe {
            let p = counting.alloc_zeroed(layout);
            assert!(!p.is_null() && p.addr().is_multiple_of(16));
            assert!(std::slice::from_raw_parts(p, 64).iter().all(|&b| b == 0));
            p.write_bytes(7, 64);
            let q = counting.realloc(p, layout, 4096);
            assert!(!q.is_null());
            assert!(std::slice::from_raw_parts(q, 64).iter().all(|&b| b == 7));
            counting.dealloc(q, Layout::from_size_align(4096, 16).unwrap());
            let r = counting.alloc(layout);
            assert!(!r.is_null());
            counting.dealloc(r, layout);
        }
        assert_eq!(thread_allocations() - before, 3);
        // 64 + 4096 + 64 bytes asked for.
        assert_eq!(thread_bytes() - bytes_before, 4224);
        // Another thread has its own count.
        let here = thread_allocations();
        std::thread::spawn(move || {
            // SAFETY: as above.
            unsafe { counting.dealloc(counting.alloc(layout), layout) };
            assert_eq!(thread_allocations(), 1);
        })
        .join()
        .unwrap();
        assert_eq!(thread_allocations(), here);
    }
}
