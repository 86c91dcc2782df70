//! A global allocator that refuses what no loader should ask for: one allocation over 1 GiB,
//! or more than 3 GiB live. Rust then aborts ("memory allocation of N bytes failed"), which
//! the harness reports as a crash, instead of the machine swapping or the OOM killer choosing
//! a victim. Fallible allocations (`try_reserve`) see an ordinary error.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest single allocation.
pub const MAX_ALLOCATION: usize = 1 << 30;
/// Most bytes live at once, all threads together.
pub const MAX_LIVE: usize = 3 << 30;

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The capped allocator (install with `#[global_allocator]`).
#[derive(Debug)]
pub struct CappedAlloc;

/// Reserves `size` bytes of the live budget; false when over a limit.
fn reserve(size: usize) -> bool {
    if size > MAX_ALLOCATION {
        return false;
    }
    let before = LIVE.fetch_add(size, Ordering::Relaxed);
    if before.saturating_add(size) > MAX_LIVE {
        LIVE.fetch_sub(size, Ordering::Relaxed);
        return false;
    }
    true
}

fn release(size: usize) {
    LIVE.fetch_sub(size, Ordering::Relaxed);
}

/// Reserves `size` bytes, then runs `alloc`; the reservation is given back when it fails.
fn counted(size: usize, alloc: impl FnOnce() -> *mut u8) -> *mut u8 {
    if !reserve(size) {
        return std::ptr::null_mut();
    }
    let p = alloc();
    if p.is_null() {
        release(size);
    }
    p
}

// SAFETY: every method forwards to `System` with the caller's layout unchanged; the counter
// never affects which memory is returned, only whether a request is refused (null).
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded caller contract (non-zero size layout).
        counted(layout.size(), || unsafe { System.alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        counted(layout.size(), || unsafe { System.alloc_zeroed(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded caller contract (`ptr` was allocated by us with `layout`).
        unsafe { System.dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !reserve(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded caller contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old {
                release(new_size - old);
            }
        } else if new_size < old {
            release(old - new_size);
        }
        p
    }
}
