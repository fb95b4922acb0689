#include "rmt/integration.h"

#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "parallel/parallel.h"
#include "rmt/autocorrelation.h"

namespace saddlescope::rmt {

bool IntegrationOptions::IsValid(std::string* why) const {
  auto fail = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  if (nodes < 2 || nodes > 200) return fail("'nodes' must be in [2, 200], got " + std::to_string(nodes));
  if (sweeps < 100) return fail("'sweeps' must be >= 100, got " + std::to_string(sweeps));
  if (burn_in < 100) return fail("'burn_in' must be >= 100, got " + std::to_string(burn_in));
  if (endpoint_samples < 1000) return fail("'endpoint_samples' must be >= 1000, got " + std::to_string(endpoint_samples));
  if (!(upper_margin > 0 && std::isfinite(upper_margin)))
    return fail("'upper_margin' must be > 0 and finite, got " + std::to_string(upper_margin));
  if (repetitions < 2) return fail("'repetitions' must be >= 2, got " + std::to_string(repetitions));
  if (!(confidence > 0 && confidence < 1)) return fail("'confidence' must be in (0, 1), got " + std::to_string(confidence));
  return true;
}

namespace {

// P_n(x) and P_{n−1}(x) by the recurrence jP_j = (2j − 1)xP_{j−1} − (j − 1)P_{j−2}.
std::pair<double, double> legendre(int n, double x) {
  double p0 = 1, p1 = x;
  for (int j = 2; j <= n; ++j) {
    const double p2 = ((2 * j - 1) * x * p1 - (j - 1) * p0) / j;
    p0 = p1;
    p1 = p2;
  }
  return {p1, p0};
}

}  // namespace

void gauss_legendre(int n, std::vector<double>& nodes, std::vector<double>& weights) {
  nodes.assign(static_cast<std::size_t>(n), 0.0);
  weights.assign(static_cast<std::size_t>(n), 0.0);
  for (int i = 0; i < n; ++i) {
    // Newton on P_n(x) = 0 from Tricomi's guess cos(π(i + ¾)/(n + ½)); P_n' = n(xP_n − P_{n−1})/(x² − 1).
    double x = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5));
    for (int iteration = 0; iteration < 100; ++iteration) {
      const auto [pn, pn1] = legendre(n, x);
      const double dx = pn / (n * (x * pn - pn1) / (x * x - 1));
      x -= dx;
      if (std::abs(dx) < 1e-16) break;
    }
    const auto [pn, pn1] = legendre(n, x);
    const double derivative = n * (x * pn - pn1) / (x * x - 1);
    // The guesses descend; store ascending.
    nodes[static_cast<std::size_t>(n - 1 - i)] = x;
    weights[static_cast<std::size_t>(n - 1 - i)] = 2 / ((1 - x * x) * derivative * derivative);
  }
}

namespace {

struct Chain {
  Autocorrelation trace;
  double mean = 0;
  GasCounts counts;  // over the recorded sweeps
};

// One node's chain: the gas conditioned on λ_min > wall (integration.h). GOE: wall = −t, observable tr H₀;
// Wishart: wall = c, observable Σ_i (a/λ_i − ½) (`weight` the Laguerre weight, m = `dof`).
Chain run_chain(Eigen::Index k, double wall, const GasWeight& weight, Eigen::Index dof, const IntegrationOptions& o,
                random::Rng& rng) {
  const bool laguerre = weight.kind == GasWeight::Kind::kLaguerre;
  Eigen::VectorXd lambda = laguerre ? draw_wishart_eigenvalues(k, dof, rng) : draw_goe_eigenvalues(k, rng);
  // Start inside the region: a draw with the eigenvalues below the wall reflected above it (close to
  // the conditioned gas in width and trace; measured for the GOE: with a start lifted as a whole, 200 burn-in
  // sweeps left a bias of 0.5 standard errors at k = 10). The burn-in forgets the rest.
  for (Eigen::Index i = 0; i < k; ++i)
    if (lambda[i] <= wall) lambda[i] = wall + (wall - lambda[i]) + 1e-3 * (1 + static_cast<double>(i));
  GasSteps steps;
  steps.single = 1.0 / std::sqrt(static_cast<double>(k));  // of the order of the level spacing
  GasCounts batch;
  constexpr std::int64_t kBatch = 50;
  for (std::int64_t b = 0; b < o.burn_in; ++b) {
    gas_sweep(lambda, wall, weight, steps, rng, batch);
    if ((b + 1) % kBatch == 0 && b < o.burn_in / 2) {
      adapt_gas_steps(batch, steps);
      batch = GasCounts{};
    }
  }
  Chain out;
  std::vector<double> series(static_cast<std::size_t>(o.sweeps));
  const double half_k = 0.5 * static_cast<double>(k);
  for (std::int64_t j = 0; j < o.sweeps; ++j) {
    gas_sweep(lambda, wall, weight, steps, rng, out.counts);
    series[static_cast<std::size_t>(j)] = laguerre ? weight.power * lambda.cwiseInverse().sum() - half_k : lambda.sum();
  }
  double mean = 0;
  for (double v : series) mean += v;
  out.mean = mean / static_cast<double>(series.size());
  out.trace = integrated_autocorrelation(series);
  return out;
}

}  // namespace

namespace {

// The integration range and its Gauss–Legendre rule on [−1, 1] (none when the range is empty). GOE: t in
// [t₀, T], one endpoint item per repetition. Wishart: c in [0, c₀] through c = u², u in [0, √c₀], no
// endpoint (ln P(0) = 0 exactly).
struct Quadrature {
  double t0 = 0, T = 0;
  int n = 0;
  std::vector<double> x, w;
  bool laguerre = false;
  GasWeight weight;      // the gas's one-body factor
  Eigen::Index dof = 0;  // m, Wishart only
  int endpoint_items() const { return laguerre ? 0 : 1; }
  // The node's wall position and its weight in ∫ … d(variable), from the rule's x_i, w_i.
  double wall(std::size_t i) const {
    if (!laguerre) return -(t0 + (T - t0) * (x[i] + 1) / 2);
    const double u = std::sqrt(T) * (x[i] + 1) / 2;
    return u * u;
  }
  double position(std::size_t i) const { return laguerre ? wall(i) : t0 + (T - t0) * (x[i] + 1) / 2; }
  double node_weight(std::size_t i) const {
    if (!laguerre) return w[i] * (T - t0) / 2;
    const double u = std::sqrt(T) * (x[i] + 1) / 2;
    return w[i] * std::sqrt(T) / 2 * 2 * u;  // dc = 2u du
  }
};

// Validates (throws std::invalid_argument) and lays out the quadrature (integration.h).
Quadrature quadrature(const Ensemble& ensemble, const IntegrationOptions& o) {
  std::string why;
  if (!o.IsValid(&why)) throw std::invalid_argument(why);
  if (!integration_supported(ensemble))
    throw std::invalid_argument(ensemble.options().kind == EnsembleKind::kWishart
                                    ? "thermodynamic integration for wishart needs m >= k (wishart_dof " +
                                          std::to_string(ensemble.options().wishart_dof) + " < k = " +
                                          std::to_string(ensemble.k()) + ")"
                                    : "thermodynamic integration needs ensemble goe, goe-shift or wishart, got " +
                                          to_string(ensemble.options().kind));
  Quadrature q;
  const EnsembleOptions& e = ensemble.options();
  if (e.kind == EnsembleKind::kWishart) {
    q.laguerre = true;
    q.dof = e.wishart_dof == 0 ? ensemble.k() : static_cast<Eigen::Index>(e.wishart_dof);
    q.weight.kind = GasWeight::Kind::kLaguerre;
    q.weight.power = 0.5 * static_cast<double>(q.dof - ensemble.k() - 1);
    q.t0 = 0;
    q.T = e.shift < 0 ? -e.shift * static_cast<double>(q.dof) / e.scale : 0.0;  // c₀ = −μm/s
  } else {
    q.t0 = e.shift / e.scale;
    q.T = std::max(std::sqrt(2.0 * static_cast<double>(ensemble.k())) + o.upper_margin, q.t0);
  }
  q.n = q.T > q.t0 ? o.nodes : 0;
  if (q.n > 0) gauss_legendre(q.n, q.x, q.w);
  return q;
}

// A chain's record: [mean, variance, tau_int, window, reliable, variance_of_mean, proposed[3], accepted[3]];
// an endpoint's: [samples, hits]. Counts are exact as doubles.
constexpr std::size_t kChainRecord = 12, kEndpointRecord = 2;

void check_records(std::size_t size, std::int64_t items, const char* where) {
  if (static_cast<std::int64_t>(size) != items)
    throw std::invalid_argument(std::string(where) + ": " + std::to_string(size) + " records for " +
                                std::to_string(items) + " items");
}

}  // namespace

std::int64_t thermodynamic_integration_items(const Ensemble& ensemble, const IntegrationOptions& o) {
  const Quadrature q = quadrature(ensemble, o);
  return static_cast<std::int64_t>(o.repetitions) * (q.n + q.endpoint_items());
}

bool integration_supported(const Ensemble& ensemble) {
  if (ensemble.has_tridiagonal_model()) return true;
  const EnsembleOptions& e = ensemble.options();
  return e.kind == EnsembleKind::kWishart && (e.wishart_dof == 0 || e.wishart_dof >= ensemble.k());
}

void thermodynamic_integration_compute_items(const Ensemble& ensemble, const IntegrationOptions& o,
                                             std::uint64_t seed, std::uint64_t stream_base, std::int64_t first_item,
                                             ItemRecords records, const Progress& progress) {
  const Quadrature q = quadrature(ensemble, o);
  const Eigen::Index k = ensemble.k();
  const double T = q.T;
  const int n = q.n;
  const int R = o.repetitions;
  const std::int64_t items = static_cast<std::int64_t>(R) * (n + q.endpoint_items());
  check_records(records.size(), items, "thermodynamic_integration_compute_items");
  EnsembleOptions at_upper = ensemble.options();
  at_upper.kind = EnsembleKind::kGoeShift;
  at_upper.scale = 1.0;
  at_upper.shift = T;
  const Ensemble upper(at_upper, k);
  MonteCarloOptions endpoint_options;
  endpoint_options.samples = o.endpoint_samples;
  endpoint_options.sampler = Sampler::kTridiagonal;
  std::int64_t done = 0;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t item = 0; item < items; ++item) {
    if (!parallel::owns_item(first_item + item)) continue;  // MPI: another rank computes this item
    const parallel::ItemScope in_item;  // the endpoint's Monte Carlo blocks run whole here, not dealt out again
    std::vector<double>& record = records[static_cast<std::size_t>(item)];
    if (item < static_cast<std::int64_t>(R) * n) {
      const std::int64_t rep = item / n, node = item % n;
      random::Rng rng(seed, stream_id({stream_base, static_cast<std::uint64_t>(rep), static_cast<std::uint64_t>(node + 1)}));
      const Chain c = run_chain(k, q.wall(static_cast<std::size_t>(node)), q.weight, q.dof, o, rng);
      record = {c.mean, c.trace.variance, c.trace.tau_int, static_cast<double>(c.trace.window), c.trace.reliable ? 1.0 : 0.0,
                c.trace.variance_of_mean};
      for (int type = 0; type < 3; ++type) record.push_back(static_cast<double>(c.counts.proposed[type]));
      for (int type = 0; type < 3; ++type) record.push_back(static_cast<double>(c.counts.accepted[type]));
    } else {
      const std::int64_t rep = item - static_cast<std::int64_t>(R) * n;
      const MonteCarloResult e =
          monte_carlo(upper, endpoint_options, seed, stream_id({stream_base, static_cast<std::uint64_t>(rep), 0}));
      record = {static_cast<double>(e.samples), static_cast<double>(e.hits)};
    }
    if (progress) {
#pragma omp critical(rmt_integration_progress)
      progress(++done, items);
    }
  }
}

IntegrationResult thermodynamic_integration(const Ensemble& ensemble, const IntegrationOptions& o, std::uint64_t seed,
                                            std::uint64_t stream_base, const Progress& progress) {
  // (Repetition, node) chains and endpoints are work items: under MPI each rank computes the ones it owns,
  // share_items gives every rank every record, and the reduction runs in item order everywhere.
  std::vector<std::vector<double>> records(static_cast<std::size_t>(thermodynamic_integration_items(ensemble, o)));
  thermodynamic_integration_compute_items(ensemble, o, seed, stream_base, 0, records, progress);
  parallel::share_items(records);
  return thermodynamic_integration_from_items(ensemble, o, records);
}

IntegrationResult thermodynamic_integration_from_items(const Ensemble& ensemble, const IntegrationOptions& o,
                                                       std::span<const std::vector<double>> records) {
  const Quadrature q = quadrature(ensemble, o);
  const double t0 = q.t0, T = q.T;
  const int n = q.n;
  const int R = o.repetitions;
  check_records(records.size(), static_cast<std::int64_t>(R) * (n + q.endpoint_items()), "thermodynamic_integration_from_items");
  std::vector<Chain> chains(static_cast<std::size_t>(R * n));
  std::vector<MonteCarloResult> endpoints(static_cast<std::size_t>(R));
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::vector<double>& record = records[i];
    if (i < chains.size()) {
      if (record.size() != kChainRecord) throw std::invalid_argument("thermodynamic_integration_from_items: bad chain record");
      Chain& c = chains[i];
      c.mean = record[0];
      c.trace.variance = record[1];
      c.trace.tau_int = record[2];
      c.trace.window = static_cast<int>(record[3]);
      c.trace.reliable = record[4] != 0.0;
      c.trace.variance_of_mean = record[5];
      for (int type = 0; type < 3; ++type) {
        c.counts.proposed[type] = static_cast<std::int64_t>(record[6 + static_cast<std::size_t>(type)]);
        c.counts.accepted[type] = static_cast<std::int64_t>(record[9 + static_cast<std::size_t>(type)]);
      }
    } else {
      if (record.size() != kEndpointRecord) throw std::invalid_argument("thermodynamic_integration_from_items: bad endpoint record");
      MonteCarloResult& e = endpoints[i - chains.size()];
      e.samples = static_cast<std::int64_t>(record[0]);
      e.hits = static_cast<std::int64_t>(record[1]);
    }
  }

  IntegrationResult r;
  r.repetitions = R;
  r.lower_shift = t0;
  r.upper_shift = T;
  r.nodes.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    IntegrationNode& node = r.nodes[static_cast<std::size_t>(i)];
    node.shift = q.position(static_cast<std::size_t>(i));
    node.weight = q.node_weight(static_cast<std::size_t>(i));
  }
  double predicted_variance = 0;
  std::vector<GasCounts> node_counts(static_cast<std::size_t>(n));
  for (int rep = 0; rep < R; ++rep) {
    double log_p = 0, variance = 0;  // Wishart: ln P(0) = 0 exactly
    if (!q.laguerre) {
      const MonteCarloResult& e = endpoints[static_cast<std::size_t>(rep)];
      const auto samples = static_cast<double>(e.samples);
      double hits = static_cast<double>(e.hits);
      if (e.hits == 0) {
        r.status = IntegrationStatus::kEndpointEmpty;
        hits = 0.5;  // a continuity correction, so ln P̂(T) stays finite; flagged by the status
      }
      const double p_hat = hits / samples;
      // ln p̂ has bias −(1 − p)/(2np) to first order (delta method): added back.
      log_p = std::log(p_hat) + (1 - p_hat) / (2 * samples * p_hat);
      variance = (1 - p_hat) / (samples * p_hat);
      r.endpoint_log_p += log_p / R;
    }
    for (int i = 0; i < n; ++i) {
      const Chain& c = chains[static_cast<std::size_t>(rep * n + i)];
      IntegrationNode& node = r.nodes[static_cast<std::size_t>(i)];
      if (q.laguerre)
        log_p += node.weight * c.mean;  // ln P(c₀) = ∫_0^{c₀} E_c[Σ(a/λ − ½)] dc
      else
        log_p -= node.weight * c.mean;
      variance += node.weight * node.weight * c.trace.variance_of_mean;
      node.mean_trace += c.mean / R;
      node.trace_variance += c.trace.variance / R;
      node.tau_int += c.trace.tau_int / R;
      node.tau_int_max = std::max(node.tau_int_max, c.trace.tau_int);
      if (!c.trace.reliable && r.status == IntegrationStatus::kConverged) r.status = IntegrationStatus::kUnreliableAutocorrelation;
      for (int type = 0; type < 3; ++type) {
        node_counts[static_cast<std::size_t>(i)].proposed[type] += c.counts.proposed[type];
        node_counts[static_cast<std::size_t>(i)].accepted[type] += c.counts.accepted[type];
      }
      r.total_sweeps += o.burn_in + o.sweeps;
    }
    predicted_variance += variance / R;
    r.run_log_estimates.push_back(log_p);
  }
  for (int i = 0; i < n; ++i)
    for (int type = 0; type < 3; ++type) r.nodes[static_cast<std::size_t>(i)].acceptance[type] = node_counts[static_cast<std::size_t>(i)].rate(type);

  double mean = 0;
  for (double l : r.run_log_estimates) mean += l / R;
  double spread = 0;
  for (double l : r.run_log_estimates) spread += (l - mean) * (l - mean) / (R - 1);
  const double se = std::sqrt(spread / R);
  r.t_quantile = boost::math::quantile(boost::math::students_t_distribution<double>(R - 1), 0.5 + o.confidence / 2);
  r.relative_error = se;
  r.predicted_standard_error = std::sqrt(predicted_variance / R);
  r.log_p = mean - spread / (2.0 * R);
  r.p = std::exp(r.log_p);
  // The half-width never falls below the floating-point floor of the sums: 1e-12·(1 + |ln P̂|) is far above
  // the rounding of R·nodes double terms and far below any statistical error met (≥ 1e-3). It matters only
  // where the integrand is constant — the Wishart at m = k + 1, a = 0: Σ(a/λ − ½) = −k/2 in every state, so
  // every repetition returns −kc₀/2 up to rounding and s = 0.
  const double half_width = std::max(r.t_quantile * se, 1e-12 * (1 + std::abs(mean)));
  r.log_ci_low = mean - half_width;
  r.log_ci_high = mean + half_width;
  r.ci_low = std::exp(r.log_ci_low);
  r.ci_high = std::exp(r.log_ci_high);
  return r;
}

}  // namespace saddlescope::rmt
