#pragma once
// Internal to the graph engine: the compiled form of a GraphIR for one batch size and batch-norm mode.
// compile.cpp lowers each IR node into steps over numbered values (inferring and checking shapes and
// evaluating int64 shape arithmetic on the way); passes.cpp runs the four passes of each step.
//
// ## Values and lanes
// Every value has a fixed shape for the compiled batch size. A value is `active` when it depends on
// the parameters; only active values carry an adjoint (gradient pass) and m-lane tangents and
// R-adjoints (product passes). A lane buffer holds m copies of the value's shape back to back,
// lane j at offset j·numel: the m directions of a chunk are an outer extent of every activation.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/graph/engine.h"

namespace saddlescope::models::graph::detail {

using Shape = std::vector<std::int64_t>;

std::int64_t element_count(const Shape& shape);
std::string shape_string(const Shape& shape);

enum class ValueKind {
  constant,   // fixed data (initializer, Constant node, folded shape arithmetic, batch-norm buffer)
  parameter,  // a slice of the parameter vector
  input,      // the data batch
  computed,   // output of a step
};

struct Value {
  std::string name;  // IR name, or "<node>/<role>" for values the lowering adds
  Shape shape;
  std::int64_t numel = 0;
  ValueKind kind = ValueKind::computed;
  bool active = false;             // depends on the parameters
  std::int64_t offset = 0;         // parameter: offset in the flat vector
  const double* data = nullptr;    // constant: its values (owned by Compiled::constant_storage or Plan)
  bool unused = false;             // fused away (compile.cpp, fuse_layouts): no step reads or writes it, no buffers
  // Its adjoint and R-adjoints are written (=), not accumulated, by its only reader (Step::overwrite), so
  // the reverse passes do not zero them first (compile.cpp, mark_overwrites).
  bool overwritten = false;
  // Hessian products read its adjoint: it is the output of a step with a second-order term, or
  // downstream of such a value (compile.cpp, mark_product_adjoints). The backward pass of a product
  // computes only these; a parameter's gradient, and what only leads to it, waits for gradient().
  bool product_adjoint = false;
};

enum class StepKind {
  copy,         // y = x with a new shape (Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze)
  gather,       // y[i] = x[source[i]], or `scalar` where source[i] < 0 (Transpose, Slice, Gather, Expand, Pad)
  reduce_mean,  // y[target[i]] += x[i]·scale (ReduceMean, GlobalAveragePool)
  concat,       // along an axis: rows of `outer` blocks, input k contributing inner[k] entries per row
  binary,       // broadcasting Add / Sub / Mul / Div
  unary,        // elementwise functions
  matmul,       // batched C = α·op(A)·op(B) with broadcasting batch extents (MatMul, Gemm)
  conv,         // 2-D convolution without bias (the bias is a following broadcast Add)
  normalize,    // (x − mean)/√(var + ε) over groups, with batch or row statistics
  softmax,      // along an axis
  log_softmax,  // along an axis
  max_pool,     // 2-D
  average_pool, // 2-D
};

enum class BinaryOp { add, sub, mul, div };
// gelu: x·½(1 + erf(x/√2)), the exact GELU that torch exports as Div, Erf, Add, Mul, Mul (one step after
// fuse_steps in compile.cpp; no ONNX op of its own at opset < 20).
enum class UnaryOp { relu, leaky_relu, tanh, sigmoid, softplus, erf, exp, log, sqrt, pow, neg, reciprocal, gelu };

struct ConvGeometry {
  std::int64_t channels_in = 0, height = 0, width = 0;  // per sample
  std::int64_t channels_out = 0, kernel_h = 0, kernel_w = 0;
  std::int64_t stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0, dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1, out_h = 0, out_w = 0;
  std::int64_t col_rows() const { return channels_in / groups * kernel_h * kernel_w; }  // per group
  std::int64_t col_cols() const { return out_h * out_w; }
  std::int64_t in_numel() const { return channels_in * height * width; }
  std::int64_t out_numel() const { return channels_out * out_h * out_w; }
  std::int64_t weight_numel() const { return channels_out * col_rows(); }
};

struct PoolGeometry {
  std::int64_t planes = 0;  // batch × channels (per lane)
  std::int64_t height = 0, width = 0, kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0, dilation_h = 1, dilation_w = 1;
  std::int64_t out_h = 0, out_w = 0;
  bool count_include_pad = false;
};

// Groups of a normalize step: group g's elements are base(g) + o·outer_stride + t for o < outer,
// t < inner, with base(g) = (g / group_block)·group_outer_stride + (g % group_block)·inner.
// Batch norm over [B, C, S]: groups C, outer B (stride C·S), inner S, group_block C.
// Layer norm over rows of D: groups R, outer 1, inner D, group_block 1, group_outer_stride D.
struct NormalizeGeometry {
  std::int64_t groups = 0, outer = 0, outer_stride = 0, inner = 0, group_block = 1, group_outer_stride = 0;
  double epsilon = 1e-5;
  int batch_norm = -1;  // index into Plan::batch_norms when this is a train-mode batch norm, else -1
  std::int64_t count() const { return outer * inner; }
  std::int64_t base(std::int64_t g) const { return (g / group_block) * group_outer_stride + (g % group_block) * inner; }
};

struct Step {
  StepKind kind = StepKind::copy;
  std::string node;  // the IR node's name and op type, for messages
  std::vector<int> inputs;
  int output = -1;

  BinaryOp binary = BinaryOp::add;
  UnaryOp unary = UnaryOp::relu;
  double scalar = 0.0;  // leaky_relu slope, pow exponent, reduce_mean scale, matmul alpha

  // binary: source index per output element for each operand (empty = same shape as the output)
  // gather: source per output element; reduce_mean: target per input element.
  std::vector<std::int32_t> map_a, map_b;
  // binary, when row_length > 0: the same maps in closed form. Output element r·L + q (L = row_length)
  // reads operand k at r·row_step[k] + q·elem_step[k], elem_step 0 or 1 — the broadcasts exports make
  // (same shape, a scalar, a bias [L] over rows, a per-row statistic [R, 1]), run without index loads.
  std::int64_t row_length = 0;
  std::array<std::int64_t, 2> row_step{}, elem_step{};

  // matmul: per batch item, element offsets of A, B and C; op(A) is [M, K], op(B) [K, N]. Each operand
  // is stored row-major with a row stride (leading dimension): A [M, K] (or [K, M] when trans_a) with
  // row stride lda, B [K, N] (or [N, K]) with ldb, C [M, N] with ldc. Dense storage has ld = its
  // column count; a larger ld reads or writes one head of a [.., T, heads·d] activation in place, which
  // is how fuse_layouts() removes the head split/merge Transposes of attention (compile.cpp).
  std::int64_t M = 0, K = 0, N = 0;
  bool trans_a = false, trans_b = false;
  std::int64_t lda = 0, ldb = 0, ldc = 0;
  std::vector<std::array<std::int64_t, 3>> batches;

  // concat: outer rows; inner[k] entries per row from input k.
  std::int64_t outer = 0;
  std::vector<std::int64_t> inner;

  // softmax / log_softmax along an axis: [outer, axis_length, inner_stride]
  std::int64_t axis_length = 0, inner_stride = 0;

  ConvGeometry conv;
  PoolGeometry pool;
  NormalizeGeometry norm;
  int workspace = -1;  // index of this step's per-step scratch in State (normalize statistics, argmax)
  // The reverse passes write the adjoint / R-adjoint of inputs[0] instead of adding to it: this step is
  // its only reader and covers every element once (copy, unary, softmax, log_softmax, matmul's A).
  bool overwrite = false;
};

// A batch-norm node's buffers and momentum, for train_step_buffers().
struct BatchNormInfo {
  std::string node;
  int running_mean = -1, running_var = -1;  // indices into GraphIR::buffers
  double torch_momentum = 0.1;              // ONNX momentum m ↔ torch momentum 1 − m
};

struct Compiled {
  std::int64_t batch = 0;
  BatchNormMode mode = BatchNormMode::eval;
  std::vector<Value> values;
  std::vector<Step> steps;
  int input = -1, output = -1;
  int workspaces = 0;
  std::vector<std::unique_ptr<std::vector<double>>> constant_storage;
  std::int64_t active_numel = 0;  // Σ numel over active values (tangent memory per lane)
};

}  // namespace saddlescope::models::graph::detail

namespace saddlescope::models::graph::detail {

// Lowers `ir` for a batch of `batch` samples with batch norm in `mode`. `batch_norms` receives one
// entry per BatchNormalization node (in node order; the normalize steps of train mode refer to it).
// With `fuse`, layout steps next to products are folded into them (compile.cpp, fuse_layouts).
// Throws std::invalid_argument naming the node for an unsupported op, attribute or shape.
std::unique_ptr<Compiled> compile(const GraphIR& ir, std::int64_t batch, BatchNormMode mode,
                                  std::vector<BatchNormInfo>* batch_norms, bool fuse = true);

// Scratch memory of the passes.
struct Buffers {
  std::vector<std::vector<double>> value, adjoint, tangent, r_adjoint;  // per value id
  std::vector<std::vector<double>> scratch;                            // per step workspace id
  std::vector<double> col, col2;                                       // im2col workspaces
  std::int64_t lanes = 0;                                              // sized lanes of tangent buffers
};

// The passes over a compiled graph. theta is the parameter vector; directions V are m columns of n.
void forward_pass(const Compiled& c, const double* theta, Buffers& b);
// Adjoint of the output must be set (b.adjoint[c.output]); accumulates into every active value's
// adjoint (they are zeroed first, but for the output). With `all` false only the adjoints Hessian
// products read (Value::product_adjoint): no parameter gradient, e.g. no weight-gradient GEMMs.
void backward_pass(const Compiled& c, const double* theta, Buffers& b, bool all = true);
// Tangents of the m lanes: parameter tangents from V (n × m, column-major), then every active value.
void tangent_pass(const Compiled& c, const double* theta, const double* V, std::int64_t n, std::int64_t m,
                  Buffers& b);
// R-adjoint of the output must be set (b.r_adjoint[c.output], m lanes); `second_order` adds the
// network's second-order terms (Hessian) or not (Gauss–Newton, Fisher).
void r_backward_pass(const Compiled& c, const double* theta, std::int64_t m, bool second_order, Buffers& b);
// Sizes value / adjoint buffers (and tangent ones for `lanes` > 0).
void size_buffers(const Compiled& c, std::int64_t lanes, Buffers& b);

}  // namespace saddlescope::models::graph::detail

namespace saddlescope::models::graph::detail {

// The patch matrix of one sample x [C_in, H, W]: col [C_in·kh·kw, out_h·out_w], rows (c, i, j), columns
// (oh, ow) — the im2col the convolution step multiplies (passes.cpp).
void conv_patches(const ConvGeometry& g, const double* x, double* col);

// K-FAC (objective/kronecker.h) on a compiled graph (kronecker.cpp). A site is a layer z = W̃ ã whose
// weight (and bias) are parameters used nowhere else:
// - a matmul step (Gemm, as torch exports Linear: transB = 1, alpha = 1) x [R, in] · Wᵀ, W = [out, in];
//   its R rows are R/B positions of each of the B samples (1 for a Linear on [B, in]);
// - a conv step, one site per group (group g's W rows and bias entries are contiguous, so each group is
//   one W̃ of the layout contract), positions = out_h·out_w.
// The bias is a parameter added to the step's output by the next broadcast Add (Gemm's C; for Conv
// through the channel view the lowering makes). δ is the adjoint of the step's output.
struct KroneckerSite {
  std::string name;           // the weight's name without ".weight" (plus ".group<g>" for grouped conv)
  int step = -1;              // the matmul or conv step
  int input = -1;             // value id of ã's a (the layer input)
  int output = -1;            // value id whose adjoint is δ
  std::int64_t group = 0;     // conv group of this site (0 for matmul)
  std::int64_t positions = 1; // |T|: rows of ã per sample (spatial positions of a conv)
  objective::KroneckerLayer layout;  // out, in, weight_offset, bias_offset (factors empty)
};
// The sites of `c` in step order, and (when `outside` is given) the names of the parameters no site covers.
std::vector<KroneckerSite> kronecker_sites(const Compiled& c, std::vector<std::string>* outside = nullptr);
// A += Σ over the batch's samples and positions of ã ãᵀ (ã with the homogeneous 1 when the site has a
// bias), from the forward values in `b`; `col` is scratch.
void accumulate_input_factor(const Compiled& c, const KroneckerSite& site, const Buffers& b, Matrix& A,
                             std::vector<double>& col);
// G += Σ over `lanes` lanes, the batch's samples and positions of δ δᵀ, δ the R-adjoints of the site's
// output in `b` (after an R-backward pass without second-order terms).
void accumulate_output_factor(const Compiled& c, const KroneckerSite& site, const Buffers& b, std::int64_t lanes, Matrix& G);

}  // namespace saddlescope::models::graph::detail
