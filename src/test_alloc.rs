//! A counting allocator for the unit tests, so that a property can say
//! "parsing these bytes never asks for more than so much memory" and mean
//! it: a parser must allocate in proportion to its input, never in
//! proportion to a number written inside it (a count, a range, a repeat).
//!
//! Counts are per thread (the test harness runs tests on many threads at
//! once), and only inside [`peak_bytes`]; everywhere else the allocator is
//! the system's with one thread-local read on top.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    /// Bytes allocated minus bytes freed since the measure started.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    // `try_with`: the allocator also runs while a thread's locals are torn down.
    let _ = MEASURING.try_with(|measuring| {
        if measuring.get() {
            let live = LIVE.get() + delta;
            LIVE.set(live);
            PEAK.set(PEAK.get().max(live));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the counting only
// reads and writes thread-local cells, which never allocate (const-initialised).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) };
        record(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller's contract for `realloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// Runs `f` and returns its result with the most memory it held at once on
/// this thread (bytes allocated and not yet freed, at the worst moment).
pub fn peak_bytes<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.set(0);
    PEAK.set(0);
    MEASURING.set(true);
    let out = f();
    MEASURING.set(false);
    (out, PEAK.get().max(0) as usize)
}

#[test]
fn counts_what_the_closure_holds_at_its_worst_moment() {
    let ((), peak) = peak_bytes(|| {
        let big = vec![0u8; 1 << 20];
        drop(big);
        let _small: Vec<u8> = Vec::with_capacity(10);
    });
    assert!((1 << 20..(1 << 20) + 1024).contains(&peak), "{peak}");
    let ((), none) = peak_bytes(|| {});
    assert_eq!(none, 0);
}
