// K-FAC sites of a compiled graph and their factor sums (plan.h; the normalisation and the Fisher kinds
// are GraphObjective::kronecker_factors's, engine.cpp).
#include <Eigen/Core>
#include <map>

#include "models/graph/plan.h"

namespace saddlescope::models::graph::detail {
namespace {

using I = std::int64_t;
using ConstMap = Eigen::Map<const Eigen::MatrixXd>;

std::string layer_name(const std::string& weight) {
  const std::string suffix = ".weight";
  if (weight.size() > suffix.size() && weight.compare(weight.size() - suffix.size(), suffix.size(), suffix) == 0)
    return weight.substr(0, weight.size() - suffix.size());
  return weight;
}

const double* value_data(const Compiled& c, const Buffers& b, int v) {
  return c.values[v].kind == ValueKind::constant ? c.values[v].data : b.value[v].data();
}

}  // namespace

std::vector<KroneckerSite> kronecker_sites(const Compiled& c, std::vector<std::string>* outside) {
  std::vector<int> uses(c.values.size(), 0);
  std::vector<int> producer(c.values.size(), -1);
  for (std::size_t si = 0; si < c.steps.size(); ++si) {
    for (const int v : c.steps[si].inputs) ++uses[v];
    producer[c.steps[si].output] = static_cast<int>(si);
  }
  auto is_parameter = [&](int v) { return v >= 0 && c.values[v].kind == ValueKind::parameter; };
  // The bias added to `z` by the next broadcast Add: the parameter itself (Gemm) or the parameter
  // behind a copy (Conv's channel view), with `count` entries and no other use; −1 when there is none.
  auto bias_of = [&](int z, I count) {
    if (uses[z] != 1) return -1;
    for (const Step& s : c.steps) {
      if (s.kind != StepKind::binary || s.binary != BinaryOp::add || s.inputs[0] != z) continue;
      int v = s.inputs[1];
      if (!is_parameter(v) && producer[v] >= 0 && c.steps[producer[v]].kind == StepKind::copy && uses[v] == 1)
        v = c.steps[producer[v]].inputs[0];
      if (!is_parameter(v) || uses[v] != 1 || c.values[v].numel != count) return -1;
      return v;
    }
    return -1;
  };
  std::vector<KroneckerSite> sites;
  std::vector<bool> covered(c.values.size(), false);
  for (std::size_t si = 0; si < c.steps.size(); ++si) {
    const Step& s = c.steps[si];
    if (s.kind != StepKind::matmul && s.kind != StepKind::conv) continue;
    const int a = s.inputs[0], w = s.inputs[1];
    if (!is_parameter(w) || uses[w] != 1 || is_parameter(a)) continue;
    KroneckerSite site;
    site.step = static_cast<int>(si);
    site.input = a;
    site.output = s.output;
    const std::string name = layer_name(c.values[w].name);
    if (s.kind == StepKind::matmul) {
      // Linear as torch exports it: x [R, in] · Wᵀ with W row-major [out, in], R = B·positions.
      if (!s.trans_b || s.trans_a || s.scalar != 1.0 || s.batches.size() != 1 || s.M % c.batch != 0) continue;
      const int bias = bias_of(s.output, s.N);
      site.name = name;
      site.positions = s.M / c.batch;
      site.layout.out = s.N;
      site.layout.in = s.K;
      site.layout.weight_offset = c.values[w].offset;
      site.layout.bias_offset = bias >= 0 ? c.values[bias].offset : -1;
      site.layout.name = name;
      sites.push_back(site);
      covered[w] = true;
      if (bias >= 0) covered[bias] = true;
      continue;
    }
    const ConvGeometry& g = s.conv;
    const I out = g.channels_out / g.groups, in = g.col_rows();
    const int bias = bias_of(s.output, g.channels_out);
    site.positions = g.out_h * g.out_w;
    for (I group = 0; group < g.groups; ++group) {
      site.group = group;
      site.name = g.groups == 1 ? name : name + ".group" + std::to_string(group);
      site.layout.name = site.name;
      site.layout.out = out;
      site.layout.in = in;
      site.layout.weight_offset = c.values[w].offset + group * out * in;
      site.layout.bias_offset = bias >= 0 ? c.values[bias].offset + group * out : -1;
      sites.push_back(site);
    }
    covered[w] = true;
    if (bias >= 0) covered[bias] = true;
  }
  if (outside) {
    outside->clear();
    for (std::size_t v = 0; v < c.values.size(); ++v)
      if (c.values[v].kind == ValueKind::parameter && !covered[v]) outside->push_back(c.values[v].name);
  }
  return sites;
}

void accumulate_input_factor(const Compiled& c, const KroneckerSite& site, const Buffers& b, Matrix& A,
                             std::vector<double>& col) {
  const Step& s = c.steps[static_cast<std::size_t>(site.step)];
  const I in = site.layout.in;
  const bool bias = site.layout.has_bias();
  const double* x = value_data(c, b, site.input);
  auto add = [&](const Eigen::Ref<const Eigen::MatrixXd>& patches) {  // [in, rows]: one ã (without the 1) per column
    A.topLeftCorner(in, in).noalias() += patches * patches.transpose();
    if (!bias) return;
    const Eigen::VectorXd sum = patches.rowwise().sum();
    A.block(0, in, in, 1) += sum;
    A.block(in, 0, 1, in) += sum.transpose();
    A(in, in) += static_cast<double>(patches.cols());
  };
  if (s.kind == StepKind::matmul) {
    add(ConstMap(x, in, s.M));  // row-major [R, in] = column-major [in, R]
    return;
  }
  const ConvGeometry& g = s.conv;
  const I rows = g.channels_in * g.kernel_h * g.kernel_w, cols = g.col_cols();
  col.resize(static_cast<std::size_t>(rows * cols));
  for (I i = 0; i < c.batch; ++i) {
    conv_patches(g, x + i * g.in_numel(), col.data());
    // Group g reads input channels [g·C_in/groups, …): rows [g·in, (g + 1)·in) of the patch matrix.
    add(ConstMap(col.data(), cols, rows).transpose().middleRows(site.group * in, in));
  }
}

void accumulate_output_factor(const Compiled& c, const KroneckerSite& site, const Buffers& b, std::int64_t lanes, Matrix& G) {
  const Step& s = c.steps[static_cast<std::size_t>(site.step)];
  const I out = site.layout.out, numel = c.values[site.output].numel;
  const double* r = b.r_adjoint[site.output].data();
  for (I j = 0; j < lanes; ++j) {
    const double* lane = r + j * numel;
    if (s.kind == StepKind::matmul) {
      const ConstMap d(lane, out, s.M);  // row-major [R, out]
      G.noalias() += d * d.transpose();
      continue;
    }
    const ConvGeometry& g = s.conv;
    const I T = g.out_h * g.out_w;
    for (I i = 0; i < c.batch; ++i) {
      // Sample i's [C_out, T] row-major block = column-major [T, C_out]; the group's channels are columns.
      const auto d = ConstMap(lane + i * g.out_numel(), T, g.channels_out).middleCols(site.group * out, out);
      G.noalias() += d.transpose() * d;
    }
  }
}

}  // namespace saddlescope::models::graph::detail
