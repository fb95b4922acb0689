// Parity with torch.optim 1.13 (float64). The references are torch's own trajectories, produced by
// tools/make_torch_references.py and committed under data/torch_references/ with the torch version.
//
// Tolerance 1e-12 relative (max-norm of the parameter difference over the max-norm of torch's
// parameters): the acceptance bound. Feeding torch's recorded gradients isolates the optimizer
// arithmetic, which follows torch's operation order, so differences are a few ulps (≈1e-16) at most;
// with our own gradients the rounding of a differently ordered gradient formula (≈1 ulp per
// component per step) enters too, and 40 steps on Rosenbrock keep it well below 1e-12.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "objective/test_functions.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace sc = saddlescope;
using sc::optim::Vector;

namespace {

std::filesystem::path reference_dir() {
  return std::filesystem::path(SADDLESCOPE_SOURCE_DIR) / "data" / "torch_references";
}

nlohmann::json load(const std::string& name) {
  std::ifstream in(reference_dir() / (name + ".json"));
  EXPECT_TRUE(in.good()) << "missing reference " << name;
  return nlohmann::json::parse(in);
}

Vector to_vector(const nlohmann::json& a) {
  Vector v(static_cast<Eigen::Index>(a.size()));
  for (std::size_t i = 0; i < a.size(); ++i) v(static_cast<Eigen::Index>(i)) = a[i].get<double>();
  return v;
}

double relative_error(const Vector& ours, const Vector& theirs) {
  return (ours - theirs).cwiseAbs().maxCoeff() / std::max(theirs.cwiseAbs().maxCoeff(), 1e-300);
}

std::vector<std::string> cases(const std::string& kind) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(reference_dir())) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const auto j = nlohmann::json::parse(in);
    if (j.at("kind") == kind) names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Runs one optimizer case; with torch_gradients the recorded gradients and learning rates are fed.
double worst_error(const nlohmann::json& ref, bool torch_gradients) {
  const auto config = sc::optim::OptimizerConfig::from_json(ref.at("config"));
  auto optimizer = sc::optim::make_optimizer(config);
  std::optional<sc::optim::Schedule> schedule;
  if (ref.contains("schedule"))
    schedule.emplace(config.lr, sc::optim::SchedulePlan::from_json(ref.at("schedule")));
  const auto f = sc::objective::make_test_function(ref.at("problem").get<std::string>());
  Vector x = to_vector(ref.at("start"));
  double worst = 0.0;
  for (std::size_t t = 0; t < ref.at("params").size(); ++t) {
    Vector g;
    double loss;
    const double lr = schedule ? schedule->lr() : config.lr;
    EXPECT_EQ(lr, ref.at("lr")[t].get<double>()) << "learning rate at step " << t;
    if (torch_gradients) {
      g = to_vector(ref.at("grad")[t]);
      loss = ref.at("loss")[t].get<double>();
    } else {
      loss = f->gradient(x, g);
    }
    sc::optim::StepInput in;
    in.objective = f.get();
    in.loss = loss;
    in.gradient = &g;
    in.lr = lr;
    optimizer->step(x, in);
    if (schedule) schedule->step();
    worst = std::max(worst, relative_error(x, to_vector(ref.at("params")[t])));
  }
  return worst;
}

}  // namespace

TEST(TorchParity, ReferencesCoverEveryTorchNamedOptimizer) {
  std::set<std::string> seen;
  for (const auto& name : cases("optimizer")) seen.insert(load(name).at("config").at("optimizer").get<std::string>());
  for (const auto& name : cases("lbfgs")) seen.insert(load(name).at("config").at("optimizer").get<std::string>());
  for (const char* expected : {"sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "lbfgs"})
    EXPECT_TRUE(seen.count(expected)) << expected;
  EXPECT_GE(cases("schedule").size(), 6u);
}

TEST(TorchParity, OptimizerArithmeticWithTorchGradients) {
  for (const auto& name : cases("optimizer")) {
    SCOPED_TRACE(name);
    const auto ref = load(name);
    EXPECT_LE(worst_error(ref, true), 1e-12);
  }
}

TEST(TorchParity, OptimizerTrajectoryWithOwnGradients) {
  for (const auto& name : cases("optimizer")) {
    SCOPED_TRACE(name);
    const auto ref = load(name);
    EXPECT_LE(worst_error(ref, false), 1e-12);
  }
}

// torch.optim.LBFGS makes its own evaluations (line search), so only our gradients can be used.
TEST(TorchParity, LbfgsTrajectory) {
  for (const auto& name : cases("lbfgs")) {
    SCOPED_TRACE(name);
    const auto ref = load(name);
    const auto config = sc::optim::OptimizerConfig::from_json(ref.at("config"));
    auto optimizer = sc::optim::make_optimizer(config);
    const auto f = sc::objective::make_test_function(ref.at("problem").get<std::string>());
    Vector x = to_vector(ref.at("start"));
    for (std::size_t t = 0; t < ref.at("params").size(); ++t) {
      Vector g;
      const double loss = f->gradient(x, g);
      // Relative for losses above 1, absolute below: near the minimum the loss is a sum of squared
      // residuals that are differences of O(1) numbers, so its rounding is absolute, not relative.
      const double expected_loss = ref.at("loss")[t].get<double>();
      EXPECT_NEAR(loss, expected_loss, 1e-12 * std::max(std::abs(expected_loss), 1.0));
      sc::optim::StepInput in{f.get(), loss, &g, config.lr};
      optimizer->step(x, in);
      EXPECT_LE(relative_error(x, to_vector(ref.at("params")[t])), 1e-12) << "outer step " << t;
    }
  }
}

TEST(TorchParity, Schedules) {
  for (const auto& name : cases("schedule")) {
    SCOPED_TRACE(name);
    const auto ref = load(name);
    sc::optim::Schedule schedule(ref.at("base_lr").get<double>(), sc::optim::SchedulePlan::from_json(ref.at("plan")));
    for (std::size_t t = 0; t < ref.at("lr").size(); ++t) {
      const double expected = ref.at("lr")[t].get<double>();
      EXPECT_NEAR(schedule.lr(), expected, 1e-12 * std::abs(expected)) << "step " << t;
      schedule.step();
    }
  }
}

TEST(TorchParity, DefaultsAreTorchs) {
  using K = sc::optim::OptimizerKind;
  // torch 1.13 constructor defaults (torch/optim/*.py signatures).
  EXPECT_EQ(sc::optim::OptimizerConfig::defaults(K::adagrad).eps, 1e-10);
  EXPECT_EQ(sc::optim::OptimizerConfig::defaults(K::adadelta).lr, 1.0);
  EXPECT_EQ(sc::optim::OptimizerConfig::defaults(K::adadelta).eps, 1e-6);
  EXPECT_EQ(sc::optim::OptimizerConfig::defaults(K::adamw).weight_decay, 1e-2);
  EXPECT_EQ(sc::optim::OptimizerConfig::defaults(K::rmsprop).alpha, 0.99);
  EXPECT_EQ(sc::optim::OptimizerConfig::defaults(K::lbfgs).max_iter, 20);
}

TEST(TorchParity, InvalidSettingsNameTheField) {
  auto c = sc::optim::OptimizerConfig::defaults(sc::optim::OptimizerKind::sgd);
  c.nesterov = true;
  std::string why;
  EXPECT_FALSE(c.IsValid(&why));
  EXPECT_NE(why.find("nesterov"), std::string::npos);
  EXPECT_THROW(sc::optim::OptimizerConfig::from_json({{"optimizer", "adam"}, {"momentum", 0.9}}),
               std::invalid_argument);
  EXPECT_THROW(sc::optim::ScheduleConfig::parse("cosine"), std::invalid_argument);  // T_max required
  EXPECT_THROW(sc::optim::ScheduleConfig::parse("cosine_warm_restarts:T_0=3,T_mult=1.5"), std::invalid_argument);
}
