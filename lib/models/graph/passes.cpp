// The four passes of every primitive step (plan.h): forward, backward (adjoints), tangent
// (R-forward, m lanes) and R-backward (m lanes; the second-order terms on request).
//
// Notation in the comments: x inputs, y the output, ẋ / ẏ tangents (lane j), g = ∂f/∂y the adjoint of
// the output, r = R{g} its R-adjoint. For a step y = F(x) the R-backward is
//     R{∂f/∂x} = J_Fᵀ r + (∂/∂x (J_Fᵀ g))·ẋ ;
// the first term is the backward pass applied to r (linear steps have nothing else), the second the
// step's second-order term, which Gauss–Newton and Fisher products drop.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "models/graph/plan.h"

namespace saddlescope::models::graph::detail {
namespace {

using I = std::int64_t;
using ConstMap = Eigen::Map<const Eigen::MatrixXd>;
using MutMap = Eigen::Map<Eigen::MatrixXd>;

// Row-major C[M, N] (+)= α·op(A)·op(B), op(A) [M, K], op(B) [K, N]; A stored [M, K] (or [K, M] when
// ta) with row stride lda, B stored [K, N] (or [N, K] when tb) with row stride ldb, C with row stride
// ldc. Computed as the column-major Cᵀ = op(B)ᵀ op(A)ᵀ (a row-major matrix with row stride ld is a
// column-major one with outer stride ld). Eigen's blocked GEMM for every shape: at the attention's
// [64×32]·[32×64] it ran 71 GFLOP/s against 50 for OpenBLAS's cblas_dgemm and 27 for an unpacked
// lazyProduct (one thread, this machine, docs/graph.md), so no small-shape path is taken.
void gemm(const double* A, bool ta, I lda, const double* B, bool tb, I ldb, double* C, I ldc, I M, I N, I K, double alpha,
          bool accumulate) {
  if (M == 0 || N == 0) return;
  using Stride = Eigen::OuterStride<>;
  using ConstStrided = Eigen::Map<const Eigen::MatrixXd, 0, Stride>;
  Eigen::Map<Eigen::MatrixXd, 0, Stride> Ct(C, N, M, Stride(ldc));
  if (K == 0) {
    if (!accumulate) Ct.setZero();
    return;
  }
  auto apply = [&](const auto& product) {
    if (accumulate) Ct.noalias() += alpha * product;
    else Ct.noalias() = alpha * product;
  };
  if (!tb && !ta) apply(ConstStrided(B, N, K, Stride(ldb)) * ConstStrided(A, K, M, Stride(lda)));
  else if (!tb && ta) apply(ConstStrided(B, N, K, Stride(ldb)) * ConstStrided(A, M, K, Stride(lda)).transpose());
  else if (tb && !ta) apply(ConstStrided(B, K, N, Stride(ldb)).transpose() * ConstStrided(A, K, M, Stride(lda)));
  else apply(ConstStrided(B, K, N, Stride(ldb)).transpose() * ConstStrided(A, M, K, Stride(lda)).transpose());
}
// Dense operands (row stride = column count).
void gemm(const double* A, bool ta, const double* B, bool tb, double* C, I M, I N, I K, double alpha, bool accumulate) {
  gemm(A, ta, ta ? M : K, B, tb, tb ? K : N, C, N, M, N, K, alpha, accumulate);
}

void add_to(double* out, const double* in, I n) {
  for (I i = 0; i < n; ++i) out[i] += in[i];
}
// out = in (a step that overwrites its input's adjoint, Step::overwrite) or out += in.
void put(double* out, const double* in, I n, bool overwrite) {
  if (overwrite) std::memcpy(out, in, sizeof(double) * static_cast<std::size_t>(n));
  else add_to(out, in, n);
}
// Runs body(std::true_type) when the step overwrites its input's adjoint, body(std::false_type) when
// it accumulates: the element loops store with `store<W>` and stay vectorisable either way.
template <class Body>
void with_overwrite(const Step& s, Body body) {
  if (s.overwrite) body(std::true_type{});
  else body(std::false_type{});
}
template <bool Write>
inline void store(double& out, double v) {
  if constexpr (Write) out = v;
  else out += v;
}

// --- value access ----------------------------------------------------------------------------------
struct Access {
  const Compiled& c;
  const double* theta;
  Buffers& b;
  const double* val(int v) const {
    const Value& value = c.values[v];
    switch (value.kind) {
      case ValueKind::constant: return value.data;
      case ValueKind::parameter: return theta + value.offset;
      default: return b.value[v].data();
    }
  }
  double* out(int v) const { return b.value[v].data(); }
  bool active(int v) const { return c.values[v].active; }
  I numel(int v) const { return c.values[v].numel; }
  double* adj(int v) const { return b.adjoint[v].data(); }
  double* tan(int v) const { return b.tangent[v].data(); }
  double* radj(int v) const { return b.r_adjoint[v].data(); }
  double* scratch(const Step& s) const { return b.scratch[s.workspace].data(); }
};

// --- matmul ------------------------------------------------------------------------------------------
// C (+)= α op(A) op(B) over the batch items, each operand with the step's row stride (plan.h).
void matmul_forward(const Step& s, const double* A, const double* B, double* C, bool accumulate) {
  for (const auto& [ao, bo, co] : s.batches)
    gemm(A + ao, s.trans_a, s.lda, B + bo, s.trans_b, s.ldb, C + co, s.ldc, s.M, s.N, s.K, s.scalar, accumulate);
}
// gA (+)= adjoint of A for the output adjoint gC against B (= only when the items cover A once).
void matmul_backward_a(const Step& s, const double* gC, const double* B, double* gA, bool accumulate = true) {
  for (const auto& [ao, bo, co] : s.batches) {
    if (!s.trans_a) gemm(gC + co, false, s.ldc, B + bo, !s.trans_b, s.ldb, gA + ao, s.lda, s.M, s.K, s.N, s.scalar, accumulate);
    else gemm(B + bo, s.trans_b, s.ldb, gC + co, true, s.ldc, gA + ao, s.lda, s.K, s.M, s.N, s.scalar, accumulate);
  }
}
void matmul_backward_b(const Step& s, const double* gC, const double* A, double* gB) {
  for (const auto& [ao, bo, co] : s.batches) {
    if (!s.trans_b) gemm(A + ao, !s.trans_a, s.lda, gC + co, false, s.ldc, gB + bo, s.ldb, s.K, s.N, s.M, s.scalar, true);
    else gemm(gC + co, true, s.ldc, A + ao, s.trans_a, s.lda, gB + bo, s.ldb, s.N, s.K, s.M, s.scalar, true);
  }
}
// One dense batch item and A not transposed: the m lanes of A stack into one [m·M, K] operand.
bool stacks_lanes(const Step& s) {
  return s.batches.size() == 1 && !s.trans_a && s.batches[0][0] == 0 && s.batches[0][2] == 0 && s.lda == s.K && s.ldc == s.N;
}

// --- convolution -----------------------------------------------------------------------------------
// Output columns ow whose input column ow·stride + w0 lies inside [0, width): [lo, hi).
inline void valid_columns(const ConvGeometry& g, I w0, I& lo, I& hi) {
  lo = w0 >= 0 ? 0 : (-w0 + g.stride_w - 1) / g.stride_w;
  hi = g.width - w0 <= 0 ? 0 : (g.width - w0 + g.stride_w - 1) / g.stride_w;
  hi = std::min(hi, g.out_w);
  lo = std::min(lo, hi);
}

// col [C_in·kh·kw, out_h·out_w] of one sample x [C_in, H, W]; rows (c, i, j), columns (oh, ow).
void im2col(const ConvGeometry& g, const double* x, double* col) {
  const I cols = g.col_cols();
  for (I c = 0; c < g.channels_in; ++c)
    for (I i = 0; i < g.kernel_h; ++i)
      for (I j = 0; j < g.kernel_w; ++j) {
        double* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * cols;
        const double* plane = x + c * g.height * g.width;
        const I w0 = j * g.dilation_w - g.pad_left;
        I lo, hi;
        valid_columns(g, w0, lo, hi);
        for (I oh = 0; oh < g.out_h; ++oh) {
          const I h = oh * g.stride_h - g.pad_top + i * g.dilation_h;
          double* r = row + oh * g.out_w;
          if (h < 0 || h >= g.height) {
            std::fill(r, r + g.out_w, 0.0);
            continue;
          }
          const double* line = plane + h * g.width;  // input column of ow: ow·stride + w0
          std::fill(r, r + lo, 0.0);
          if (g.stride_w == 1) std::memcpy(r + lo, line + lo + w0, sizeof(double) * static_cast<std::size_t>(hi - lo));
          else
            for (I ow = lo; ow < hi; ++ow) r[ow] = line[ow * g.stride_w + w0];
          std::fill(r + hi, r + g.out_w, 0.0);
        }
      }
}
// x += col2im(col): the adjoint of im2col.
void col2im(const ConvGeometry& g, const double* col, double* x) {
  const I cols = g.col_cols();
  for (I c = 0; c < g.channels_in; ++c)
    for (I i = 0; i < g.kernel_h; ++i)
      for (I j = 0; j < g.kernel_w; ++j) {
        const double* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * cols;
        double* plane = x + c * g.height * g.width;
        const I w0 = j * g.dilation_w - g.pad_left;
        I lo, hi;
        valid_columns(g, w0, lo, hi);
        for (I oh = 0; oh < g.out_h; ++oh) {
          const I h = oh * g.stride_h - g.pad_top + i * g.dilation_h;
          if (h < 0 || h >= g.height) continue;
          double* line = plane + h * g.width;
          const double* r = row + oh * g.out_w;
          if (g.stride_w == 1)
            for (I ow = lo; ow < hi; ++ow) line[ow + w0] += r[ow];
          else
            for (I ow = lo; ow < hi; ++ow) line[ow * g.stride_w + w0] += r[ow];
        }
      }
}
// A 1×1 convolution with unit stride and no padding reads the sample itself as its column matrix.
bool col_is_input(const ConvGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.out_h == g.height && g.out_w == g.width;
}
const double* columns(const ConvGeometry& g, const double* x, std::vector<double>& col) {
  if (col_is_input(g)) return x;
  im2col(g, x, col.data());
  return col.data();
}
// y (+)= W ⋆ col for one sample.
void conv_apply(const ConvGeometry& g, const double* W, const double* col, double* y, bool accumulate) {
  const I cog = g.channels_out / g.groups, rows = g.col_rows(), cols = g.col_cols();
  for (I q = 0; q < g.groups; ++q)
    gemm(W + q * cog * rows, false, col + q * rows * cols, false, y + q * cog * cols, cog, cols, rows, 1.0, accumulate);
}
// gcol = Wᵀ gy for one sample (overwrites).
void conv_columns_adjoint(const ConvGeometry& g, const double* W, const double* gy, double* gcol, bool accumulate) {
  const I cog = g.channels_out / g.groups, rows = g.col_rows(), cols = g.col_cols();
  for (I q = 0; q < g.groups; ++q)
    gemm(W + q * cog * rows, true, gy + q * cog * cols, false, gcol + q * rows * cols, rows, cols, cog, 1.0, accumulate);
}
// gW += gy colᵀ for one sample.
void conv_weight_adjoint(const ConvGeometry& g, const double* gy, const double* col, double* gW) {
  const I cog = g.channels_out / g.groups, rows = g.col_rows(), cols = g.col_cols();
  for (I q = 0; q < g.groups; ++q)
    gemm(gy + q * cog * cols, false, col + q * rows * cols, true, gW + q * cog * rows, cog, rows, cols, 1.0, true);
}
// gx += col2im(Wᵀ gy (+ W2ᵀ gy2)) for one sample.
void conv_input_adjoint(const ConvGeometry& g, const double* W, const double* gy, const double* W2, const double* gy2,
                        std::vector<double>& gcol, double* gx) {
  if (col_is_input(g)) {
    conv_columns_adjoint(g, W, gy, gx, true);
    if (W2) conv_columns_adjoint(g, W2, gy2, gx, true);
    return;
  }
  conv_columns_adjoint(g, W, gy, gcol.data(), false);
  if (W2) conv_columns_adjoint(g, W2, gy2, gcol.data(), true);
  col2im(g, gcol.data(), gx);
}

// --- pooling -----------------------------------------------------------------------------------------
// Window bounds of output (oh, ow) clipped to the input; `divisor` of average pooling as torch
// computes it (count_include_pad counts the padded window clipped to input + padding).
struct Window {
  I h0, h1, w0, w1;
  double divisor;
};
Window window(const PoolGeometry& g, I oh, I ow) {
  I h0 = oh * g.stride_h - g.pad_top, w0 = ow * g.stride_w - g.pad_left;
  I h1 = std::min(h0 + (g.kernel_h - 1) * g.dilation_h + 1, g.height + g.pad_bottom);
  I w1 = std::min(w0 + (g.kernel_w - 1) * g.dilation_w + 1, g.width + g.pad_right);
  const I padded = (h1 - h0) * (w1 - w0);
  h0 = std::max<I>(h0, 0);
  w0 = std::max<I>(w0, 0);
  h1 = std::min(h1, g.height);
  w1 = std::min(w1, g.width);
  const double divisor = static_cast<double>(g.count_include_pad ? padded : (h1 - h0) * (w1 - w0));
  return {h0, h1, w0, w1, divisor};
}
void average_pool(const PoolGeometry& g, I planes, const double* x, double* y) {
  for (I p = 0; p < planes; ++p)
    for (I oh = 0; oh < g.out_h; ++oh)
      for (I ow = 0; ow < g.out_w; ++ow) {
        const Window w = window(g, oh, ow);
        double sum = 0.0;
        for (I h = w.h0; h < w.h1; ++h)
          for (I c = w.w0; c < w.w1; ++c) sum += x[(p * g.height + h) * g.width + c];
        y[(p * g.out_h + oh) * g.out_w + ow] = sum / w.divisor;
      }
}
void average_pool_adjoint(const PoolGeometry& g, I planes, const double* gy, double* gx) {
  for (I p = 0; p < planes; ++p)
    for (I oh = 0; oh < g.out_h; ++oh)
      for (I ow = 0; ow < g.out_w; ++ow) {
        const Window w = window(g, oh, ow);
        const double v = gy[(p * g.out_h + oh) * g.out_w + ow] / w.divisor;
        for (I h = w.h0; h < w.h1; ++h)
          for (I c = w.w0; c < w.w1; ++c) gx[(p * g.height + h) * g.width + c] += v;
      }
}
// Max pooling: the first maximum in scan order wins (torch's `val > maxval`); argmax is the input
// index within the tensor, stored as a double (exact below 2^53).
void max_pool(const PoolGeometry& g, const double* x, double* y, double* argmax) {
  for (I p = 0; p < g.planes; ++p)
    for (I oh = 0; oh < g.out_h; ++oh)
      for (I ow = 0; ow < g.out_w; ++ow) {
        const I h0 = oh * g.stride_h - g.pad_top, w0 = ow * g.stride_w - g.pad_left;
        double best = -std::numeric_limits<double>::infinity();
        I arg = -1;
        for (I i = 0; i < g.kernel_h; ++i) {
          const I h = h0 + i * g.dilation_h;
          if (h < 0 || h >= g.height) continue;
          for (I j = 0; j < g.kernel_w; ++j) {
            const I w = w0 + j * g.dilation_w;
            if (w < 0 || w >= g.width) continue;
            const I idx = (p * g.height + h) * g.width + w;
            if (arg < 0 || x[idx] > best || std::isnan(x[idx])) {
              best = x[idx];
              arg = idx;
            }
          }
        }
        const I o = (p * g.out_h + oh) * g.out_w + ow;
        y[o] = best;
        argmax[o] = static_cast<double>(arg);
      }
}

// --- elementwise -------------------------------------------------------------------------------------
inline I at(const std::vector<std::int32_t>& map, I i) { return map.empty() ? i : map[i]; }

// f(i, ia, ib) for every output element i of a binary step, in output order, with ia, ib its operands'
// elements. With the maps' closed form (Step::row_length) the operand offsets are affine within a row,
// so the loops carry no index loads and the same-stride ones vectorise; otherwise the maps are read.
template <class F>
void for_binary(const Step& s, I n, F f) {
  if (s.row_length > 0) {
    const I L = s.row_length, rows = n / L;
    auto run = [&](auto ea, auto eb) {
      for (I r = 0; r < rows; ++r) {
        const I base = r * L, ra = r * s.row_step[0], rb = r * s.row_step[1];
        for (I q = 0; q < L; ++q) f(base + q, ra + q * decltype(ea)::value, rb + q * decltype(eb)::value);
      }
    };
    using Zero = std::integral_constant<I, 0>;
    using One = std::integral_constant<I, 1>;
    if (s.elem_step[0] != 0) {
      if (s.elem_step[1] != 0) run(One{}, One{});
      else run(One{}, Zero{});
    } else {
      if (s.elem_step[1] != 0) run(Zero{}, One{});
      else run(Zero{}, Zero{});
    }
    return;
  }
  for (I i = 0; i < n; ++i) f(i, at(s.map_a, i), at(s.map_b, i));
}

constexpr double kTwoOverSqrtPi = 1.12837916709551257390;  // 2/√π
constexpr double kInvSqrtTwoPi = 0.39894228040143267794;  // 1/√(2π)
constexpr double kSoftplusThreshold = 20.0;  // torch.nn.Softplus's default threshold (beta = 1)

void unary_forward(const Step& s, I n, const double* x, double* y, double* d1, double* d2) {
  const double c = s.scalar;
  switch (s.unary) {
    case UnaryOp::relu:
      for (I i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : 0.0;
      break;
    case UnaryOp::leaky_relu:
      for (I i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : c * x[i];
      break;
    case UnaryOp::tanh: {
      // tanh(z) = 1 − 2/(e^{2z} + 1), as models::Network computes it: Eigen vectorises exp for double
      // but not tanh (≈ 5× faster here); absolute error within a few ulps of 1, e^{2z} = ∞ gives ±1.
      Eigen::Map<const Eigen::ArrayXd> z(x, n);
      Eigen::Map<Eigen::ArrayXd> t(y, n), t1(d1, n), t2(d2, n);
      t = 1.0 - 2.0 / ((2.0 * z).exp() + 1.0);
      t1 = 1.0 - t.square();
      t2 = -2.0 * t * t1;
      break;
    }
    case UnaryOp::sigmoid: {
      // 1/(1 + e^{−z}) vectorised, as models::Network computes it (e^{−z} = ∞ gives exactly 0).
      Eigen::Map<const Eigen::ArrayXd> z(x, n);
      Eigen::Map<Eigen::ArrayXd> t(y, n), t1(d1, n), t2(d2, n);
      t = 1.0 / (1.0 + (-z).exp());
      t1 = t * (1.0 - t);
      t2 = t1 * (1.0 - 2.0 * t);
      break;
    }
    case UnaryOp::softplus:
      // torch's nn.Softplus (threshold 20, the default, which is all export_torch.py accepts): x itself, with
      // derivatives 1 and 0, above 20; log(1 + eˣ) below. ONNX's Softplus is log(1 + eˣ) everywhere, which
      // differs by up to e⁻²⁰ = 2.1e-9 per element above 20 and broke 1e-10 parity with torch there
      // (found by GraphOpsTorch; regression test GraphOps.SoftplusAboveTwentyWasNotTorchs).
      for (I i = 0; i < n; ++i) {
        if (x[i] > kSoftplusThreshold) {
          y[i] = x[i];
          d1[i] = 1.0;
          d2[i] = 0.0;
          continue;
        }
        y[i] = std::max(x[i], 0.0) + std::log1p(std::exp(-std::abs(x[i])));
        const double sg = x[i] >= 0 ? 1.0 / (1.0 + std::exp(-x[i])) : std::exp(x[i]) / (1.0 + std::exp(x[i]));
        d1[i] = sg;
        d2[i] = sg * (1.0 - sg);
      }
      break;
    case UnaryOp::erf:
      for (I i = 0; i < n; ++i) {
        y[i] = std::erf(x[i]);
        d1[i] = kTwoOverSqrtPi * std::exp(-x[i] * x[i]);
        d2[i] = -2.0 * x[i] * d1[i];
      }
      break;
    case UnaryOp::exp:
      for (I i = 0; i < n; ++i) y[i] = d1[i] = d2[i] = std::exp(x[i]);
      break;
    case UnaryOp::gelu:
      // y = x·Φ(x), Φ(x) = ½(1 + erf(x/√2)), in the exported graph's order of operations (so the value is
      // bitwise the decomposed graph's); y' = Φ + x·φ, y'' = φ·(2 − x²), φ(x) = e^{−x²/2}/√(2π).
      // erf is scalar (libm); φ through Eigen's vectorised exp (exp was a third of GELU's time).
      for (I i = 0; i < n; ++i) d1[i] = std::erf(x[i] / std::numbers::sqrt2);
      {
        Eigen::Map<const Eigen::ArrayXd> z(x, n);
        Eigen::Map<Eigen::ArrayXd> v(y, n), e(d1, n), phi(d2, n);
        phi = kInvSqrtTwoPi * (-0.5 * z.square()).exp();
        v = z * (e + 1.0) * 0.5;
        e = 0.5 * (e + 1.0) + z * phi;  // d1 in place of erf
        phi = phi * (2.0 - z.square());  // d2 in place of φ
      }
      break;
    case UnaryOp::log:
      for (I i = 0; i < n; ++i) {
        y[i] = std::log(x[i]);
        d1[i] = 1.0 / x[i];
        d2[i] = -d1[i] * d1[i];
      }
      break;
    case UnaryOp::sqrt:
      for (I i = 0; i < n; ++i) {
        y[i] = std::sqrt(x[i]);
        d1[i] = 0.5 / y[i];
        d2[i] = -0.5 * d1[i] / x[i];
      }
      break;
    case UnaryOp::pow:
      if (c == 2.0) {
        for (I i = 0; i < n; ++i) {
          y[i] = x[i] * x[i];
          d1[i] = 2.0 * x[i];
          d2[i] = 2.0;
        }
      } else {
        for (I i = 0; i < n; ++i) {
          y[i] = std::pow(x[i], c);
          d1[i] = c * std::pow(x[i], c - 1.0);
          d2[i] = c * (c - 1.0) * std::pow(x[i], c - 2.0);
        }
      }
      break;
    case UnaryOp::neg:
      for (I i = 0; i < n; ++i) y[i] = -x[i];
      break;
    case UnaryOp::reciprocal:
      for (I i = 0; i < n; ++i) {
        y[i] = 1.0 / x[i];
        d1[i] = -y[i] * y[i];
        d2[i] = 2.0 * y[i] * y[i] * y[i];
      }
      break;
  }
}

// Piecewise-linear ops keep no derivative arrays: their first derivative is read off the input (torch's
// conventions relu'(0) = 0, leaky_relu'(0) = slope) and their second derivative is 0.
bool piecewise_linear(UnaryOp op) { return op == UnaryOp::relu || op == UnaryOp::leaky_relu || op == UnaryOp::neg; }
inline double piecewise_slope(UnaryOp op, double c, double x) {
  switch (op) {
    case UnaryOp::relu: return x > 0 ? 1.0 : 0.0;
    case UnaryOp::leaky_relu: return x > 0 ? 1.0 : c;
    default: return -1.0;  // neg
  }
}

// Partial derivatives of a binary op at element (a, b).
inline void binary_partials(BinaryOp op, double a, double b, double& da, double& db) {
  switch (op) {
    case BinaryOp::add: da = 1.0; db = 1.0; return;
    case BinaryOp::sub: da = 1.0; db = -1.0; return;
    case BinaryOp::mul: da = b; db = a; return;
    case BinaryOp::div: da = 1.0 / b; db = -a / (b * b); return;
  }
}

// Element e of group g of a normalize step.
template <class F>
void for_group(const NormalizeGeometry& g, I group, F f) {
  const I base = g.base(group);
  for (I o = 0; o < g.outer; ++o) {
    const I row = base + o * g.outer_stride;
    for (I t = 0; t < g.inner; ++t) f(row + t);
  }
}

// Rows of a softmax step: element l of row (o, i) is at o·L·inner + l·inner + i.
template <class F>
void for_rows(const Step& s, F f) {
  for (I o = 0; o < s.outer; ++o)
    for (I i = 0; i < s.inner_stride; ++i) f(o * s.axis_length * s.inner_stride + i, s.inner_stride);
}


// --- normalisation -----------------------------------------------------------------------------------
// y = γ_q·x̂ + β_q with x̂ = (x − mean_q)·r_q over the elements of group q; γ, β per group when the step
// is affine (inputs 1, 2), else 1 and 0. Statistics: the running mean and variance (inputs 3, 4; r =
// 1/√(var + ε), x̂ affine in x) or the group's own mean and biased variance (x̂ depends on the whole
// group: ∂x̂/∂x = r(I − 1/M − x̂x̂ᵀ/M)). Scratch: mean, Σ(x − mean)², r per group.
struct Normalize {
  const Step& s;
  const Access& a;
  const NormalizeGeometry& g;
  bool affine, running;
  double inv;
  Normalize(const Step& step, const Access& access)
      : s(step), a(access), g(step.norm), affine(step.inputs.size() >= 3), running(step.inputs.size() == 5),
        inv(1.0 / static_cast<double>(step.norm.count())) {}
  double gamma(I q) const { return affine ? a.val(s.inputs[1])[q] : 1.0; }
  bool active(int k) const { return static_cast<int>(s.inputs.size()) > k && a.active(s.inputs[k]); }
  // Tangent of γ_q / β_q in lane j (0 when constant).
  double lane_param(int k, I j, I q) const { return active(k) ? a.tan(s.inputs[k])[j * g.groups + q] : 0.0; }
};

void normalize_forward(const Step& s, const Access& a, const double* x, double* y) {
  const Normalize nz(s, a);
  const NormalizeGeometry& g = s.norm;
  double* stats = a.scratch(s);
  for (I q = 0; q < g.groups; ++q) {
    double mean = 0.0, ss = 0.0, r;
    if (nz.running) {
      mean = a.val(s.inputs[3])[q];
      r = 1.0 / std::sqrt(a.val(s.inputs[4])[q] + g.epsilon);
    } else {
      for_group(g, q, [&](I e) { mean += x[e]; });
      mean *= nz.inv;
      for_group(g, q, [&](I e) { ss += (x[e] - mean) * (x[e] - mean); });
      r = 1.0 / std::sqrt(ss * nz.inv + g.epsilon);
    }
    stats[q] = mean;
    stats[g.groups + q] = ss;  // Σ (x − mean)²: train_step_buffers divides by count − 1 as torch does
    stats[2 * g.groups + q] = r;
    const double gm = nz.gamma(q), bt = nz.affine ? a.val(s.inputs[2])[q] : 0.0;
    if (nz.affine) for_group(g, q, [&](I e) { y[e] = (x[e] - mean) * r * gm + bt; });
    else for_group(g, q, [&](I e) { y[e] = (x[e] - mean) * r; });
  }
}

void normalize_backward(const Step& s, const Access& a, const double* x, const double* gy) {
  const Normalize nz(s, a);
  const NormalizeGeometry& g = s.norm;
  const double* stats = a.scratch(s);
  double* gx = nz.active(0) ? a.adj(s.inputs[0]) : nullptr;
  double* gg = nz.active(1) ? a.adj(s.inputs[1]) : nullptr;
  double* gb = nz.active(2) ? a.adj(s.inputs[2]) : nullptr;
  for (I q = 0; q < g.groups; ++q) {
    const double mean = stats[q], r = stats[2 * g.groups + q], gm = nz.gamma(q);
    double g1 = 0.0, g2 = 0.0;
    for_group(g, q, [&](I e) {
      g1 += gy[e];
      g2 += (x[e] - mean) * r * gy[e];
    });
    if (gg) gg[q] += g2;
    if (gb) gb[q] += g1;
    if (!gx) continue;
    if (nz.running) {
      for_group(g, q, [&](I e) { gx[e] += gm * r * gy[e]; });
    } else {
      g1 *= nz.inv;
      g2 *= nz.inv;
      for_group(g, q, [&](I e) { gx[e] += gm * r * (gy[e] - g1 - (x[e] - mean) * r * g2); });
    }
  }
}

// x̂'s tangent in lane j of group q into `out` (indexed like x): r·ẋ (running statistics) or
// r(ẋ − mean ẋ − x̂·mean(x̂ ẋ)); returns mean(x̂ ẋ) (0 for running statistics).
double normalized_tangent(const Normalize& nz, I q, const double* x, const double* tx, double mean, double r, double* out) {
  const NormalizeGeometry& g = nz.g;
  if (nz.running) {
    for_group(g, q, [&](I e) { out[e] = r * tx[e]; });
    return 0.0;
  }
  double m1 = 0.0, m2 = 0.0;
  for_group(g, q, [&](I e) {
    m1 += tx[e];
    m2 += (x[e] - mean) * r * tx[e];
  });
  m1 *= nz.inv;
  m2 *= nz.inv;
  for_group(g, q, [&](I e) { out[e] = r * (tx[e] - m1 - (x[e] - mean) * r * m2); });
  return m2;
}

void normalize_tangent(const Step& s, const Access& a, const double* x, I m) {
  const Normalize nz(s, a);
  const NormalizeGeometry& g = s.norm;
  const double* stats = a.scratch(s);
  const I n = a.numel(s.output);
  double* ty = a.tan(s.output);
  const bool xa = nz.active(0);
  for (I j = 0; j < m; ++j) {
    double* o = ty + j * n;
    for (I q = 0; q < g.groups; ++q) {
      const double mean = stats[q], r = stats[2 * g.groups + q], gm = nz.gamma(q);
      const double dg = nz.lane_param(1, j, q), db = nz.lane_param(2, j, q);
      if (xa) {
        normalized_tangent(nz, q, x, a.tan(s.inputs[0]) + j * n, mean, r, o);
        for_group(g, q, [&](I e) { o[e] = gm * o[e] + dg * (x[e] - mean) * r + db; });
      } else {
        for_group(g, q, [&](I e) { o[e] = dg * (x[e] - mean) * r + db; });
      }
    }
  }
}

void normalize_r_backward(const Step& s, const Access& a, const double* x, I m, bool second_order, std::vector<double>& work) {
  const Normalize nz(s, a);
  const NormalizeGeometry& g = s.norm;
  const double* stats = a.scratch(s);
  const I n = a.numel(s.output);
  const double* R = a.radj(s.output);
  const double* gy = second_order ? a.adj(s.output) : nullptr;
  const bool xa = nz.active(0), ga = nz.active(1), ba = nz.active(2);
  if (xa && second_order && static_cast<I>(work.size()) < n) work.resize(static_cast<std::size_t>(n));
  double* xh_dot = work.data();
  for (I q = 0; q < g.groups; ++q) {
    const double mean = stats[q], r = stats[2 * g.groups + q], gm = nz.gamma(q);
    auto xh = [&](I e) { return (x[e] - mean) * r; };
    double G1 = 0.0, G2 = 0.0;
    if (second_order) {
      for_group(g, q, [&](I e) {
        G1 += gy[e];
        G2 += xh(e) * gy[e];
      });
      G1 *= nz.inv;
      G2 *= nz.inv;
    }
    for (I j = 0; j < m; ++j) {
      const double* Rj = R + j * n;
      double r1 = 0.0, r2 = 0.0;
      for_group(g, q, [&](I e) {
        r1 += Rj[e];
        r2 += xh(e) * Rj[e];
      });
      double dgamma = r2;  // R{∂f/∂γ_q}
      const double dbeta = r1;
      double* o = xa ? a.radj(s.inputs[0]) + j * n : nullptr;
      const double tg = second_order ? nz.lane_param(1, j, q) : 0.0;
      r1 *= nz.inv;
      r2 *= nz.inv;
      if (nz.running) {
        if (o) for_group(g, q, [&](I e) { o[e] += gm * r * Rj[e] + (second_order ? tg * r * gy[e] : 0.0); });
        if (second_order && xa) {
          const double* tx = a.tan(s.inputs[0]) + j * n;
          for_group(g, q, [&](I e) { dgamma += gy[e] * r * tx[e]; });
        }
      } else {
        if (o && !second_order) for_group(g, q, [&](I e) { o[e] += gm * r * (Rj[e] - r1 - xh(e) * r2); });
        if (second_order) {
          // d(∂f/∂x) along the tangent: γ̇ r(g − ḡ − x̂·mean(x̂g)) + γ[ṙ(g − ḡ − x̂·mean(x̂g))
          //   − r(x̂̇·mean(x̂g) + x̂·mean(x̂̇g))], ṙ = −r²·mean(x̂ẋ); and d(∂f/∂γ) = Σ g x̂̇.
          double b1 = 0.0, G3 = 0.0;
          if (xa) {
            b1 = normalized_tangent(nz, q, x, a.tan(s.inputs[0]) + j * n, mean, r, xh_dot);
            for_group(g, q, [&](I e) { G3 += xh_dot[e] * gy[e]; });
            dgamma += G3;
            G3 *= nz.inv;
          }
          const double rdot = -r * r * b1;
          if (o)
            for_group(g, q, [&](I e) {
              const double centred = gy[e] - G1 - xh(e) * G2;
              o[e] += gm * r * (Rj[e] - r1 - xh(e) * r2) + tg * r * centred +
                      gm * (rdot * centred - r * (xh_dot[e] * G2 + xh(e) * G3));
            });
        }
      }
      if (ga) a.radj(s.inputs[1])[j * g.groups + q] += dgamma;
      if (ba) a.radj(s.inputs[2])[j * g.groups + q] += dbeta;
    }
  }
}
}  // namespace

void conv_patches(const ConvGeometry& g, const double* x, double* col) { im2col(g, x, col); }

void size_buffers(const Compiled& c, std::int64_t lanes, Buffers& b) {
  const std::size_t count = c.values.size();
  b.value.resize(count);
  b.adjoint.resize(count);
  b.tangent.resize(count);
  b.r_adjoint.resize(count);
  for (std::size_t v = 0; v < count; ++v) {
    const Value& value = c.values[v];
    if (value.unused) continue;
    const auto n = static_cast<std::size_t>(value.numel);
    if (value.kind == ValueKind::computed || value.kind == ValueKind::input) b.value[v].resize(n);
    if (value.active) {
      b.adjoint[v].resize(n);
      if (lanes > 0) {
        b.tangent[v].resize(n * static_cast<std::size_t>(lanes));
        b.r_adjoint[v].resize(n * static_cast<std::size_t>(lanes));
      }
    }
  }
  if (lanes > 0) b.lanes = lanes;
  b.scratch.resize(static_cast<std::size_t>(c.workspaces));
  std::size_t col = 0;
  for (const Step& s : c.steps) {
    const auto out = static_cast<std::size_t>(c.values[s.output].numel);
    switch (s.kind) {
      case StepKind::unary: b.scratch[s.workspace].resize(piecewise_linear(s.unary) ? 0 : 2 * out); break;
      case StepKind::normalize: b.scratch[s.workspace].resize(3 * static_cast<std::size_t>(s.norm.groups)); break;
      case StepKind::max_pool: b.scratch[s.workspace].resize(out); break;
      case StepKind::conv:
        col = std::max(col, static_cast<std::size_t>(s.conv.channels_in * s.conv.kernel_h * s.conv.kernel_w * s.conv.col_cols()));
        break;
      default: break;
    }
  }
  b.col.resize(col);
  b.col2.resize(col);
}

void forward_pass(const Compiled& c, const double* theta, Buffers& b) {
  const Access a{c, theta, b};
  for (const Step& s : c.steps) {
    double* y = a.out(s.output);
    const I n = a.numel(s.output);
    const double* x = a.val(s.inputs[0]);
    switch (s.kind) {
      case StepKind::copy: std::memcpy(y, x, sizeof(double) * static_cast<std::size_t>(n)); break;
      case StepKind::gather:  // a negative source is padding: the constant s.scalar
        for (I i = 0; i < n; ++i) y[i] = s.map_a[i] >= 0 ? x[s.map_a[i]] : s.scalar;
        break;
      case StepKind::reduce_mean: {
        std::fill(y, y + n, 0.0);
        const I m = a.numel(s.inputs[0]);
        for (I i = 0; i < m; ++i) y[s.map_a[i]] += s.scalar * x[i];
        break;
      }
      case StepKind::concat: {
        I total = 0;
        for (const I k : s.inner) total += k;
        I offset = 0;
        for (std::size_t k = 0; k < s.inputs.size(); ++k) {
          const double* in = a.val(s.inputs[k]);
          for (I o = 0; o < s.outer; ++o)
            std::memcpy(y + o * total + offset, in + o * s.inner[k], sizeof(double) * static_cast<std::size_t>(s.inner[k]));
          offset += s.inner[k];
        }
        break;
      }
      case StepKind::binary: {
        const double* u = x;
        const double* v = a.val(s.inputs[1]);
        if (s.map_a.empty() && s.map_b.empty()) {  // same shapes: loops the compiler vectorises
          switch (s.binary) {
            case BinaryOp::add: for (I i = 0; i < n; ++i) y[i] = u[i] + v[i]; break;
            case BinaryOp::sub: for (I i = 0; i < n; ++i) y[i] = u[i] - v[i]; break;
            case BinaryOp::mul: for (I i = 0; i < n; ++i) y[i] = u[i] * v[i]; break;
            case BinaryOp::div: for (I i = 0; i < n; ++i) y[i] = u[i] / v[i]; break;
          }
          break;
        }
        switch (s.binary) {
          case BinaryOp::add: for_binary(s, n, [&](I i, I ia, I ib) { y[i] = u[ia] + v[ib]; }); break;
          case BinaryOp::sub: for_binary(s, n, [&](I i, I ia, I ib) { y[i] = u[ia] - v[ib]; }); break;
          case BinaryOp::mul: for_binary(s, n, [&](I i, I ia, I ib) { y[i] = u[ia] * v[ib]; }); break;
          case BinaryOp::div: for_binary(s, n, [&](I i, I ia, I ib) { y[i] = u[ia] / v[ib]; }); break;
        }
        break;
      }
      case StepKind::unary: {
        double* d = piecewise_linear(s.unary) ? nullptr : a.scratch(s);
        unary_forward(s, n, x, y, d, d ? d + n : nullptr);
        break;
      }
      case StepKind::matmul: matmul_forward(s, x, a.val(s.inputs[1]), y, false); break;
      case StepKind::conv: {
        const ConvGeometry& g = s.conv;
        const double* W = a.val(s.inputs[1]);
        const I B = c.values[s.inputs[0]].shape[0];
        for (I i = 0; i < B; ++i) conv_apply(g, W, columns(g, x + i * g.in_numel(), b.col), y + i * g.out_numel(), false);
        break;
      }
      case StepKind::normalize: normalize_forward(s, a, x, y); break;
      case StepKind::softmax:
      case StepKind::log_softmax:
        for_rows(s, [&](I base, I stride) {
          if (stride == 1) {  // contiguous rows (the last axis): Eigen's vectorised exp
            const Eigen::Map<const Eigen::ArrayXd> row(x + base, s.axis_length);
            Eigen::Map<Eigen::ArrayXd> out(y + base, s.axis_length);
            const double mx = row.maxCoeff();
            out = (row - mx).exp();
            const double sum = out.sum();
            if (s.kind == StepKind::softmax) out /= sum;
            else out = row - (mx + std::log(sum));
            return;
          }
          double mx = -std::numeric_limits<double>::infinity();
          for (I l = 0; l < s.axis_length; ++l) mx = std::max(mx, x[base + l * stride]);
          double sum = 0.0;
          for (I l = 0; l < s.axis_length; ++l) sum += std::exp(x[base + l * stride] - mx);
          if (s.kind == StepKind::softmax) {
            for (I l = 0; l < s.axis_length; ++l) y[base + l * stride] = std::exp(x[base + l * stride] - mx) / sum;
          } else {
            const double lse = mx + std::log(sum);
            for (I l = 0; l < s.axis_length; ++l) y[base + l * stride] = x[base + l * stride] - lse;
          }
        });
        break;
      case StepKind::max_pool: max_pool(s.pool, x, y, a.scratch(s)); break;
      case StepKind::average_pool: average_pool(s.pool, s.pool.planes, x, y); break;
    }
  }
}

void backward_pass(const Compiled& c, const double* theta, Buffers& b, bool all) {
  const Access a{c, theta, b};
  // An adjoint this pass computes: every active value's, or (for a product) those products read.
  auto wanted = [&](int v) { return c.values[v].active && (all || c.values[v].product_adjoint); };
  for (std::size_t v = 0; v < c.values.size(); ++v)
    if (c.values[v].active && !c.values[v].overwritten && static_cast<int>(v) != c.output)
      std::fill(b.adjoint[v].begin(), b.adjoint[v].end(), 0.0);
  for (auto it = c.steps.rbegin(); it != c.steps.rend(); ++it) {
    const Step& s = *it;
    // A wanted input implies a wanted output (mark_product_adjoints), so nothing is lost here.
    if (!wanted(s.output)) continue;
    const double* g = a.adj(s.output);
    const double* y = a.out(s.output);
    const I n = a.numel(s.output);
    const int xi = s.inputs[0];
    const bool xa = wanted(xi);
    double* gx = xa ? a.adj(xi) : nullptr;
    const double* x = a.val(xi);
    const bool several_inputs = s.kind == StepKind::binary || s.kind == StepKind::matmul || s.kind == StepKind::conv ||
                                s.kind == StepKind::concat || s.kind == StepKind::normalize;
    if (!gx && !several_inputs) continue;
    switch (s.kind) {
      case StepKind::copy: put(gx, g, n, s.overwrite); break;
      case StepKind::gather:
        for (I i = 0; i < n; ++i)
          if (s.map_a[i] >= 0) gx[s.map_a[i]] += g[i];
        break;
      case StepKind::reduce_mean: {
        const I m = a.numel(xi);
        for (I i = 0; i < m; ++i) gx[i] += s.scalar * g[s.map_a[i]];
        break;
      }
      case StepKind::concat: {
        I total = 0;
        for (const I k : s.inner) total += k;
        I offset = 0;
        for (std::size_t k = 0; k < s.inputs.size(); ++k) {
          if (wanted(s.inputs[k])) {
            double* gin = a.adj(s.inputs[k]);
            for (I o = 0; o < s.outer; ++o) add_to(gin + o * s.inner[k], g + o * total + offset, s.inner[k]);
          }
          offset += s.inner[k];
        }
        break;
      }
      case StepKind::binary: {
        const int yi = s.inputs[1];
        const double* u = x;
        const double* v = a.val(yi);
        double* gu = gx;
        double* gv = wanted(yi) ? a.adj(yi) : nullptr;
        if (s.binary == BinaryOp::add || s.binary == BinaryOp::sub) {  // constant partials ±1
          const double sign = s.binary == BinaryOp::add ? 1.0 : -1.0;
          if (gu) for_binary(s, n, [&](I i, I ia, I) { gu[ia] += g[i]; });
          if (gv) for_binary(s, n, [&](I i, I, I ib) { gv[ib] += sign * g[i]; });
          break;
        }
        for_binary(s, n, [&](I i, I ia, I ib) {
          double da, db;
          binary_partials(s.binary, u[ia], v[ib], da, db);
          if (gu) gu[ia] += da * g[i];
          if (gv) gv[ib] += db * g[i];
        });
        break;
      }
      case StepKind::unary:
        with_overwrite(s, [&](auto write) {
          constexpr bool W = decltype(write)::value;
          if (piecewise_linear(s.unary)) {
            for (I i = 0; i < n; ++i) store<W>(gx[i], piecewise_slope(s.unary, s.scalar, x[i]) * g[i]);
            return;
          }
          const double* d1 = a.scratch(s);
          for (I i = 0; i < n; ++i) store<W>(gx[i], d1[i] * g[i]);
        });
        break;
      case StepKind::matmul:
        if (xa) matmul_backward_a(s, g, a.val(s.inputs[1]), gx, !s.overwrite);
        if (wanted(s.inputs[1])) matmul_backward_b(s, g, x, a.adj(s.inputs[1]));
        break;
      case StepKind::conv: {
        const ConvGeometry& cg = s.conv;
        const double* W = a.val(s.inputs[1]);
        double* gW = wanted(s.inputs[1]) ? a.adj(s.inputs[1]) : nullptr;
        const I B = c.values[xi].shape[0];
        for (I i = 0; i < B; ++i) {
          const double* gy = g + i * cg.out_numel();
          if (gW) conv_weight_adjoint(cg, gy, columns(cg, x + i * cg.in_numel(), b.col), gW);
          if (gx) conv_input_adjoint(cg, W, gy, nullptr, nullptr, b.col2, gx + i * cg.in_numel());
        }
        break;
      }
      case StepKind::normalize: normalize_backward(s, a, x, g); break;
      case StepKind::softmax:
        with_overwrite(s, [&](auto write) {
          for_rows(s, [&](I base, I stride) {
            double dot = 0.0;
            for (I l = 0; l < s.axis_length; ++l) dot += y[base + l * stride] * g[base + l * stride];
            for (I l = 0; l < s.axis_length; ++l)
              store<decltype(write)::value>(gx[base + l * stride], y[base + l * stride] * (g[base + l * stride] - dot));
          });
        });
        break;
      case StepKind::log_softmax:
        with_overwrite(s, [&](auto write) {
          for_rows(s, [&](I base, I stride) {
            double sum = 0.0;
            for (I l = 0; l < s.axis_length; ++l) sum += g[base + l * stride];
            for (I l = 0; l < s.axis_length; ++l)
              store<decltype(write)::value>(gx[base + l * stride], g[base + l * stride] - std::exp(y[base + l * stride]) * sum);
          });
        });
        break;
      case StepKind::max_pool: {
        const double* arg = a.scratch(s);
        for (I i = 0; i < n; ++i) gx[static_cast<I>(arg[i])] += g[i];
        break;
      }
      case StepKind::average_pool: average_pool_adjoint(s.pool, s.pool.planes, g, gx); break;
    }
  }
}

void tangent_pass(const Compiled& c, const double* theta, const double* V, std::int64_t n_params, std::int64_t m,
                  Buffers& b) {
  const Access a{c, theta, b};
  for (std::size_t v = 0; v < c.values.size(); ++v) {
    const Value& value = c.values[v];
    if (value.kind != ValueKind::parameter) continue;
    double* t = b.tangent[v].data();
    for (I j = 0; j < m; ++j)
      std::memcpy(t + j * value.numel, V + j * n_params + value.offset, sizeof(double) * static_cast<std::size_t>(value.numel));
  }
  for (const Step& s : c.steps) {
    if (!a.active(s.output)) continue;
    const I n = a.numel(s.output);
    double* ty = a.tan(s.output);
    const double* y = a.out(s.output);
    const int xi = s.inputs[0];
    const bool xa = a.active(xi);
    const I nx = a.numel(xi);
    const double* tx = xa ? a.tan(xi) : nullptr;
    const double* x = a.val(xi);
    switch (s.kind) {
      case StepKind::copy: std::memcpy(ty, tx, sizeof(double) * static_cast<std::size_t>(n * m)); break;
      case StepKind::gather:
        for (I j = 0; j < m; ++j)
          for (I i = 0; i < n; ++i) ty[j * n + i] = s.map_a[i] >= 0 ? tx[j * nx + s.map_a[i]] : 0.0;
        break;
      case StepKind::reduce_mean:
        std::fill(ty, ty + n * m, 0.0);
        for (I j = 0; j < m; ++j)
          for (I i = 0; i < nx; ++i) ty[j * n + s.map_a[i]] += s.scalar * tx[j * nx + i];
        break;
      case StepKind::concat: {
        I offset = 0;
        for (std::size_t k = 0; k < s.inputs.size(); ++k) {
          const int in = s.inputs[k];
          const I nk = a.numel(in);
          for (I j = 0; j < m; ++j)
            for (I o = 0; o < s.outer; ++o) {
              double* dst = ty + j * n + o * (n / std::max<I>(s.outer, 1)) + offset;
              if (a.active(in)) std::memcpy(dst, a.tan(in) + j * nk + o * s.inner[k], sizeof(double) * static_cast<std::size_t>(s.inner[k]));
              else std::fill(dst, dst + s.inner[k], 0.0);
            }
          offset += s.inner[k];
        }
        break;
      }
      case StepKind::binary: {
        const int yi = s.inputs[1];
        const double* u = x;
        const double* v = a.val(yi);
        const bool va = a.active(yi);
        const I nu = nx, nv = a.numel(yi);
        const double* tu = tx;
        const double* tv = va ? a.tan(yi) : nullptr;
        if (s.binary == BinaryOp::add || s.binary == BinaryOp::sub) {
          const double sign = s.binary == BinaryOp::add ? 1.0 : -1.0;
          for (I j = 0; j < m; ++j) {
            double* t = ty + j * n;
            const double* tuj = tu ? tu + j * nu : nullptr;
            const double* tvj = tv ? tv + j * nv : nullptr;
            if (tuj) for_binary(s, n, [&](I i, I ia, I) { t[i] = tuj[ia]; });
            else std::fill(t, t + n, 0.0);
            if (tvj) for_binary(s, n, [&](I i, I, I ib) { t[i] += sign * tvj[ib]; });
          }
          break;
        }
        for (I j = 0; j < m; ++j) {
          double* t = ty + j * n;
          const double* tuj = tu ? tu + j * nu : nullptr;
          const double* tvj = tv ? tv + j * nv : nullptr;
          for_binary(s, n, [&](I i, I ia, I ib) {
            double da, db;
            binary_partials(s.binary, u[ia], v[ib], da, db);
            double sum = 0.0;
            if (tuj) sum += da * tuj[ia];
            if (tvj) sum += db * tvj[ib];
            t[i] = sum;
          });
        }
        break;
      }
      case StepKind::unary: {
        if (piecewise_linear(s.unary)) {
          for (I j = 0; j < m; ++j)
            for (I i = 0; i < n; ++i) ty[j * n + i] = piecewise_slope(s.unary, s.scalar, x[i]) * tx[j * n + i];
          break;
        }
        const double* d1 = a.scratch(s);
        for (I j = 0; j < m; ++j)
          for (I i = 0; i < n; ++i) ty[j * n + i] = d1[i] * tx[j * n + i];
        break;
      }
      case StepKind::matmul: {
        const int bi = s.inputs[1];
        const double* B = a.val(bi);
        const bool ba = a.active(bi);
        const I nb = a.numel(bi);
        if (xa && stacks_lanes(s)) {
          gemm(tx, false, s.K, B, s.trans_b, s.ldb, ty, s.N, m * s.M, s.N, s.K, s.scalar, false);
        } else {
          for (I j = 0; j < m; ++j) {
            if (xa) matmul_forward(s, tx + j * nx, B, ty + j * n, false);
            else std::fill(ty + j * n, ty + (j + 1) * n, 0.0);
          }
        }
        if (ba)
          for (I j = 0; j < m; ++j) matmul_forward(s, x, a.tan(bi) + j * nb, ty + j * n, true);
        break;
      }
      case StepKind::conv: {
        const ConvGeometry& g = s.conv;
        const int wi = s.inputs[1];
        const double* W = a.val(wi);
        const bool wa = a.active(wi);
        const I nw = a.numel(wi);
        const I B = c.values[xi].shape[0];
        for (I i = 0; i < B; ++i) {
          const double* colx = wa ? columns(g, x + i * g.in_numel(), b.col) : nullptr;
          for (I j = 0; j < m; ++j) {
            double* out = ty + j * n + i * g.out_numel();
            bool written = false;
            if (wa) {
              conv_apply(g, a.tan(wi) + j * nw, colx, out, false);
              written = true;
            }
            if (xa) {
              conv_apply(g, W, columns(g, tx + j * nx + i * g.in_numel(), b.col2), out, written);
              written = true;
            }
            if (!written) std::fill(out, out + g.out_numel(), 0.0);
          }
        }
        break;
      }
      case StepKind::normalize: normalize_tangent(s, a, x, m); break;
      case StepKind::softmax:
        for (I j = 0; j < m; ++j) {
          const double* t = tx + j * n;
          double* o = ty + j * n;
          for_rows(s, [&](I base, I stride) {
            double dot = 0.0;
            for (I l = 0; l < s.axis_length; ++l) dot += y[base + l * stride] * t[base + l * stride];
            for (I l = 0; l < s.axis_length; ++l) o[base + l * stride] = y[base + l * stride] * (t[base + l * stride] - dot);
          });
        }
        break;
      case StepKind::log_softmax:
        for (I j = 0; j < m; ++j) {
          const double* t = tx + j * n;
          double* o = ty + j * n;
          for_rows(s, [&](I base, I stride) {
            double dot = 0.0;
            for (I l = 0; l < s.axis_length; ++l) dot += std::exp(y[base + l * stride]) * t[base + l * stride];
            for (I l = 0; l < s.axis_length; ++l) o[base + l * stride] = t[base + l * stride] - dot;
          });
        }
        break;
      case StepKind::max_pool: {
        const double* arg = a.scratch(s);
        for (I j = 0; j < m; ++j)
          for (I i = 0; i < n; ++i) ty[j * n + i] = tx[j * nx + static_cast<I>(arg[i])];
        break;
      }
      case StepKind::average_pool: average_pool(s.pool, s.pool.planes * m, tx, ty); break;
    }
  }
}

void r_backward_pass(const Compiled& c, const double* theta, std::int64_t m, bool second_order, Buffers& b) {
  const Access a{c, theta, b};
  for (std::size_t v = 0; v < c.values.size(); ++v)
    if (c.values[v].active && !c.values[v].overwritten && static_cast<int>(v) != c.output)
      std::fill(b.r_adjoint[v].begin(), b.r_adjoint[v].begin() + c.values[v].numel * m, 0.0);
  for (auto it = c.steps.rbegin(); it != c.steps.rend(); ++it) {
    const Step& s = *it;
    if (!a.active(s.output)) continue;
    const I n = a.numel(s.output);
    const double* r = a.radj(s.output);
    const double* g = second_order ? a.adj(s.output) : nullptr;
    const double* y = a.out(s.output);
    const double* ty = a.tan(s.output);
    const int xi = s.inputs[0];
    const bool xa = a.active(xi);
    const I nx = a.numel(xi);
    double* rx = xa ? a.radj(xi) : nullptr;
    const double* tx = xa ? a.tan(xi) : nullptr;
    const double* x = a.val(xi);
    switch (s.kind) {
      case StepKind::copy: put(rx, r, n * m, s.overwrite); break;
      case StepKind::gather:
        for (I j = 0; j < m; ++j)
          for (I i = 0; i < n; ++i)
            if (s.map_a[i] >= 0) rx[j * nx + s.map_a[i]] += r[j * n + i];
        break;
      case StepKind::reduce_mean:
        for (I j = 0; j < m; ++j)
          for (I i = 0; i < nx; ++i) rx[j * nx + i] += s.scalar * r[j * n + s.map_a[i]];
        break;
      case StepKind::concat: {
        I total = 0;
        for (const I k : s.inner) total += k;
        I offset = 0;
        for (std::size_t k = 0; k < s.inputs.size(); ++k) {
          const int in = s.inputs[k];
          const I nk = a.numel(in);
          if (a.active(in))
            for (I j = 0; j < m; ++j)
              for (I o = 0; o < s.outer; ++o) add_to(a.radj(in) + j * nk + o * s.inner[k], r + j * n + o * total + offset, s.inner[k]);
          offset += s.inner[k];
        }
        break;
      }
      case StepKind::binary: {
        const int yi = s.inputs[1];
        const double* u = x;
        const double* v = a.val(yi);
        const bool va = a.active(yi);
        const I nu = nx, nv = a.numel(yi);
        double* ru = rx;
        double* rv = va ? a.radj(yi) : nullptr;
        const double* tu = tx;
        const double* tv = va ? a.tan(yi) : nullptr;
        // Second-order terms exist for u·v with both active and for u/v with v active (as
        // mark_product_adjoints assumes: otherwise g of this step's output is not computed for products).
        const bool second = second_order && ((s.binary == BinaryOp::mul && tu && tv) || (s.binary == BinaryOp::div && tv));
        if (s.binary == BinaryOp::add || s.binary == BinaryOp::sub) {  // linear: no second-order term
          const double sign = s.binary == BinaryOp::add ? 1.0 : -1.0;
          for (I j = 0; j < m; ++j) {
            const double* rj = r + j * n;
            double* ruj = ru ? ru + j * nu : nullptr;
            double* rvj = rv ? rv + j * nv : nullptr;
            if (ruj) for_binary(s, n, [&](I i, I ia, I) { ruj[ia] += rj[i]; });
            if (rvj) for_binary(s, n, [&](I i, I, I ib) { rvj[ib] += sign * rj[i]; });
          }
          break;
        }
        for (I j = 0; j < m; ++j) {
          const double* rj = r + j * n;
          double* ruj = ru ? ru + j * nu : nullptr;
          double* rvj = rv ? rv + j * nv : nullptr;
          const double* tuj = tu ? tu + j * nu : nullptr;
          const double* tvj = tv ? tv + j * nv : nullptr;
          for_binary(s, n, [&](I i, I ia, I ib) {
            double da, db;
            binary_partials(s.binary, u[ia], v[ib], da, db);
            const double ri = rj[i];
            double add_u = da * ri, add_v = db * ri;
            if (second) {
              const double gi = g[i];
              const double dtu = tuj ? tuj[ia] : 0.0, dtv = tvj ? tvj[ib] : 0.0;
              if (s.binary == BinaryOp::mul) {
                add_u += gi * dtv;
                add_v += gi * dtu;
              } else {  // u/v: ∂²/∂u∂v = −1/v², ∂²/∂v² = 2u/v³
                const double inv = 1.0 / v[ib], inv2 = inv * inv;
                add_u += -gi * dtv * inv2;
                add_v += gi * (-dtu * inv2 + 2.0 * u[ia] * dtv * inv2 * inv);
              }
            }
            if (ruj) ruj[ia] += add_u;
            if (rvj) rvj[ib] += add_v;
          });
        }
        break;
      }
      case StepKind::unary:
        with_overwrite(s, [&](auto write) {
          constexpr bool W = decltype(write)::value;
          if (piecewise_linear(s.unary)) {
            for (I j = 0; j < m; ++j)
              for (I i = 0; i < n; ++i) store<W>(rx[j * n + i], piecewise_slope(s.unary, s.scalar, x[i]) * r[j * n + i]);
            return;
          }
          const double* d1 = a.scratch(s);
          const double* d2 = d1 + n;
          for (I j = 0; j < m; ++j) {
            const double* rj = r + j * n;
            double* o = rx + j * n;
            if (second_order) {
              const double* t = tx + j * n;
              for (I i = 0; i < n; ++i) store<W>(o[i], d1[i] * rj[i] + d2[i] * t[i] * g[i]);
            } else {
              for (I i = 0; i < n; ++i) store<W>(o[i], d1[i] * rj[i]);
            }
          }
        });
        break;
      case StepKind::matmul: {
        const int bi = s.inputs[1];
        const double* B = a.val(bi);
        const bool ba = a.active(bi);
        const I nb = a.numel(bi);
        if (xa) {
          if (stacks_lanes(s)) gemm(r, false, s.N, B, !s.trans_b, s.ldb, rx, s.K, m * s.M, s.K, s.N, s.scalar, !s.overwrite);
          else
            for (I j = 0; j < m; ++j) matmul_backward_a(s, r + j * n, B, rx + j * nx, !s.overwrite);
          if (second_order && ba)
            for (I j = 0; j < m; ++j) matmul_backward_a(s, g, a.tan(bi) + j * nb, rx + j * nx);
        }
        if (ba) {
          double* rb = a.radj(bi);
          for (I j = 0; j < m; ++j) {
            matmul_backward_b(s, r + j * n, x, rb + j * nb);
            if (second_order && xa) matmul_backward_b(s, g, tx + j * nx, rb + j * nb);
          }
        }
        break;
      }
      case StepKind::conv: {
        const ConvGeometry& cg = s.conv;
        const int wi = s.inputs[1];
        const double* W = a.val(wi);
        const bool wa = a.active(wi);
        const I nw = a.numel(wi);
        const I B = c.values[xi].shape[0];
        for (I i = 0; i < B; ++i) {
          const double* colx = wa ? columns(cg, x + i * cg.in_numel(), b.col) : nullptr;
          const double* gy = second_order ? g + i * cg.out_numel() : nullptr;
          for (I j = 0; j < m; ++j) {
            const double* rj = r + j * n + i * cg.out_numel();
            if (wa) {
              double* rw = a.radj(wi) + j * nw;
              conv_weight_adjoint(cg, rj, colx, rw);
              if (second_order && xa) conv_weight_adjoint(cg, gy, columns(cg, tx + j * nx + i * cg.in_numel(), b.col2), rw);
            }
            if (xa) {
              const bool both = second_order && wa;
              conv_input_adjoint(cg, W, rj, both ? a.tan(wi) + j * nw : nullptr, gy, b.col2, rx + j * nx + i * cg.in_numel());
            }
          }
        }
        break;
      }
      case StepKind::normalize: normalize_r_backward(s, a, x, m, second_order, b.col2); break;
      case StepKind::softmax:
        for (I j = 0; j < m; ++j) {
          const double* rj = r + j * n;
          const double* tyj = ty + j * n;
          double* o = rx + j * n;
          for_rows(s, [&](I base, I stride) {
            double dr = 0.0, dg = 0.0, dtg = 0.0;
            for (I l = 0; l < s.axis_length; ++l) {
              const I e = base + l * stride;
              dr += y[e] * rj[e];
              if (second_order) {
                dg += y[e] * g[e];
                dtg += tyj[e] * g[e];
              }
            }
            for (I l = 0; l < s.axis_length; ++l) {
              const I e = base + l * stride;
              const double first = y[e] * (rj[e] - dr);
              if (s.overwrite) o[e] = second_order ? first + (tyj[e] * (g[e] - dg) - y[e] * dtg) : first;
              else {
                o[e] += first;
                if (second_order) o[e] += tyj[e] * (g[e] - dg) - y[e] * dtg;
              }
            }
          });
        }
        break;
      case StepKind::log_softmax:
        for (I j = 0; j < m; ++j) {
          const double* rj = r + j * n;
          const double* tyj = ty + j * n;
          double* o = rx + j * n;
          for_rows(s, [&](I base, I stride) {
            double sr = 0.0, sg = 0.0;
            for (I l = 0; l < s.axis_length; ++l) {
              sr += rj[base + l * stride];
              if (second_order) sg += g[base + l * stride];
            }
            for (I l = 0; l < s.axis_length; ++l) {
              const I e = base + l * stride;
              const double p = std::exp(y[e]);
              if (s.overwrite) o[e] = second_order ? (rj[e] - p * sr) - p * tyj[e] * sg : rj[e] - p * sr;
              else {
                o[e] += rj[e] - p * sr;
                if (second_order) o[e] -= p * tyj[e] * sg;  // ṗ = p ẏ
              }
            }
          });
        }
        break;
      case StepKind::max_pool: {
        const double* arg = a.scratch(s);
        for (I j = 0; j < m; ++j)
          for (I i = 0; i < n; ++i) rx[j * nx + static_cast<I>(arg[i])] += r[j * n + i];
        break;
      }
      case StepKind::average_pool: average_pool_adjoint(s.pool, s.pool.planes * m, r, rx); break;
    }
  }
}

}  // namespace saddlescope::models::graph::detail
