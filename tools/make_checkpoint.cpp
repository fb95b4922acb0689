// make-checkpoint: store a test function and a point as a checkpoint that every tool reads.
#include <iostream>

#include "cli/app.h"
#include "io/checkpoint.h"
#include "objective/test_functions.h"
#include "problem/problem.h"

namespace sc = saddlescope;

int main(int argc, char** argv) {
  CLI::App app("Write a checkpoint holding a test function and a point.", "make-checkpoint");
  std::string spec, at, out;
  sc::cli::CommonOptions common;
  app.add_option("--problem", spec, "Test function spec, e.g. himmelblau or quadratic:n=50,negative=3")->required();
  app.add_option("--at", at, "Point: comma-separated coordinates (default: the function's documented start)");
  app.add_option("--out", out, "Checkpoint file to write (HDF5)")->required();
  sc::cli::add_common_options(app, common);
  return sc::cli::run_tool(app, argc, argv, [&] {
    const sc::problem::Problem problem =
        at.empty() ? [&] {
          sc::problem::Problem p;
          p.objective = sc::problem::make_objective({{"kind", "function"}, {"function", spec}}, nullptr);
          p.point = dynamic_cast<const sc::objective::TestFunction&>(*p.objective).default_start();
          return p;
        }()
                   : sc::problem::make_spec_problem(spec, at);
    sc::io::Checkpoint checkpoint;
    checkpoint.params = problem.point;
    checkpoint.spec = problem.objective->spec();
    sc::io::write_checkpoint(out, checkpoint, sc::cli::provenance("make-checkpoint", argc, argv, {}));
    if (common.json)
      sc::cli::print_json({{"checkpoint", out}, {"objective", problem.objective->description()}, {"n", problem.point.size()}});
    else
      std::cout << "make-checkpoint: wrote " << out << " (" << problem.objective->description() << ", n = "
                << problem.point.size() << ")\n";
    return sc::cli::kSuccess;
  });
}
