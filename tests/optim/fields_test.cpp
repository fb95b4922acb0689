// The field tables (optim/fields.h) and the one spec-options parser (objective/spec_options.h): the
// JSON they produce keeps the layout files were written with, values round-trip, and every spec
// parser refuses the same malformed input the same way.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "models/datasets.h"
#include "objective/test_functions.h"
#include "optim/escape.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "problem/problem.h"

namespace sc = saddlescope;
using sc::optim::OptimizerConfig;
using sc::optim::OptimizerKind;

namespace {

std::set<std::string> keys(const nlohmann::json& j) {
  std::set<std::string> k;
  for (const auto& [key, value] : j.items()) k.insert(key);
  return k;
}

template <class F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

// The keys each optimizer wrote to /optimizer_state/config and the run log's /config before the field
// table (the switch in OptimizerConfig::to_json of commit aa6e207, copied here key by key): a file
// written before and one written after have the same layout.
TEST(FieldTables, OptimizerJsonKeepsItsLayout) {
  const std::map<OptimizerKind, std::set<std::string>> before = {
      {OptimizerKind::gd, {"optimizer", "lr"}},
      {OptimizerKind::sgd, {"optimizer", "lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize"}},
      {OptimizerKind::adagrad,
       {"optimizer", "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"}},
      {OptimizerKind::rmsprop, {"optimizer", "lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"}},
      {OptimizerKind::adadelta, {"optimizer", "lr", "rho", "eps", "weight_decay", "maximize"}},
      // + decoupled_weight_decay, the hyper-parameter added after the table (docs/cli.md); files without
      // it read as false, torch's default.
      {OptimizerKind::adam,
       {"optimizer", "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay"}},
      {OptimizerKind::adamw, {"optimizer", "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"}},
      {OptimizerKind::newton, {"optimizer", "lr", "damping"}},
      {OptimizerKind::saddle_free_newton,
       {"optimizer", "lr", "damping", "subspace", "krylov_dim", "krylov_inner_steps", "krylov_damping_grid"}},
      {OptimizerKind::lbfgs,
       {"optimizer", "lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size",
        "line_search_fn"}},
  };
  for (const auto& [kind, expected] : before) {
    const auto j = OptimizerConfig::defaults(kind).to_json();
    EXPECT_EQ(keys(j), expected) << sc::optim::to_string(kind);
  }
  // Special renderings kept: betas as a pair, lbfgs's max_eval as torch stores it, no line search as null.
  auto lbfgs = OptimizerConfig::defaults(OptimizerKind::lbfgs);
  lbfgs.line_search_fn.clear();
  EXPECT_EQ(lbfgs.to_json()["max_eval"], 25);  // torch: max_iter * 5 // 4 with max_iter = 20
  EXPECT_TRUE(lbfgs.to_json()["line_search_fn"].is_null());
  EXPECT_EQ(OptimizerConfig::defaults(OptimizerKind::adam).to_json()["betas"], nlohmann::json({0.9, 0.999}));
}

// from_json(to_json(c)) is c for every optimizer, with every used field set away from its default.
TEST(FieldTables, OptimizerConfigRoundTrips) {
  for (const auto& [kind, name] : sc::optim::kOptimizerNames) {
    OptimizerConfig c = OptimizerConfig::defaults(kind);
    c.lr = 0.125;
    c.momentum = 0.5;
    c.weight_decay = 0.25;
    c.beta1 = 0.8;
    c.amsgrad = true;
    c.centered = true;
    c.history_size = 7;
    c.subspace = sc::optim::SubspaceMethod::krylov;
    const auto j = c.to_json();
    EXPECT_EQ(OptimizerConfig::from_json(j).to_json(), j) << name;
  }
}

TEST(FieldTables, ValidationNamesOptimizerFieldValueAndRule) {
  auto c = OptimizerConfig::defaults(OptimizerKind::adam);
  c.beta2 = 1.0;
  std::string why;
  EXPECT_FALSE(c.IsValid(&why));
  EXPECT_EQ(why, "optimizer adam: 'betas[1]' = 1 must be in [0, 1)");
  c = OptimizerConfig::defaults(OptimizerKind::sgd);
  c.momentum = -0.5;
  EXPECT_FALSE(c.IsValid(&why));
  EXPECT_EQ(why, "optimizer sgd: 'momentum' = -0.5 must be finite and >= 0");
  EXPECT_EQ(refusal([] { OptimizerConfig::from_json({{"optimizer", "sgd"}, {"betas", {0.9, 0.99}}}); }),
            "optimizer sgd has no hyper-parameter 'betas'");
  EXPECT_EQ(refusal([] { OptimizerConfig::from_json({{"optimizer", "lbfgs"}, {"max_iter", 2.5}}); }),
            "optimizer lbfgs: 'max_iter' must be an integer, got 2.5");
}

// Flag text is parsed strictly by the field's type.
TEST(FieldTables, TextValuesAreStrict) {
  const auto& fields = sc::optim::optimizer_fields();
  auto info = [&](const std::string& name) {
    for (const auto& f : fields)
      if (f.info.name == name) return f.info;
    throw std::logic_error("no field " + name);
  };
  EXPECT_EQ(sc::optim::field_value_from_text(info("lr"), "0.5"), 0.5);
  EXPECT_EQ(sc::optim::field_value_from_text(info("history_size"), "12"), 12);
  EXPECT_EQ(sc::optim::field_value_from_text(info("betas"), "0.8,0.9"), nlohmann::json({0.8, 0.9}));
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"lr", "0.1x"}, {"lr", "nan"}, {"lr", "1e400"}, {"lr", ""}, {"history_size", "1e3"},
           {"history_size", "99999999999999999999"}, {"betas", "0.9"}, {"betas", "0.9,0.99,0.5"},
           {"betas", "0.9x,0.99y"}, {"nesterov", "yes"}, {"subspace", "sparse"}})
    EXPECT_THROW(sc::optim::field_value_from_text(info(name), text), std::invalid_argument) << name << " = " << text;
}

// Schedules: the same parser as every other spec (unknown, repeated, malformed keys refused; integers
// are integers; torch's required options required).
TEST(FieldTables, ScheduleSpecsUseTheOneParser) {
  const auto c = sc::optim::ScheduleConfig::parse("StepLR:step_size=10,gamma=0.5");
  EXPECT_EQ(c.kind, sc::optim::ScheduleKind::step);
  EXPECT_EQ(c.step_size, 10);
  EXPECT_EQ(c.gamma, 0.5);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"step:step_size=10,step_size=20", "given twice"},
      {"step:step_size=10,", "trailing ','"},
      {"cosine:T_max=1e2", "must be an integer"},
      {"cosine:T_max=10,gamma=0.5", "unknown option 'gamma'"},
      {"cosine", "needs 'T_max'"},
      {"constant:gamma=2", "takes no options"},
      {"linear:start_factor=0", "'start_factor' = 0 must be in (0, 1]"},
  };
  for (const auto& [spec, fragment] : cases) {
    const std::string why = refusal([&] { sc::optim::ScheduleConfig::parse(spec); });
    EXPECT_NE(why.find(fragment), std::string::npos) << spec << ": " << why;
  }
}

// Data specs: formerly a second parser that accepted a key twice (the last won).
TEST(FieldTables, DataSpecsUseTheOneParser) {
  EXPECT_EQ(sc::models::synthetic_data("mixture:n=30,classes=3,dim=2,seed=4").X.rows(), 30);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"mixture:n=30,n=40", "given twice"},
      {"mixture:n=30,colour=red", "unknown option 'colour'"},
      {"spirals:n=0", "option 'n' must be in [1, 1000000]"},
      {"xor:noise=0.1junk", "must be a finite number"},
      {"teacher:widths=4-x-1", "widths"},
  };
  for (const auto& [spec, fragment] : cases) {
    const std::string why = refusal([&] { sc::models::synthetic_data(spec); });
    EXPECT_NE(why.find(fragment), std::string::npos) << spec << ": " << why;
  }
}

// A checkpoint's test-function spec: keys beside "function" are the function's options, read by the
// command line's parser (issue #12: {"function": "himmelblau", "n": 10^12} loaded as Himmelblau).
TEST(FieldTables, CheckpointFunctionSpecKeysUseTheOneParser) {
  const auto f = sc::problem::make_objective({{"kind", "function"}, {"function", "rosenbrock"}, {"n", 5}}, nullptr);
  EXPECT_EQ(f->dim(), 5);
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{"kind", "function"}, {"function", "himmelblau"}, {"n", 1000000000000}}, "unknown option 'n'"},
      {{{"kind", "function"}, {"function", "rosenbrock"}, {"n", 1000000000000}}, "option 'n' must be in"},
      {{{"kind", "function"}, {"function", "rosenbrock:n=4"}, {"n", 5}}, "given twice"},
      {{{"kind", "function"}, {"function", "rosenbrock"}, {"n", {1, 2}}}, "must be a number or a string"},
  };
  for (const auto& [spec, fragment] : cases) {
    const std::string why = refusal([&] { sc::problem::make_objective(spec, nullptr); });
    EXPECT_NE(why.find(fragment), std::string::npos) << spec.dump() << ": " << why;
  }
}

// The escape settings' JSON (the run log's /config "escape") keeps its layout too.
TEST(FieldTables, EscapeJsonKeepsItsLayout) {
  sc::optim::EscapeOptions e;
  e.kind = sc::optim::EscapeKind::perturb;
  EXPECT_EQ(keys(e.to_json()), (std::set<std::string>{"escape", "epsilon", "ell", "rho", "delta", "delta_f", "c",
                                                        "radius", "g_thres", "t_thres"}));
  e.kind = sc::optim::EscapeKind::negative_curvature;
  EXPECT_EQ(keys(e.to_json()), (std::set<std::string>{"escape", "grad_threshold", "lambda_tolerance", "rho",
                                                        "probe_step", "max_step", "cooldown"}));
  EXPECT_EQ(sc::optim::EscapeOptions::from_json(e.to_json()).to_json(), e.to_json());
  e.kind = sc::optim::EscapeKind::none;
  EXPECT_EQ(keys(e.to_json()), std::set<std::string>{"escape"});
}

// torch defines AdamW as Adam(decoupled_weight_decay=True) (pytorch/pytorch PR #118857): the same
// settings give the same trajectory, bit for bit, on a function with a non-trivial gradient.
TEST(FieldTables, AdamWithDecoupledWeightDecayIsAdamW) {
  const auto f = sc::objective::make_test_function("rosenbrock:n=4");
  auto adam = OptimizerConfig::from_json(
      {{"optimizer", "adam"}, {"lr", 0.01}, {"weight_decay", 0.1}, {"decoupled_weight_decay", true}, {"amsgrad", true}});
  auto adamw = OptimizerConfig::from_json({{"optimizer", "adamw"}, {"lr", 0.01}, {"weight_decay", 0.1}, {"amsgrad", true}});
  // 50 steps of `config` from rosenbrock's start, the gradient evaluated at each iterate.
  auto run50 = [&](const OptimizerConfig& config) {
    auto optimizer = sc::optim::make_optimizer(config);
    sc::optim::Vector x = f->default_start(), g;
    for (int t = 0; t < 50; ++t) {
      sc::optim::StepInput in;
      in.lr = config.lr;
      in.loss = f->gradient(x, g);
      in.gradient = &g;
      optimizer->step(x, in);
    }
    return x;
  };
  const sc::optim::Vector x = run50(adam);
  EXPECT_EQ(x, run50(adamw));
  // The coupled default differs (weight decay enters the moments).
  adam.decoupled_weight_decay = false;
  EXPECT_NE(run50(adam), x);
  // adamw has no such switch (it is always decoupled).
  EXPECT_THROW(OptimizerConfig::from_json({{"optimizer", "adamw"}, {"decoupled_weight_decay", false}}),
               std::invalid_argument);
}
