// make-checkpoint: store a test function and a point, or a network over a data set and its initial
// parameters, as a checkpoint that every tool reads.
#include <filesystem>
#include <iostream>

#include "cli/app.h"
#include "cli/file_flags.h"
#include "io/checkpoint.h"
#include "io/json_text.h"
#include "models/datasets.h"
#include "models/spec.h"
#include "objective/test_functions.h"
#include "problem/problem.h"

namespace sc = saddlescope;

int main(int argc, char** argv) {
  CLI::App app("Write a checkpoint holding a test function and a point, or a network model, its data and its "
               "initial parameters.",
               "make-checkpoint");
  std::string spec, at, out, model, data, init = "xavier";
  double init_sigma = 0.1;
  bool embed = false;
  sc::cli::CommonOptions common;
  auto* problem_opt =
      app.add_option("--problem", spec, "Test function spec, e.g. himmelblau or quadratic:n=50,negative=3");
  app.add_option("--at", at, "Point: comma-separated coordinates (default: the function's documented start)");
  auto* model_opt = app.add_option("--model", model,
                                   "Network spec as JSON, e.g. '{\"kind\":\"mlp\",\"widths\":[4,16,3],"
                                   "\"activation\":\"tanh\",\"loss\":\"cross_entropy\"}' (see docs/models.md)");
  app.add_option("--data", data,
                 "With --model: a synthetic data spec (teacher:..., mixture:..., spirals:..., xor:...), embedded; or "
                 "FILE.h5:GROUP naming a data file, referenced by a path relative to the checkpoint");
  app.add_flag("--embed-data", embed, "Copy a data file's arrays into the checkpoint instead of referencing it");
  app.add_option("--init", init, "With --model: initialisation (xavier, he, normal, zeros), drawn from --seed");
  app.add_option("--init-sigma", init_sigma, "Standard deviation for --init normal")->check(CLI::PositiveNumber);
  app.add_option("--out", out, "Checkpoint file to write (HDF5)")->required();
  problem_opt->excludes(model_opt);
  sc::cli::add_common_options(app, common);
  return sc::cli::run_tool(app, argc, argv, [&] {
    sc::cli::check_file_flags({}, {{"--out", out}});
    sc::io::Checkpoint checkpoint;
    std::string description;
    nlohmann::json seeds = nlohmann::json::object();
    if (!model.empty()) {
      std::string why;
      const nlohmann::json model_spec = sc::io::parse_json_bounded(model, &why);
      if (model_spec.is_discarded()) throw std::invalid_argument("--model: " + why);
      if (data.empty()) throw std::invalid_argument("--model needs --data");
      // Spec errors name the flag they came from (one line naming the problem and the flag).
      const sc::models::NetworkOptions options = [&] {
        try {
          return sc::models::network_options_from_spec(model_spec);
        } catch (const std::invalid_argument& e) {
          throw std::invalid_argument(std::string("--model: ") + e.what());
        }
      }();
      const sc::models::Init init_kind = [&] {
        try {
          return sc::models::kInitNames.parse(init);
        } catch (const std::invalid_argument& e) {
          throw std::invalid_argument(std::string("--init: ") + e.what());
        }
      }();
      sc::io::DataArrays arrays;
      if (sc::models::is_synthetic_data_spec(data)) {
        arrays = sc::models::synthetic_data(data);
        checkpoint.data = arrays;
      } else {
        const std::size_t colon = data.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == data.size())
          throw std::invalid_argument("--data: '" + data + "' is neither a synthetic spec nor FILE.h5:GROUP");
        const std::string file = data.substr(0, colon), group = data.substr(colon + 1);
        sc::cli::check_file_flags({{"--data", file}}, {{"--out", out}});
        arrays = sc::io::read_data_file(file, group);
        if (embed) {
          checkpoint.data = arrays;
        } else {
          std::filesystem::path folder = std::filesystem::absolute(out).parent_path();
          checkpoint.data_file = std::filesystem::relative(std::filesystem::absolute(file), folder).string();
          checkpoint.data_group = group;
        }
      }
      const sc::models::Network network(options, std::move(arrays));  // validates the data against the spec
      checkpoint.params = sc::models::initial_parameters(options, init_kind, common.seed, init_sigma);
      checkpoint.spec = network.spec();
      description = network.description();
      seeds["init"] = common.seed;
    } else {
      if (spec.empty()) throw std::invalid_argument("give --problem SPEC or --model JSON --data SOURCE");
      const sc::problem::Problem problem = sc::problem::make_spec_problem(spec, at.empty() ? "start" : at);
      checkpoint.params = problem.point;
      checkpoint.spec = problem.objective->spec();
      description = problem.objective->description();
    }
    if (sc::cli::writes_files())  // under mpirun: rank 0 only
      sc::io::write_checkpoint(out, checkpoint, sc::cli::provenance("make-checkpoint", argc, argv, seeds));
    if (common.json)
      sc::cli::print_json({{"checkpoint", out}, {"objective", description}, {"n", checkpoint.params.size()}});
    else
      std::cout << "make-checkpoint: wrote " << out << " (" << description << ", n = " << checkpoint.params.size()
                << ")\n";
    return sc::cli::kSuccess;
  });
}
