//! Views: a shape, per-dimension strides (in elements) and an offset into a flat buffer.
//! Movement ops (reshape, permute, expand, shrink) are functions from a view to a view; none of
//! them copies data. A reshape that no single strided view can express returns `None`, and the
//! caller makes the data contiguous first.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct View {
    pub shape: Vec<usize>,
    pub strides: Vec<isize>,
    pub offset: isize,
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The most elements a tensor (or a kernel's iteration space) may have: its byte size and every
/// element offset then fit a signed 64-bit integer with room to spare.
pub const MAX_ELEMENTS: usize = (isize::MAX as usize) / 16;

/// The number of elements of `shape`, or an error naming the shape when the product overflows
/// or passes `MAX_ELEMENTS` (never a wrapped product).
pub fn checked_numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| {
            Error::Shape(format!(
                "shape {} has more elements than a tensor can hold (at most {MAX_ELEMENTS})",
                Dims(shape)
            ))
        })
}

/// Row-major strides of a contiguous array; size-1 dims get stride 0 (they never move).
pub fn contiguous_strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for (i, &s) in shape.iter().enumerate().rev() {
        strides[i] = if s == 1 { 0 } else { acc };
        acc *= s as isize;
    }
    strides
}

impl View {
    pub fn contiguous(shape: &[usize]) -> View {
        View {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    pub fn is_contiguous(&self) -> bool {
        self.offset == 0 && self.strides == contiguous_strides(&self.shape)
    }

    /// Element position of a multi-index.
    pub fn index(&self, idx: &[usize]) -> isize {
        debug_assert_eq!(idx.len(), self.shape.len());
        self.offset
            + idx
                .iter()
                .zip(&self.strides)
                .map(|(&i, &s)| i as isize * s)
                .sum::<isize>()
    }

    /// The smallest and largest element positions this view touches (None when empty).
    pub fn extent(&self) -> Option<(isize, isize)> {
        if self.numel() == 0 {
            return None;
        }
        let (mut lo, mut hi) = (self.offset, self.offset);
        for (&n, &s) in self.shape.iter().zip(&self.strides) {
            let span = (n as isize - 1) * s;
            if span < 0 {
                lo += span;
            } else {
                hi += span;
            }
        }
        Some((lo, hi))
    }

    pub fn permute(&self, order: &[usize]) -> View {
        debug_assert_eq!(order.len(), self.ndim());
        View {
            shape: order.iter().map(|&i| self.shape[i]).collect(),
            strides: order.iter().map(|&i| self.strides[i]).collect(),
            offset: self.offset,
        }
    }

    /// Broadcast size-1 dims to `new_shape` (stride 0). The caller checks compatibility.
    pub fn expand(&self, new_shape: &[usize]) -> View {
        debug_assert_eq!(new_shape.len(), self.ndim());
        let strides = self
            .shape
            .iter()
            .zip(&self.strides)
            .zip(new_shape)
            .map(|((&o, &s), &n)| if o == n { s } else { 0 })
            .collect();
        View {
            shape: new_shape.to_vec(),
            strides,
            offset: self.offset,
        }
    }

    /// A new broadcast dim of `size` (stride 0) before dim `axis`: a reshape that inserts a
    /// size-1 dim followed by an expand, which no view refuses.
    pub fn insert_broadcast(&self, axis: usize, size: usize) -> View {
        debug_assert!(axis <= self.ndim());
        let mut shape = Vec::with_capacity(self.ndim() + 1);
        shape.extend_from_slice(&self.shape[..axis]);
        shape.push(size);
        shape.extend_from_slice(&self.shape[axis..]);
        let mut strides = Vec::with_capacity(self.ndim() + 1);
        strides.extend_from_slice(&self.strides[..axis]);
        strides.push(0);
        strides.extend_from_slice(&self.strides[axis..]);
        View {
            shape,
            strides,
            offset: self.offset,
        }
    }

    /// Swap the last two dims (a matrix transpose of the innermost two).
    pub fn swap_last_two(&self) -> View {
        debug_assert!(self.ndim() >= 2);
        let n = self.ndim();
        let mut v = self.clone();
        v.shape.swap(n - 1, n - 2);
        v.strides.swap(n - 1, n - 2);
        v
    }

    /// Keep `[start, end)` of every dim.
    pub fn shrink(&self, ranges: &[(usize, usize)]) -> View {
        let offset = self.offset
            + ranges
                .iter()
                .zip(&self.strides)
                .map(|(&(b, _), &s)| b as isize * s)
                .sum::<isize>();
        let shape: Vec<usize> = ranges.iter().map(|&(b, e)| e - b).collect();
        let strides = self
            .strides
            .iter()
            .zip(&shape)
            .map(|(&s, &n)| if n == 1 { 0 } else { s })
            .collect();
        View {
            shape,
            strides,
            offset,
        }
    }

    /// Reverse the given dims: each starts at its last element and walks backwards.
    pub fn flip(&self, axes: &[usize]) -> View {
        let mut v = self.clone();
        for &a in axes {
            if v.shape[a] > 0 {
                v.offset += (v.shape[a] as isize - 1) * v.strides[a];
            }
            v.strides[a] = -v.strides[a];
        }
        v
    }

    /// Keep every `step[d]`-th element of each dim, from the first.
    pub fn stride(&self, step: &[usize]) -> View {
        let shape: Vec<usize> = self
            .shape
            .iter()
            .zip(step)
            .map(|(&n, &s)| n.div_ceil(s))
            .collect();
        let strides = self
            .strides
            .iter()
            .zip(step)
            .zip(&shape)
            .map(|((&st, &s), &n)| if n == 1 { 0 } else { st * s as isize })
            .collect();
        View {
            shape,
            strides,
            offset: self.offset,
        }
    }

    /// For a view that walks all of a contiguous `base_shape` array exactly once (a permuted,
    /// reshaped layout of it), the inverse: a view over `base_shape` giving, for each base
    /// element, its position in this view's contiguous layout. None for any other view.
    pub fn inverse(&self, base_shape: &[usize]) -> Option<View> {
        if self.offset != 0 || self.numel() != numel(base_shape) || self.numel() == 0 {
            return None;
        }
        let mut dims: Vec<usize> = (0..self.ndim()).filter(|&d| self.shape[d] != 1).collect();
        dims.sort_by_key(|&d| std::cmp::Reverse(self.strides[d]));
        let mut expect = 1isize;
        for &d in dims.iter().rev() {
            if self.strides[d] != expect {
                return None;
            }
            expect *= self.shape[d] as isize;
        }
        let out = contiguous_strides(&self.shape);
        View {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| out[d]).collect(),
            offset: 0,
        }
        .reshape(base_shape)
    }

    /// Reshape without copying when a single strided view can express it (numpy's
    /// no-copy reshape rule: dims are regrouped only where the old dims in a group are
    /// contiguous with each other).
    pub fn reshape(&self, new_shape: &[usize]) -> Option<View> {
        debug_assert_eq!(numel(new_shape), self.numel());
        if self.shape == new_shape {
            return Some(self.clone());
        }
        if self.numel() == 0 {
            return Some(View {
                shape: new_shape.to_vec(),
                strides: vec![0; new_shape.len()],
                offset: self.offset,
            });
        }
        let old: Vec<(usize, isize)> = self
            .shape
            .iter()
            .zip(&self.strides)
            .filter(|(&n, _)| n != 1)
            .map(|(&n, &s)| (n, s))
            .collect();
        let new_idx: Vec<usize> = (0..new_shape.len())
            .filter(|&i| new_shape[i] != 1)
            .collect();
        let mut strides = vec![0isize; new_shape.len()];
        let (mut oi, mut ni) = (0usize, 0usize);
        while oi < old.len() && ni < new_idx.len() {
            let (mut oj, mut nj) = (oi + 1, ni + 1);
            let (mut op, mut np) = (old[oi].0, new_shape[new_idx[ni]]);
            while op != np {
                if op < np {
                    op *= old[oj].0;
                    oj += 1;
                } else {
                    np *= new_shape[new_idx[nj]];
                    nj += 1;
                }
            }
            for k in oi..oj - 1 {
                if old[k].1 != old[k + 1].1 * old[k + 1].0 as isize {
                    return None;
                }
            }
            let mut stride = old[oj - 1].1;
            for k in (ni..nj).rev() {
                strides[new_idx[k]] = stride;
                stride *= new_shape[new_idx[k]] as isize;
            }
            oi = oj;
            ni = nj;
        }
        debug_assert!(oi == old.len() && ni == new_idx.len());
        Some(View {
            shape: new_shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Drop size-1 dims and merge neighbours `i, i+1` whenever `keep_apart(i)` is false and
    /// `stride[i] == stride[i+1] * shape[i+1]` holds in every view. Returns the merged views
    /// and, for every merged dim, the list of original dims it covers.
    pub fn merge_dims(
        views: &[View],
        keep_apart: impl Fn(usize, usize) -> bool,
    ) -> (Vec<View>, Vec<Vec<usize>>) {
        let Some(first) = views.first() else {
            return (vec![], vec![]);
        };
        let n = first.ndim();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for d in (0..n).filter(|&d| first.shape[d] != 1) {
            let mergeable = groups.last().is_some_and(|g: &Vec<usize>| {
                let prev = *g.last().unwrap();
                !keep_apart(prev, d)
                    && views
                        .iter()
                        .all(|v| v.strides[prev] == v.strides[d] * v.shape[d] as isize)
            });
            if mergeable {
                groups.last_mut().unwrap().push(d);
            } else {
                groups.push(vec![d]);
            }
        }
        let merged = views
            .iter()
            .map(|v| View {
                shape: groups
                    .iter()
                    .map(|g| g.iter().map(|&d| v.shape[d]).product())
                    .collect(),
                strides: groups
                    .iter()
                    .map(|g| v.strides[*g.last().unwrap()])
                    .collect(),
                offset: v.offset,
            })
            .collect();
        (merged, groups)
    }
}

/// Formats dims as Python prints a shape tuple: `(2, 3)`, `(3,)`, `()`.
pub struct Dims<'a, T>(pub &'a [T]);

impl<T: std::fmt::Display> std::fmt::Display for Dims<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str(if self.0.len() == 1 { ",)" } else { ")" })
    }
}

/// Validate user-supplied dims (from Python ints) into a shape.
pub fn checked_shape(dims: &[i64]) -> Result<Vec<usize>> {
    dims.iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                Error::InvalidArgument(format!("negative dimension {d} in shape {}", Dims(dims)))
            })
        })
        .collect()
}

/// Resolve a possibly negative axis against `ndim`.
pub fn resolve_axis(axis: i64, ndim: usize) -> Result<usize> {
    let n = ndim as i64;
    let a = if axis < 0 { axis + n } else { axis };
    if a < 0 || a >= n.max(1) || (ndim == 0 && a != 0) {
        return Err(Error::InvalidArgument(format!(
            "axis {axis} is out of range for a tensor with {ndim} dims"
        )));
    }
    Ok(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element of `v` addressed by brute force, for comparing two views.
    fn positions(v: &View) -> Vec<isize> {
        let mut out = Vec::new();
        let mut idx = vec![0usize; v.ndim()];
        for _ in 0..v.numel() {
            out.push(v.index(&idx));
            for d in (0..v.ndim()).rev() {
                idx[d] += 1;
                if idx[d] < v.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    }

    #[test]
    fn contiguous_strides_are_row_major() {
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(contiguous_strides(&[2, 1, 4]), vec![4, 0, 1]);
        assert!(View::contiguous(&[5, 7]).is_contiguous());
    }

    #[test]
    fn reshape_of_contiguous_keeps_order() {
        let v = View::contiguous(&[6, 4]);
        let r = v.reshape(&[2, 3, 4]).unwrap();
        assert_eq!(positions(&r), positions(&v));
        assert!(r.is_contiguous());
    }

    #[test]
    fn reshape_of_transpose_splitting_a_dim_is_a_view() {
        let t = View::contiguous(&[4, 6]).permute(&[1, 0]); // (6,4) strides (1,6)
        let r = t.reshape(&[2, 3, 4]).unwrap();
        assert_eq!(positions(&r), positions(&t));
        assert_eq!(r.strides, vec![3, 1, 6]);
    }

    #[test]
    fn reshape_merging_transposed_dims_needs_a_copy() {
        let t = View::contiguous(&[4, 6]).permute(&[1, 0]);
        assert!(t.reshape(&[24]).is_none());
    }

    #[test]
    fn reshape_with_unit_dims_and_expand() {
        let v = View::contiguous(&[3, 1, 5]).expand(&[3, 4, 5]);
        assert_eq!(v.strides, vec![5, 0, 1]);
        let r = v.reshape(&[1, 3, 4, 5, 1]).unwrap();
        assert_eq!(positions(&r), positions(&v));
        assert!(
            v.reshape(&[12, 5]).is_none(),
            "merging a broadcast dim into a real one is not a view"
        );
    }

    #[test]
    fn shrink_moves_offset() {
        let v = View::contiguous(&[4, 5]).shrink(&[(1, 3), (2, 5)]);
        assert_eq!(v.offset, 7);
        assert_eq!(positions(&v), vec![7, 8, 9, 12, 13, 14]);
        assert_eq!(v.extent(), Some((7, 14)));
    }

    #[test]
    fn flip_and_stride_address_the_reversed_and_thinned_elements() {
        let v = View::contiguous(&[3, 4]);
        assert_eq!(
            positions(&v.flip(&[1])),
            vec![3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]
        );
        assert_eq!(positions(&v.flip(&[0, 1]))[0], 11);
        assert_eq!(positions(&v.stride(&[2, 3])), vec![0, 3, 8, 11]);
        assert_eq!(v.stride(&[3, 1]).shape, vec![1, 4]);
    }

    #[test]
    fn inverse_views_map_base_elements_to_their_view_positions() {
        let base = [1, 3, 4];
        let v = View::contiguous(&base)
            .reshape(&[3, 4])
            .unwrap()
            .permute(&[1, 0]);
        let inv = v.inverse(&base).unwrap();
        let (pv, pi) = (positions(&v), positions(&inv));
        for (q, &p) in pv.iter().enumerate() {
            assert_eq!(pi[p as usize], q as isize, "base element {p}");
        }
        assert!(View::contiguous(&[4, 6])
            .shrink(&[(1, 3), (0, 6)])
            .inverse(&[2, 6])
            .is_none());
        assert!(View::contiguous(&[4])
            .expand(&[4])
            .flip(&[0])
            .inverse(&[4])
            .is_none());
    }

    #[test]
    fn merge_dims_collapses_contiguous_runs() {
        let a = View::contiguous(&[2, 3, 4]);
        let b = View::contiguous(&[2, 4, 3]).permute(&[0, 2, 1]);
        let (m, groups) = View::merge_dims(&[a.clone(), b], |_, _| false);
        assert_eq!(groups, vec![vec![0], vec![1], vec![2]]);
        let (m2, g2) = View::merge_dims(&[a], |_, _| false);
        assert_eq!(g2, vec![vec![0, 1, 2]]);
        assert_eq!(m2[0].shape, vec![24]);
        assert_eq!(m[0].shape, vec![2, 3, 4]);
    }

    #[test]
    fn axes_and_dims_are_validated() {
        assert_eq!(resolve_axis(-1, 3).unwrap(), 2);
        assert!(resolve_axis(3, 3).is_err());
        assert!(checked_shape(&[2, -1]).is_err());
    }
}
