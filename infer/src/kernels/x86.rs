//! AVX2+FMA and AVX-512F gemv. Both use four independent accumulator chains per output
//! vector (rows `i`, `i+1`, `i+2`, `i+3`) so that the FMA latency is hidden even for the
//! narrow layers of trigger models, and process two output vectors per pass to share the
//! broadcast of `x[i]`.

use std::arch::x86_64::*;

/// Safety: the CPU supports avx512f; `b.len()` is a multiple of 16,
/// `w.len() == x.len() * b.len()` and `y.len() == b.len()`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gemv_avx512(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) {
    const V: usize = 16;
    let k = x.len();
    let np = b.len();
    let xp = x.as_ptr();
    let wp = w.as_ptr();
    let bp = b.as_ptr();
    let yp = y.as_mut_ptr();
    let zero = _mm512_setzero_ps();
    let mut j = 0;
    // Safety (all blocks below): `j + 2V <= np` (or `j + V <= np`) and `i < k`, so every load
    // reads inside `w[i*np .. i*np + np]`, `b` or `x`, and every store writes inside `y`.
    while j + 2 * V <= np {
        unsafe {
            let mut a0 = _mm512_loadu_ps(bp.add(j));
            let mut a1 = _mm512_loadu_ps(bp.add(j + V));
            let (mut b0, mut b1, mut c0, mut c1, mut d0, mut d1) =
                (zero, zero, zero, zero, zero, zero);
            let mut i = 0;
            while i + 4 <= k {
                let r = wp.add(i * np + j);
                let x0 = _mm512_set1_ps(*xp.add(i));
                a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r), a0);
                a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r.add(V)), a1);
                let r = r.add(np);
                let x1 = _mm512_set1_ps(*xp.add(i + 1));
                b0 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r), b0);
                b1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r.add(V)), b1);
                let r = r.add(np);
                let x2 = _mm512_set1_ps(*xp.add(i + 2));
                c0 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(r), c0);
                c1 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(r.add(V)), c1);
                let r = r.add(np);
                let x3 = _mm512_set1_ps(*xp.add(i + 3));
                d0 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(r), d0);
                d1 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(r.add(V)), d1);
                i += 4;
            }
            while i < k {
                let r = wp.add(i * np + j);
                let x0 = _mm512_set1_ps(*xp.add(i));
                a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r), a0);
                a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r.add(V)), a1);
                i += 1;
            }
            let mut s0 = _mm512_add_ps(_mm512_add_ps(a0, b0), _mm512_add_ps(c0, d0));
            let mut s1 = _mm512_add_ps(_mm512_add_ps(a1, b1), _mm512_add_ps(c1, d1));
            if relu {
                s0 = _mm512_max_ps(s0, zero);
                s1 = _mm512_max_ps(s1, zero);
            }
            _mm512_storeu_ps(yp.add(j), s0);
            _mm512_storeu_ps(yp.add(j + V), s1);
        }
        j += 2 * V;
    }
    if j + V <= np {
        unsafe {
            let mut a0 = _mm512_loadu_ps(bp.add(j));
            let (mut b0, mut c0, mut d0) = (zero, zero, zero);
            let mut i = 0;
            while i + 4 <= k {
                let r = wp.add(i * np + j);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i)), _mm512_loadu_ps(r), a0);
                let r = r.add(np);
                b0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i + 1)), _mm512_loadu_ps(r), b0);
                let r = r.add(np);
                c0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i + 2)), _mm512_loadu_ps(r), c0);
                let r = r.add(np);
                d0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i + 3)), _mm512_loadu_ps(r), d0);
                i += 4;
            }
            while i < k {
                let r = wp.add(i * np + j);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i)), _mm512_loadu_ps(r), a0);
                i += 1;
            }
            let mut s0 = _mm512_add_ps(_mm512_add_ps(a0, b0), _mm512_add_ps(c0, d0));
            if relu {
                s0 = _mm512_max_ps(s0, zero);
            }
            _mm512_storeu_ps(yp.add(j), s0);
        }
    }
}

/// Safety: the CPU supports avx2 and fma; `b.len()` is a multiple of 16,
/// `w.len() == x.len() * b.len()` and `y.len() == b.len()`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv_avx2(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) {
    const V: usize = 8;
    let k = x.len();
    let np = b.len();
    let xp = x.as_ptr();
    let wp = w.as_ptr();
    let bp = b.as_ptr();
    let yp = y.as_mut_ptr();
    let zero = _mm256_setzero_ps();
    let mut j = 0;
    // Safety: `np` is a multiple of 16 = 2V, so `j + 2V <= np` in every pass and `i < k`:
    // every load reads inside `w[i*np .. i*np + np]`, `b` or `x`, every store inside `y`.
    while j + 2 * V <= np {
        unsafe {
            let mut a0 = _mm256_loadu_ps(bp.add(j));
            let mut a1 = _mm256_loadu_ps(bp.add(j + V));
            let (mut b0, mut b1, mut c0, mut c1, mut d0, mut d1) =
                (zero, zero, zero, zero, zero, zero);
            let mut i = 0;
            while i + 4 <= k {
                let r = wp.add(i * np + j);
                let x0 = _mm256_set1_ps(*xp.add(i));
                a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r), a0);
                a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r.add(V)), a1);
                let r = r.add(np);
                let x1 = _mm256_set1_ps(*xp.add(i + 1));
                b0 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r), b0);
                b1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r.add(V)), b1);
                let r = r.add(np);
                let x2 = _mm256_set1_ps(*xp.add(i + 2));
                c0 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(r), c0);
                c1 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(r.add(V)), c1);
                let r = r.add(np);
                let x3 = _mm256_set1_ps(*xp.add(i + 3));
                d0 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(r), d0);
                d1 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(r.add(V)), d1);
                i += 4;
            }
            while i < k {
                let r = wp.add(i * np + j);
                let x0 = _mm256_set1_ps(*xp.add(i));
                a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r), a0);
                a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r.add(V)), a1);
                i += 1;
            }
            let mut s0 = _mm256_add_ps(_mm256_add_ps(a0, b0), _mm256_add_ps(c0, d0));
            let mut s1 = _mm256_add_ps(_mm256_add_ps(a1, b1), _mm256_add_ps(c1, d1));
            if relu {
                s0 = _mm256_max_ps(s0, zero);
                s1 = _mm256_max_ps(s1, zero);
            }
            _mm256_storeu_ps(yp.add(j), s0);
            _mm256_storeu_ps(yp.add(j + V), s1);
        }
        j += 2 * V;
    }
}
