//! A counting allocator for the parser properties (`parser_props_*.rs`):
//! the system allocator, counting what one thread asks for while counting
//! is on. Nothing is counted unless a test file registers it:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: Counting = Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// What this thread asked the allocator for while counting was on: bytes
/// live now and at most (relative to the last reset), allocations made.
#[derive(Debug, Clone, Copy)]
pub struct Tally {
    pub on: bool,
    pub live: isize,
    pub peak: isize,
    pub allocs: usize,
}

const ZERO: Tally = Tally { on: false, live: 0, peak: 0, allocs: 0 };

thread_local! {
    // Const-initialised and without Drop: usable from inside the allocator.
    static TALLY: Cell<Tally> = const { Cell::new(ZERO) };
}

/// The system allocator, counting per thread so parallel tests don't mix
/// (`alloc_zeroed` is the default one: it calls `alloc`).
pub struct Counting;

fn note(delta: isize, new_block: bool) {
    TALLY.with(|t| {
        let mut v = t.get();
        if v.on {
            v.live += delta;
            v.peak = v.peak.max(v.live);
            v.allocs += usize::from(new_block);
            t.set(v);
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize, true);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize), false);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize, true);
        }
        p
    }
}

/// Zeroes this thread's tally (counting off).
pub fn reset_tally() {
    TALLY.with(|t| t.set(ZERO));
}

/// This thread's tally so far.
pub fn tally() -> Tally {
    TALLY.with(Cell::get)
}

/// Restores the previous counting state when dropped (also on a panic).
struct Restore(bool);

impl Drop for Restore {
    fn drop(&mut self) {
        let on = self.0;
        TALLY.with(|t| t.set(Tally { on, ..t.get() }));
    }
}

/// Runs `f` with counting switched `on` or off.
pub fn counting<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let _restore = Restore(TALLY.with(|t| t.replace(Tally { on, ..t.get() })).on);
    f()
}

/// Asserts `Counting` is this binary's allocator and sees this thread's
/// allocations (a `Vec` growth included), and that counting off means not
/// counted: the allocation properties can fail.
#[track_caller]
pub fn assert_counting_sees_this_threads_allocations() {
    reset_tally();
    let v = counting(true, || {
        let mut v = vec![0u8; 1000];
        v.extend_from_slice(&[1; 1000]);
        v
    });
    let t = tally();
    assert!(t.peak >= 2000 && t.allocs >= 2, "{t:?}");
    counting(false, || drop(vec![0u8; 5000]));
    assert_eq!(tally().peak, t.peak);
    drop(v);
}
