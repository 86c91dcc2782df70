//! Loading and checking: the only file that uses tract's loader and evaluator (the protobuf
//! types come from tract-onnx too, through [`onnx::pb`](crate::onnx::pb)).
//!
//! Loading reads at most [`MAX_MODEL_BYTES`], decodes the protobuf, reads the metadata, lists
//! unsupported operators, checks the graph's structure ([`onnx::validate`]) and compiles the
//! plan, which checks shapes and every size against [`crate::limits`]. No tract code runs at
//! load time: tract's evaluator ([`Model::reference`], feature `tract`) is built on first use,
//! from a model that passed all of the above.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::contract::ModelMetadata;
use crate::error::LoadError;
use crate::kernels::Kernel;
use crate::limits::MAX_MODEL_BYTES;
use crate::onnx;
use crate::plan::{self, Plan};
use crate::session::Session;

/// A loaded model: metadata plus the compiled plan. `Send + Sync`; cloning is cheap (`Arc`).
#[derive(Clone)]
pub struct Model {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    bytes: Arc<[u8]>,
    plan: Arc<Plan>,
    info: ModelMetadata,
    /// Built on first use by [`Model::reference`], shared with [`Model::with_kernel`] copies.
    #[cfg(feature = "tract")]
    reference: Arc<std::sync::OnceLock<Result<Reference, String>>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.inner.name)
            .field("num_features", &self.num_features())
            .field("kernel", &self.kernel_name())
            .field("steps", &self.inner.plan.steps.len())
            .finish()
    }
}

impl Model {
    /// Reads, checks and compiles an ONNX model exported by `bead export`.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, LoadError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io = |source| LoadError::Io {
            path: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > MAX_MODEL_BYTES {
            return Err(too_large(name, size));
        }
        // Read at most one byte past the limit: the file may grow, or be a device.
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(MAX_MODEL_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        Model::from_bytes(&bytes, &name)
    }

    /// As [`load`](Self::load), from bytes in memory; `name` is used in error messages.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Model, LoadError> {
        let path = name.to_owned();
        if bytes.is_empty() {
            return Err(LoadError::Empty { path });
        }
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > MAX_MODEL_BYTES {
            return Err(too_large(path, size));
        }
        let proto = onnx::decode_model(bytes).map_err(|e| LoadError::NotOnnx {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let graph = match proto.graph.as_ref() {
            Some(g) if proto.ir_version > 0 && !g.node.is_empty() => g,
            _ => {
                return Err(LoadError::NotOnnx {
                    path,
                    message: "no IR version or no graph nodes".to_owned(),
                });
            }
        };
        let info = ModelMetadata::read(&proto, &path)?;
        let unsupported = plan::unsupported_ops(graph);
        if !unsupported.is_empty() {
            return Err(LoadError::UnsupportedOps {
                path,
                ops: unsupported,
            });
        }
        let invalid = |e: plan::CompileError| LoadError::Invalid {
            path: path.clone(),
            node: e.node,
            message: e.message,
        };
        let order = onnx::validate(&proto).map_err(invalid)?;
        let kernel = Kernel::from_env().map_err(|message| LoadError::Invalid {
            path: path.clone(),
            node: None,
            message,
        })?;
        let plan = plan::compile(graph, &order, kernel).map_err(invalid)?;
        if plan.num_features != info.features.len() {
            return Err(LoadError::FeatureMismatch {
                path,
                metadata: info.features.len(),
                input: plan.num_features,
            });
        }
        Ok(Model {
            inner: Arc::new(Inner {
                name: path,
                bytes: bytes.into(),
                plan: Arc::new(plan),
                info,
                #[cfg(feature = "tract")]
                reference: Arc::default(),
            }),
        })
    }

    /// A new scoring session (allocates its arena once).
    pub fn session(&self) -> Session {
        Session::new(Arc::clone(&self.inner.plan))
    }

    /// The `bead` metadata.
    pub fn info(&self) -> &ModelMetadata {
        &self.inner.info
    }

    /// Number of raw input features per event.
    pub fn num_features(&self) -> usize {
        self.inner.plan.num_features
    }

    /// Width of the `mu` output, 0 when the model has none.
    pub fn latent_dim(&self) -> usize {
        self.inner.plan.mu.map_or(0, |m| m.len)
    }

    /// The file path or name the model was loaded from.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The gemv variant chosen for this CPU: `avx512f`, `avx2+fma` or `portable`.
    pub fn kernel_name(&self) -> &'static str {
        self.inner.plan.kernel.name()
    }

    /// The same model using another gemv variant (see [`available_kernels`]); `None` if this
    /// CPU does not support it. Recompiles the graph.
    pub fn with_kernel(&self, kernel: &str) -> Option<Model> {
        let k = Kernel::available()
            .into_iter()
            .find(|k| k.name() == kernel)?;
        let proto = onnx::decode_model(&self.inner.bytes).ok()?;
        let order = onnx::validate(&proto).ok()?;
        let plan = plan::compile(proto.graph.as_ref()?, &order, k).ok()?;
        Some(Model {
            inner: Arc::new(Inner {
                name: self.inner.name.clone(),
                bytes: Arc::clone(&self.inner.bytes),
                plan: Arc::new(plan),
                info: self.inner.info.clone(),
                #[cfg(feature = "tract")]
                reference: Arc::clone(&self.inner.reference),
            }),
        })
    }

    /// tract's evaluator of the same model, for tests and benchmarks. Built (parsed, typed and
    /// optimised by tract) on the first call; later calls and clones of the model share it.
    #[cfg(feature = "tract")]
    pub fn reference(&self) -> Result<&Reference, LoadError> {
        let inner = &*self.inner;
        inner
            .reference
            .get_or_init(|| Reference::new(&inner.bytes, &inner.name).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|message| LoadError::Tract {
                path: inner.name.clone(),
                message: message.clone(),
            })
    }
}

fn too_large(path: String, size: u64) -> LoadError {
    LoadError::Invalid {
        path,
        node: None,
        message: format!("the file has {size} bytes, more than the limit of {MAX_MODEL_BYTES}"),
    }
}

/// Names of the gemv variants this CPU supports, slowest first.
pub fn available_kernels() -> Vec<&'static str> {
    Kernel::available().into_iter().map(Kernel::name).collect()
}

#[cfg(feature = "tract")]
pub use reference::{Reference, ReferenceState};

#[cfg(feature = "tract")]
mod reference {
    use std::sync::Arc;

    use tract_onnx::prelude::*;

    use crate::onnx;

    /// tract's optimized plan of the model (symbolic batch), used as the reference evaluator.
    #[derive(Clone)]
    pub struct Reference {
        plan: Arc<TypedSimplePlan>,
        name: String,
        num_features: usize,
        /// Graph output names, in tract's output order.
        outputs: Vec<String>,
    }

    impl std::fmt::Debug for Reference {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Reference")
                .field("name", &self.name)
                .finish()
        }
    }

    use crate::error::LoadError;

    fn tract_err(name: &str, e: impl std::fmt::Display) -> LoadError {
        LoadError::Tract {
            path: name.to_owned(),
            message: format!("{e:#}"),
        }
    }

    impl Reference {
        /// tract's plan of `bytes`, which [`Model::from_bytes`](crate::Model::from_bytes) has
        /// validated and compiled: tract never sees a file bead refused.
        pub(crate) fn new(bytes: &[u8], name: &str) -> TractResult<Self> {
            let proto = onnx::decode_model(bytes)?;
            let outputs = proto
                .graph
                .as_ref()
                .map(|g| g.output.iter().map(|o| o.name.clone()).collect())
                .unwrap_or_default();
            let model = tract_onnx::onnx()
                .model_for_proto_model(&proto)
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())?;
            let inputs = model.model().input_outlets()?;
            let fact = inputs
                .first()
                .map(|o| model.model().outlet_fact(*o))
                .transpose()?;
            let num_features = fact
                .and_then(|f| f.shape.dims().get(1).and_then(|d| d.as_i64()))
                .and_then(|d| usize::try_from(d).ok())
                .unwrap_or(0);
            Ok(Reference {
                plan: model,
                name: name.to_owned(),
                num_features,
                outputs,
            })
        }

        /// A reusable tract state (what a tract user would keep per thread).
        pub fn state(&self) -> Result<ReferenceState, LoadError> {
            Ok(ReferenceState {
                state: TypedSimpleState::new(&self.plan).map_err(|e| tract_err(&self.name, e))?,
                reference: self.clone(),
            })
        }

        /// Scores `n` events (row-major) with tract.
        pub fn run(&self, events: &[f32], n: usize) -> Result<Vec<f32>, LoadError> {
            self.state()?.run(events, n)
        }

        /// Every graph output for `n` events, by name, each flattened row-major.
        pub fn run_outputs(
            &self,
            events: &[f32],
            n: usize,
        ) -> Result<Vec<(String, Vec<f32>)>, LoadError> {
            self.state()?.run_outputs(events, n)
        }
    }

    /// A tract `SimpleState` kept across calls.
    pub struct ReferenceState {
        state: TypedSimpleState,
        reference: Reference,
    }

    impl ReferenceState {
        /// Scores `n` events (row-major) with tract.
        pub fn run(&mut self, events: &[f32], n: usize) -> Result<Vec<f32>, LoadError> {
            let outs = self.run_outputs(events, n)?;
            outs.into_iter()
                .find(|(name, _)| name == "score")
                .map(|(_, v)| v)
                .ok_or_else(|| tract_err(&self.reference.name, "no `score` output"))
        }

        /// Every graph output for `n` events, by name.
        pub fn run_outputs(
            &mut self,
            events: &[f32],
            n: usize,
        ) -> Result<Vec<(String, Vec<f32>)>, LoadError> {
            let r = &self.reference;
            let input = Tensor::from_shape(&[n, r.num_features], events)
                .map_err(|e| tract_err(&r.name, e))?;
            let outs = self
                .state
                .run(tvec!(input.into()))
                .map_err(|e| tract_err(&r.name, e))?;
            outs.iter()
                .zip(&r.outputs)
                .map(|(t, name)| {
                    let t = t.cast_to::<f32>().map_err(|e| tract_err(&r.name, e))?;
                    let v = t
                        .to_plain_array_view::<f32>()
                        .map_err(|e| tract_err(&r.name, e))?
                        .iter()
                        .copied()
                        .collect();
                    Ok((name.clone(), v))
                })
                .collect()
        }
    }
}
