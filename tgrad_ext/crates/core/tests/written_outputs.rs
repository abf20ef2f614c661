//! Every kernel writes every element of its output. Memory handed to a kernel to overwrite is not
//! zeroed (zeroing a GEMM's output costs as much as reading it), so an element a kernel skips
//! would hold whatever was there before. Debug builds fill that memory with 0xFF bytes (NaN in
//! floats), so here a skipped element shows as NaN in an exact comparison: regions of `pad` and
//! `cat` (the fill kernel and each part), a GEMM whose sizes are no multiple of any tile, a
//! reduction over no elements, and a reduction stored through a permuted view.

mod common;

use common::{read_f32, tensor_f32};
use tgrad_core::graph::{BinaryOp, ReduceOp};
use tgrad_core::ops::index::{cat, pad};
use tgrad_core::tensor;

/// Small integers: every sum and product below is exact in f32.
fn ints(n: usize, offset: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7 + offset) % 11) as f32 - 5.0)
        .collect()
}

fn assert_exact(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{what}: element {i} is {g}, want {w} (NaN: a kernel left it unwritten)"
        );
    }
}

#[test]
#[cfg(debug_assertions)]
fn memory_handed_out_for_writing_is_poisoned_in_debug_builds() {
    use tgrad_core::runtime::buffer::{Access, Buffer};
    use tgrad_core::DType;
    let b = Buffer::unallocated(DType::F32, 5).unwrap();
    let p = b.host_ptr(Access::Write).unwrap();
    // SAFETY: the buffer holds 5 f32s, and nothing else uses it.
    let bytes = unsafe { std::slice::from_raw_parts(p, 20) };
    assert!(bytes.iter().all(|&x| x == 0xFF), "{bytes:?}");
    // memory handed out for reading is zeroed
    let r = Buffer::unallocated(DType::F32, 5).unwrap();
    let p = r.host_ptr(Access::Read).unwrap();
    // SAFETY: as above.
    assert!(unsafe { std::slice::from_raw_parts(p, 20) }
        .iter()
        .all(|&x| x == 0));
}

#[test]
fn pad_writes_its_zero_border() {
    let x = tensor_f32(&ints(6, 0), &[2, 3]);
    let y = pad(&x, &[(1, 2), (0, 1)], 0.0).unwrap();
    let xs = ints(6, 0);
    let mut want = vec![0f32; 5 * 4];
    for r in 0..2 {
        for c in 0..3 {
            want[(r + 1) * 4 + c] = xs[r * 3 + c];
        }
    }
    assert_exact("pad", &read_f32(&y), &want);
}

#[test]
fn cat_writes_every_part() {
    let (a, b) = (ints(6, 1), ints(4, 2));
    let y = cat(&[tensor_f32(&a, &[3, 2]), tensor_f32(&b, &[2, 2])], 0).unwrap();
    let want: Vec<f32> = a.iter().chain(&b).copied().collect();
    assert_exact("cat", &read_f32(&y), &want);
    let z = cat(&[tensor_f32(&a, &[2, 3]), tensor_f32(&b, &[2, 2])], 1).unwrap();
    let want: Vec<f32> = (0..2)
        .flat_map(|r| a[r * 3..r * 3 + 3].iter().chain(&b[r * 2..r * 2 + 2]))
        .copied()
        .collect();
    assert_exact("cat axis 1", &read_f32(&z), &want);
}

#[test]
fn gemm_with_odd_sizes_writes_every_element() {
    for &(m, k, n) in &[(1, 5, 1), (13, 7, 37), (65, 3, 9), (3, 130, 67)] {
        let (a, b) = (ints(m * k, 3), ints(k * n, 4));
        let c = tensor::dot(&tensor_f32(&a, &[m, k]), &tensor_f32(&b, &[k, n])).unwrap();
        let want: Vec<f32> = (0..m * n)
            .map(|i| (0..k).map(|p| a[i / n * k + p] * b[p * n + i % n]).sum())
            .collect();
        assert_exact(&format!("{m}x{k} @ {k}x{n}"), &read_f32(&c), &want);
    }
}

#[test]
fn reductions_write_identities_and_permuted_stores() {
    let empty = tensor_f32(&[], &[3, 0]);
    let s = tensor::reduce(ReduceOp::Sum, &empty, &[1], false).unwrap();
    assert_exact("sum over nothing", &read_f32(&s), &[0.0; 3]);
    // a reduction read through a transpose is stored straight into the transposed layout
    let xs = ints(12, 5);
    let x = tensor_f32(&xs, &[3, 4]);
    let sq = tensor::binary(BinaryOp::Mul, &x, &x).unwrap();
    let r = tensor::reduce(ReduceOp::Sum, &sq, &[1], true).unwrap();
    let t = tensor::permute(&r, &[1, 0]).unwrap();
    let want: Vec<f32> = (0..3)
        .map(|i| xs[i * 4..i * 4 + 4].iter().map(|v| v * v).sum())
        .collect();
    assert_exact("permuted reduction", &read_f32(&t), &want);
}
