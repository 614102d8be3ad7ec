//! Tensors the engine handles in host memory: reading shapes, element counts and scores out
//! of ONNX Runtime values, and the two cache edits it still makes on the host where the
//! caches are there (the CPU): picking parent rows (models without the cache gather graph)
//! and stacking parts padded to one prompt length. The caches are float32, or float16 in our
//! fp16 export (`CacheType`); the edits copy elements as they are, whatever their type.
use half::f16;
use ort::value::{DynValue, PrimitiveTensorElementType, Tensor, TensorElementType, ValueType};

use crate::error::{Error, Result};

/// The element type of the values that go from one run to the next: the encoder output, the
/// cross-attention keys/values and the self-attention cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheType {
    F32,
    /// tools/export_model.py --precision fp16 keeps them in fp16 at the graphs' edges.
    F16,
}

impl CacheType {
    /// The cache type of a graph input or output of element type `ty`, if it is one.
    pub(crate) fn of(ty: TensorElementType) -> Option<CacheType> {
        match ty {
            TensorElementType::Float32 => Some(CacheType::F32),
            TensorElementType::Float16 => Some(CacheType::F16),
            _ => None,
        }
    }

    /// "float32" or "float16", as zs_model_info() and the command line report it.
    pub fn name(self) -> &'static str {
        match self {
            CacheType::F32 => "float32",
            CacheType::F16 => "float16",
        }
    }

    /// Bytes of `n` elements.
    pub(crate) fn bytes(self, n: usize) -> u64 {
        let size = match self {
            CacheType::F32 => 4,
            CacheType::F16 => 2,
        };
        (n * size) as u64
    }

    /// An empty cache of `shape` (one axis 0): the past of the first decoder step.
    pub(crate) fn empty(self, shape: [usize; 4]) -> Result<DynValue> {
        fn make<T: PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
            shape: [usize; 4],
        ) -> Result<DynValue> {
            Ok(Tensor::from_array((shape, Vec::<T>::new()))
                .map_err(|e| Error::runtime("make an empty cache", e))?
                .into_dyn())
        }
        match self {
            CacheType::F32 => make::<f32>(shape),
            CacheType::F16 => make::<f16>(shape),
        }
    }
}

/// The shape and float32 data of a value the engine reads (scores, logits).
pub(crate) fn f32_data<'a>(value: &'a DynValue, what: &str) -> Result<(Vec<usize>, &'a [f32])> {
    typed_data(value, what)
}

fn typed_data<'a, T: PrimitiveTensorElementType>(value: &'a DynValue, what: &str) -> Result<(Vec<usize>, &'a [T])> {
    let (shape, data) = value.try_extract_tensor::<T>().map_err(|e| Error::runtime(format!("read {what}"), e))?;
    Ok((shape.iter().map(|&d| d as usize).collect(), data))
}

/// Elements of a tensor value (0 for anything else).
pub(crate) fn element_count(value: &DynValue) -> usize {
    match value.dtype() {
        ValueType::Tensor { shape, .. } => shape.iter().map(|&d| d.max(0) as usize).product(),
        _ => 0,
    }
}

/// The shape of a tensor value.
pub(crate) fn value_shape(value: &DynValue) -> Result<Vec<usize>> {
    match value.dtype() {
        ValueType::Tensor { shape, .. } => Ok(shape.iter().map(|&d| d.max(0) as usize).collect()),
        other => Err(Error::runtime("read a cache shape", format!("not a tensor: {other:?}"))),
    }
}

/// The cache type of a value (an error for anything but a float32 or float16 tensor).
pub(crate) fn cache_type(value: &DynValue) -> Result<CacheType> {
    match value.dtype() {
        ValueType::Tensor { ty, .. } => CacheType::of(*ty),
        _ => None,
    }
    .ok_or_else(|| Error::runtime("read a cache", format!("not a float32 or float16 tensor: {:?}", value.dtype())))
}

/// Rows `rows` of a `[batch, heads, seq, head_dim]` cache tensor, as a new tensor.
pub(crate) fn gather_rows(value: &DynValue, rows: &[usize]) -> Result<DynValue> {
    fn gather<T: PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
        value: &DynValue,
        rows: &[usize],
    ) -> Result<DynValue> {
        let (shape, data) = typed_data::<T>(value, "the decoder cache")?;
        let row_len: usize = shape[1..].iter().product();
        let mut out = Vec::with_capacity(rows.len() * row_len);
        for &r in rows {
            out.extend_from_slice(&data[r * row_len..(r + 1) * row_len]);
        }
        let mut new_shape = shape;
        new_shape[0] = rows.len();
        Ok(Tensor::from_array((new_shape, out)).map_err(|e| Error::runtime("make a cache tensor", e))?.into_dyn())
    }
    match cache_type(value)? {
        CacheType::F32 => gather::<f32>(value, rows),
        CacheType::F16 => gather::<f16>(value, rows),
    }
}

/// Tensors stacked along their first axis (encoder buckets' texts, or a level's row steps), each padded
/// with zeros along `seq_axis` to `len` prompt tokens; a single part is returned as it is.
/// Zeros are never read: the mask hides padded prompt positions from every attention.
pub(crate) fn pad_and_stack(mut parts: Vec<DynValue>, seq_axis: usize, len: usize) -> Result<DynValue> {
    fn stack<T: PrimitiveTensorElementType + std::fmt::Debug + Clone + Default + 'static>(
        parts: &[DynValue],
        seq_axis: usize,
        len: usize,
    ) -> Result<DynValue> {
        let mut shape: Vec<usize> = Vec::new();
        let mut out: Vec<T> = Vec::new();
        for part in parts {
            let (part_shape, data) = typed_data::<T>(part, "the encoder output")?;
            let outer: usize = part_shape[..seq_axis].iter().product();
            let inner: usize = part_shape[seq_axis + 1..].iter().product();
            let (texts, have) = (part_shape[0], part_shape[seq_axis]);
            for o in 0..outer {
                out.extend_from_slice(&data[o * have * inner..(o + 1) * have * inner]);
                out.resize(out.len() + (len - have) * inner, T::default());
            }
            if shape.is_empty() {
                shape = part_shape;
                shape[0] = 0;
                shape[seq_axis] = len;
            }
            shape[0] += texts;
        }
        Ok(Tensor::from_array((shape, out)).map_err(|e| Error::runtime("make an input tensor", e))?.into_dyn())
    }
    if parts.len() == 1 {
        return Ok(parts.pop().expect("one part"));
    }
    match cache_type(&parts[0])? {
        CacheType::F32 => stack::<f32>(&parts, seq_axis, len),
        CacheType::F16 => stack::<f16>(&parts, seq_axis, len),
    }
}
