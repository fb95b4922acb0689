#include "curvature/kfac.h"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "random/random.h"

namespace saddlescope::curvature {

using objective::KroneckerLayer;

Eigen::MatrixXd gather_layer(const KroneckerLayer& layer, const Eigen::MatrixXd& V) {
  const Eigen::Index m = V.cols(), in = layer.in, total = layer.in_total();
  Eigen::MatrixXd W(layer.out, total * m);
  for (Eigen::Index j = 0; j < m; ++j) {
    // W is row-major [out, in] in the parameter vector: its transpose is a column-major [in, out] view.
    W.middleCols(j * total, in) =
        Eigen::Map<const Eigen::MatrixXd>(V.col(j).data() + layer.weight_offset, in, layer.out).transpose();
    if (layer.has_bias()) W.col(j * total + in) = V.col(j).segment(layer.bias_offset, layer.out);
  }
  return W;
}

void scatter_layer(const KroneckerLayer& layer, const Eigen::MatrixXd& W, Eigen::MatrixXd& out) {
  const Eigen::Index m = out.cols(), in = layer.in, total = layer.in_total();
  for (Eigen::Index j = 0; j < m; ++j) {
    Eigen::Map<Eigen::MatrixXd>(out.col(j).data() + layer.weight_offset, in, layer.out) =
        W.middleCols(j * total, in).transpose();
    if (layer.has_bias()) out.col(j).segment(layer.bias_offset, layer.out) = W.col(j * total + in);
  }
}

KfacOperator::KfacOperator(Eigen::Index n, std::vector<KroneckerLayer> layers, double regulariser)
    : n_(n), layers_(std::move(layers)), regulariser_(regulariser) {
  for (const auto& layer : layers_) {
    if (layer.A.rows() != layer.in_total() || layer.A.cols() != layer.in_total() || layer.G.rows() != layer.out ||
        layer.G.cols() != layer.out)
      throw std::invalid_argument("K-FAC layer '" + layer.name + "': factor shapes do not match the layer");
    const Eigen::Index last_weight = layer.weight_offset + layer.out * layer.in;
    if (layer.weight_offset < 0 || last_weight > n_ || (layer.has_bias() && layer.bias_offset + layer.out > n_))
      throw std::invalid_argument("K-FAC layer '" + layer.name + "' lies outside the " + std::to_string(n_) +
                                  " parameters");
  }
}

KfacOperator KfacOperator::at(const objective::Objective& f, const objective::Vector& x,
                              objective::KroneckerFisher which, std::uint64_t seed) {
  const auto* source = dynamic_cast<const objective::KroneckerFactored*>(&f);
  if (!source)
    throw std::invalid_argument("K-FAC needs an objective with Kronecker-factored layers; " + f.description() +
                                " has none");
  return KfacOperator(f.dim(), source->kronecker_factors(x, which, seed), source->kronecker_regulariser());
}

void KfacOperator::apply_block(const Eigen::MatrixXd& V, Eigen::MatrixXd& AV) const {
  AV = regulariser_ * V;  // λI everywhere; each layer adds (A ⊗ G)·v = vec(G W̃ A) on its entries
  for (const auto& layer : layers_) {
    const Eigen::Index m = V.cols(), total = layer.in_total();
    const Eigen::MatrixXd GW = layer.G * gather_layer(layer, V);  // [out, total·m]
    Eigen::MatrixXd W = gather_layer(layer, AV);
    for (Eigen::Index j = 0; j < m; ++j) W.middleCols(j * total, total).noalias() += GW.middleCols(j * total, total) * layer.A;
    scatter_layer(layer, W, AV);
  }
}

Eigen::VectorXd KfacOperator::layer_eigenvalues(std::size_t index) const {
  const KroneckerLayer& layer = layers_.at(index);
  const Eigen::VectorXd a = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(layer.A, Eigen::EigenvaluesOnly).eigenvalues();
  const Eigen::VectorXd g = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(layer.G, Eigen::EigenvaluesOnly).eigenvalues();
  Eigen::VectorXd out(a.size() * g.size());
  for (Eigen::Index i = 0; i < a.size(); ++i)
    for (Eigen::Index j = 0; j < g.size(); ++j) out(i * g.size() + j) = a(i) * g(j) + regulariser_;
  std::sort(out.data(), out.data() + out.size());
  return out;
}

double KfacOperator::layer_trace(std::size_t index) const {
  const KroneckerLayer& layer = layers_.at(index);
  return layer.A.trace() * layer.G.trace() + regulariser_ * static_cast<double>(layer.parameter_count());
}

Eigen::VectorXd KfacOperator::eigenvalues() const {
  std::vector<double> all;
  all.reserve(static_cast<std::size_t>(n_));
  Eigen::Index covered = 0;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Eigen::VectorXd e = layer_eigenvalues(l);
    all.insert(all.end(), e.data(), e.data() + e.size());
    covered += e.size();
  }
  all.insert(all.end(), static_cast<std::size_t>(n_ - covered), regulariser_);
  std::sort(all.begin(), all.end());
  return Eigen::Map<const Eigen::VectorXd>(all.data(), static_cast<Eigen::Index>(all.size()));
}

std::vector<objective::Objective::Block> kfac_uncovered_blocks(const std::vector<objective::Objective::Block>& blocks,
                                                               const KfacOperator& kfac) {
  std::vector<bool> covered(static_cast<std::size_t>(kfac.rows()), false);
  auto mark = [&](Eigen::Index begin, Eigen::Index size) {
    std::fill(covered.begin() + begin, covered.begin() + begin + size, true);
  };
  for (const auto& layer : kfac.layers()) {
    mark(layer.weight_offset, layer.out * layer.in);
    if (layer.has_bias()) mark(layer.bias_offset, layer.out);
  }
  std::vector<objective::Objective::Block> out;
  for (const auto& block : blocks)
    if (!std::all_of(covered.begin() + block.offset, covered.begin() + block.offset + block.size, [](bool c) { return c; }))
      out.push_back(block);
  return out;
}

double kfac_pi(const KroneckerLayer& layer) {
  const double a = layer.A.trace() / static_cast<double>(layer.A.rows());
  const double g = layer.G.trace() / static_cast<double>(layer.G.rows());
  if (!(a > 0) || !(g > 0) || !std::isfinite(a) || !std::isfinite(g)) return 1.0;
  return std::sqrt(a / g);
}

KfacDampedInverse::KfacDampedInverse(const std::vector<KroneckerLayer>& layers, double damping) : damping_(damping) {
  if (!(damping > 0) || !std::isfinite(damping))
    throw std::invalid_argument("K-FAC damping must be finite and > 0, got " + std::to_string(damping));
  const double root = std::sqrt(damping);
  for (const auto& layer : layers) {
    const double pi = kfac_pi(layer);
    Factored f;
    f.layout.name = layer.name;
    f.layout.out = layer.out;
    f.layout.in = layer.in;
    f.layout.weight_offset = layer.weight_offset;
    f.layout.bias_offset = layer.bias_offset;
    f.a.compute(layer.A + pi * root * Eigen::MatrixXd::Identity(layer.A.rows(), layer.A.cols()));
    f.g.compute(layer.G + (root / pi) * Eigen::MatrixXd::Identity(layer.G.rows(), layer.G.cols()));
    factored_ = factored_ && layer.A.allFinite() && layer.G.allFinite() && f.a.info() == Eigen::Success &&
                f.g.info() == Eigen::Success;
    layers_.push_back(std::move(f));
  }
}

void KfacDampedInverse::apply(const Eigen::MatrixXd& V, Eigen::MatrixXd& out) const {
  if (!factored_) {
    out.setConstant(V.rows(), V.cols(), std::numeric_limits<double>::quiet_NaN());
    return;
  }
  out = V / damping_;  // entries outside every layer: (γI)⁻¹
  for (const auto& f : layers_) {
    const Eigen::Index m = V.cols(), total = f.layout.in_total();
    Eigen::MatrixXd W = f.g.solve(gather_layer(f.layout, V));  // (G + ..)⁻¹ W̃ for every column block
    for (Eigen::Index j = 0; j < m; ++j) {
      // W̃ (A + ..)⁻¹ = ((A + ..)⁻¹ W̃ᵀ)ᵀ, A symmetric.
      const Eigen::MatrixXd block = W.middleCols(j * total, total).transpose();
      W.middleCols(j * total, total) = f.a.solve(block).transpose();
    }
    scatter_layer(f.layout, W, out);
  }
}

std::vector<KfacLayerComparison> compare_kfac(const SymmetricOperator& exact, const KfacOperator& kfac,
                                              const LayerTableOptions& options, Eigen::Index frobenius_probes) {
  if (exact.rows() != kfac.rows())
    throw std::invalid_argument("K-FAC comparison: the operators have " + std::to_string(exact.rows()) + " and " +
                                std::to_string(kfac.rows()) + " rows");
  if (frobenius_probes < 1) throw std::invalid_argument("'frobenius_probes' must be >= 1");
  std::vector<BlockGroup> groups;
  for (const auto& layer : kfac.layers()) {
    BlockGroup group{layer.name, {{layer.name + ".weight", layer.weight_offset, layer.out * layer.in}}};
    if (layer.has_bias()) group.blocks.push_back({layer.name + ".bias", layer.bias_offset, layer.out});
    groups.push_back(group);
  }
  const std::vector<LayerCurvature> rows = layer_table(exact, groups, options);
  std::vector<KfacLayerComparison> out;
  for (std::size_t l = 0; l < groups.size(); ++l) {
    KfacLayerComparison c;
    c.name = groups[l].name;
    c.exact = rows[l];
    c.size = rows[l].size;
    const Eigen::VectorXd e = kfac.layer_eigenvalues(l);
    c.kfac_lambda_min = e(0);
    c.kfac_lambda_max = e(e.size() - 1);
    c.kfac_trace = kfac.layer_trace(l);
    const RestrictedOperator exact_block(exact, groups[l].blocks), kfac_block(kfac, groups[l].blocks);
    if (c.size <= options.dense_threshold) {
      const Eigen::MatrixXd reference = exact_block.dense();
      c.relative_frobenius_error = (kfac_block.dense() - reference).norm() / std::max(reference.norm(), 1e-300);
      c.frobenius_exact = true;
    } else {
      random::Rng rng(options.seed, 7000 + l);
      Eigen::MatrixXd Z(c.size, frobenius_probes), EZ, KZ;
      for (Eigen::Index j = 0; j < Z.cols(); ++j)
        for (Eigen::Index i = 0; i < Z.rows(); ++i) Z(i, j) = rng.normal();
      exact_block.apply(Z, EZ);
      kfac_block.apply(Z, KZ);
      c.relative_frobenius_error = (KZ - EZ).norm() / std::max(EZ.norm(), 1e-300);
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace saddlescope::curvature
