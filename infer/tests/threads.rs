//! One shared model, one session per thread: bit-identical scores.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use bead_infer::Model;
use bead_testkit::Rng;
use bead_testkit::models::*;

#[test]
fn eight_threads_bit_identical() {
    let model = Model::from_bytes(&axol1tl(1), "axol1tl").unwrap();
    let mut rng = Rng::new(21);
    let events = events(&mut rng, 2000, 57);
    let mut want = vec![0.0f32; 2000];
    model.session().score_batch(&events, &mut want).unwrap();
    let results: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let model = model.clone();
                let events = &events;
                s.spawn(move || {
                    let mut session = model.session();
                    let mut out = vec![0.0f32; 2000];
                    // Different orders per thread: state must not leak between events.
                    for rep in 0..5 {
                        for i in (0..2000).map(|i| (i * (2 * t + 1) + rep) % 2000) {
                            out[i] = session.score(&events[i * 57..(i + 1) * 57]).unwrap();
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        assert!(r.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
