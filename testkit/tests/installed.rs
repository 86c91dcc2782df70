//! `CountingAlloc` installed as the global allocator of this test binary.

use bead_testkit::{CountingAlloc, allocations_during, counting_is_installed, thread_allocations};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn counts_this_threads_allocations_only() {
    assert!(counting_is_installed());
    let (v, n) = allocations_during(|| {
        let mut v = vec![1u64]; // capacity 1: an allocation
        v.push(2); // grows: a reallocation
        v
    });
    assert_eq!((v.len(), n), (2, 2));
    let (sum, n) = allocations_during(|| v.iter().sum::<u64>());
    assert_eq!((sum, n), (3, 0));

    // Allocations on another thread do not show up here.
    let before = thread_allocations();
    let theirs = std::thread::spawn(|| {
        for i in 0..1000u64 {
            drop(std::hint::black_box(Box::new(i)));
        }
        thread_allocations()
    })
    .join()
    .unwrap();
    let ours = thread_allocations() - before;
    assert!(theirs >= 1000, "{theirs}");
    assert!(
        ours < 100,
        "spawning a thread counted {ours} allocations here"
    );
}
