#include "models/loss.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace saddlescope::models {
namespace {
double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }
}  // namespace

void check_loss_targets(Loss loss, const Eigen::MatrixXd& y, Index outputs) {
  const Index N = y.rows();
  switch (loss) {
    case Loss::mse:
      if (y.cols() != outputs)
        throw std::invalid_argument("loss 'mse' needs y with " + std::to_string(outputs) + " columns (the output width), got " +
                                    std::to_string(y.cols()));
      break;
    case Loss::cross_entropy:
      if (outputs < 2)
        throw std::invalid_argument("loss 'cross_entropy' needs an output width of at least 2, got " + std::to_string(outputs));
      if (y.cols() != 1)
        throw std::invalid_argument("loss 'cross_entropy' needs y as one column of class indices, got " +
                                    std::to_string(y.cols()) + " columns");
      for (Index i = 0; i < N; ++i) {
        const double c = y(i, 0);
        if (c != std::floor(c) || c < 0 || c >= static_cast<double>(outputs))
          throw std::invalid_argument("loss 'cross_entropy': y[" + std::to_string(i) + "] = " + std::to_string(c) +
                                      " is not a class index in [0, " + std::to_string(outputs) + ")");
      }
      break;
    case Loss::logistic:
      if (outputs != 1)
        throw std::invalid_argument("loss 'logistic' needs an output width of 1, got " + std::to_string(outputs));
      if (y.cols() != 1)
        throw std::invalid_argument("loss 'logistic' needs y as one column, got " + std::to_string(y.cols()) + " columns");
      for (Index i = 0; i < N; ++i)
        if (y(i, 0) < 0 || y(i, 0) > 1)
          throw std::invalid_argument("loss 'logistic': y[" + std::to_string(i) + "] = " + std::to_string(y(i, 0)) +
                                      " is not in [0, 1]");
      break;
  }
}

double loss_forward(Loss loss, const Eigen::Ref<const Matrix>& z, const Eigen::Ref<const Matrix>& targets,
                    Eigen::Ref<Matrix> dZ, Eigen::Ref<Matrix> aux) {
  const Index k = z.rows(), B = z.cols();
  double sum = 0.0;
  switch (loss) {
    case Loss::mse:
      dZ = z - targets;
      sum = dZ.squaredNorm() / static_cast<double>(k);
      dZ *= 2.0 / static_cast<double>(k);
      break;
    case Loss::cross_entropy:
      for (Index i = 0; i < B; ++i) {
        const double zmax = z.col(i).maxCoeff();
        aux.col(i).array() = (z.col(i).array() - zmax).exp();
        const double s = aux.col(i).sum();
        const auto c = static_cast<Index>(targets(0, i));
        sum += zmax + std::log(s) - z(c, i);
        aux.col(i) /= s;
        dZ.col(i) = aux.col(i);
        dZ(c, i) -= 1.0;
      }
      break;
    case Loss::logistic:
      for (Index i = 0; i < B; ++i) {
        const double zi = z(0, i), y = targets(0, i);
        sum += softplus(zi) - y * zi;
        aux(0, i) = sigmoid(zi);
        dZ(0, i) = aux(0, i) - y;
      }
      break;
  }
  return sum;
}

void loss_hessian_product(Loss loss, const Eigen::Ref<const Matrix>& aux, const Eigen::Ref<const Matrix>& R,
                          double scale, Eigen::Ref<Matrix> out) {
  const Index k = R.rows(), B = aux.cols();
  switch (loss) {
    case Loss::mse: out = (2.0 / static_cast<double>(k) * scale) * R; break;
    case Loss::cross_entropy:
      // ∇²ℓ = diag(p) − p pᵀ with p the softmax probabilities.
      for (Index c = 0; c < R.cols(); ++c) {
        const auto p = aux.col(c % B);
        const auto r = R.col(c);
        out.col(c) = scale * (p.cwiseProduct(r) - p * p.dot(r));
      }
      break;
    case Loss::logistic:
      for (Index c = 0; c < R.cols(); ++c) {
        const double s = aux(0, c % B);
        out(0, c) = scale * s * (1.0 - s) * R(0, c);
      }
      break;
  }
}

}  // namespace saddlescope::models

namespace saddlescope::models {

Matrix kronecker_deltas(Loss loss, objective::KroneckerFisher which, const Eigen::Ref<const Matrix>& dZ,
                        const Eigen::Ref<const Matrix>& aux, random::Rng& rng) {
  const Index k = dZ.rows(), B = dZ.cols();
  Matrix delta;
  switch (which) {
    case objective::KroneckerFisher::empirical:
      delta = dZ;
      break;
    case objective::KroneckerFisher::sampled:
      delta.resize(k, B);
      for (Index i = 0; i < B; ++i) {
        switch (loss) {
          case Loss::mse:  // ℓ = ‖z − y‖²/k is the likelihood of y ~ N(z, (k/2)I): δ = −√(2/k)·ε
            for (Index j = 0; j < k; ++j) delta(j, i) = -std::sqrt(2.0 / static_cast<double>(k)) * rng.normal();
            break;
          case Loss::cross_entropy: {  // c ~ softmax(z): δ = p − e_c
            const double u = rng.uniform();
            double cumulative = 0.0;
            Index c = k - 1;
            for (Index j = 0; j < k; ++j) {
              cumulative += aux(j, i);
              if (u < cumulative) {
                c = j;
                break;
              }
            }
            delta.col(i) = aux.col(i);
            delta(c, i) -= 1.0;
            break;
          }
          case Loss::logistic:  // y ~ Bernoulli(σ(z)): δ = σ − y
            delta(0, i) = aux(0, i) - (rng.uniform() < aux(0, i) ? 1.0 : 0.0);
            break;
        }
      }
      break;
    case objective::KroneckerFisher::exact: {
      const Index columns = loss == Loss::logistic ? 1 : k;
      delta.setZero(k, columns * B);
      for (Index c = 0; c < columns; ++c)
        for (Index i = 0; i < B; ++i) {
          auto column = delta.col(c * B + i);
          switch (loss) {
            case Loss::mse: column(c) = std::sqrt(2.0 / static_cast<double>(k)); break;
            case Loss::cross_entropy:
              column = -std::sqrt(aux(c, i)) * aux.col(i);
              column(c) += std::sqrt(aux(c, i));
              break;
            case Loss::logistic: column(0) = std::sqrt(aux(0, i) * (1.0 - aux(0, i))); break;
          }
        }
      break;
    }
  }
  return delta;
}

}  // namespace saddlescope::models
