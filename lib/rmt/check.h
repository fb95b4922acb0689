#pragma once
// The rmt-check computation: for each k, P(all eigenvalues > 0) by plain Monte Carlo (with the index
// distribution) and/or subset simulation, the exact value where one is known, the ratio to 0.5^k, and
// fits of ln P_k against k (the 0.5^k picture: slope ln ½) and against k² (Dean & Majumdar, PRL 97
// 160201 (2006): ln P_k ≈ −θk², θ = ln 3/4 for the GOE). Its renderings are report/rmt_check.h.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rmt/ensemble.h"
#include "rmt/exact.h"
#include "rmt/integration.h"
#include "rmt/montecarlo.h"
#include "rmt/splitting.h"
#include "text/names.h"

namespace saddlescope::rmt {

// kAuto: plain Monte Carlo with the sample budget, then, when it saw fewer than `min_hits` hits, a
// rare-event estimate too — thermodynamic integration for goe/goe-shift and wishart with m ≥ k
// (rmt/integration.h), subset simulation for the other ensembles (the estimate reported is then the rare-event one; both are kept).
enum class Method { kAuto, kMonteCarlo, kSplitting, kIntegration };
inline constexpr auto kMethodNames = text::make_name_table<Method>(
    "method", {{Method::kAuto, "auto"}, {Method::kMonteCarlo, "mc"}, {Method::kSplitting, "splitting"},
               {Method::kIntegration, "integration"}});
inline std::string to_string(Method method) { return std::string(kMethodNames.name(method)); }


struct CheckOptions {
  EnsembleOptions ensemble;
  std::vector<int> ks = {1, 2, 3, 4, 5};
  Method method = Method::kAuto;
  MonteCarloOptions monte_carlo;
  SplittingOptions splitting;
  IntegrationOptions integration;
  std::int64_t min_hits = 100;  // auto: fewer plain hits than this ⇒ also subset simulation; ≥ 1
  bool exact = true;            // compute exact values where known (goe at any shift; diagonal; wishart)
  bool IsValid(std::string* why) const;
};

struct KResult {
  int k = 0;
  Method method_used = Method::kMonteCarlo;  // which estimator `p` comes from
  double p = 0, ci_low = 0, ci_high = 0, log_p = 0;
  double log_ci_low = 0, log_ci_high = 0;    // ln of the interval ends: finite where ci_low/ci_high underflow
  double relative_error = 0;                 // of p (MC: binomial √((1−p)/(n p)); splitting: measured)
  double half_power = 0;                     // 0.5^k
  bool has_monte_carlo = false;
  MonteCarloResult monte_carlo;
  double monte_carlo_seconds = 0;
  bool has_splitting = false;
  SplittingResult splitting;
  double splitting_seconds = 0;
  bool has_integration = false;
  IntegrationResult integration;
  double integration_seconds = 0;
  ExactValue exact;                          // available = false when unknown
  // Theory for the index (number of negative eigenvalues), NaN where none applies. goe/goe-shift at any
  // shift, k ≤ kMaxExactIndexK: the exact finite-k mean and variance from the Pfaffian generating function
  // (rmt/exact.h); beyond that only the leading asymptotic variance ln k/π² (Majumdar, Nadal, Scardicchio
  // & Vivo, PRL 103 220603 (2009), β = 1) and the mean k/2 at shift 0. diagonal: Binomial(k, Φ(−μ/s)).
  // `index_theory` names which ("exact", "binomial", "asymptotic-leading", "none").
  double index_mean_theory = 0, index_variance_theory = 0;
  std::string index_theory = "none";
};

struct Fit {
  bool available = false;  // needs ≥ 3 values of k with finite ln P and an error bar (quadratic)
  int points = 0;
  // ln P = a + b k + c k²: θ = −c, with its standard error from the weighted least squares.
  double theta = 0, theta_se = 0, quadratic_b = 0, quadratic_a = 0;
  // ln P = a + s k: s is ln ½ ≈ −0.693 under the independent-signs picture.
  double linear_slope = 0, linear_slope_se = 0, linear_a = 0;
  double theta_exact = 0;  // the same quadratic fit to the exact values of the same k, when all known
  bool has_theta_exact = false;
  double theta_theory = 0;  // ln 3/4 for goe; NaN otherwise
};

struct CheckResult {
  std::string ensemble_description;
  std::vector<KResult> results;
  Fit fit;
  double seconds = 0;
};

// (stage text, done, total) after each unit of work; may be empty.
using CheckProgress = std::function<void(const std::string&, std::int64_t, std::int64_t)>;

// `index_theory` false skips the exact index moments (the calibration's repeated runs do not show them).
CheckResult run_check(const CheckOptions& options, std::uint64_t seed, const CheckProgress& progress = {},
                      bool index_theory = true);

// The exact P(all eigenvalues > 0) where one is known: goe/goe-shift at any shift with |μ/s| ≤
// kMaxExactShift (rmt/exact.h), diagonal Φ(μ/s)^k, wishart 1 (m ≥ k, μ ≥ 0), de Bruijn's Laguerre Pfaffian
// (m ≥ k, μ < 0, rmt/exact_wishart.h) or 0 (m < k, μ ≤ 0), hessian
// of a two-level quadratic (rmt/exact_jacobi.h).
ExactValue exact_value(const EnsembleOptions& ensemble, int k);

}  // namespace saddlescope::rmt
