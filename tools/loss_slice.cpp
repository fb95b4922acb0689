// loss-slice: 1-D and 2-D slices of the loss around a point (random filter-normalised directions, Hessian
// eigenvectors, or the segment between two checkpoints), written to a resumable HDF5 file.
#include <filesystem>
#include <iostream>

#include "cli/app.h"
#include "explore/slice.h"
#include "explore/slice_file.h"
#include "io/error.h"
#include "io/hdf5.h"
#include "io/provenance.h"
#include "problem/problem.h"
#include "text/format.h"

namespace sc = saddlescope;

namespace {

struct Options {
  std::string checkpoint, to;
  std::string problem, at, to_at;
  std::string directions = "random";
  std::string grid;
  std::string range;
  std::string normalization = "auto";
  std::string method = "auto";
  std::string out;
  int dims = 1;
  bool keep_1d = false;
  bool curvature = false;
  bool resume = false;
  long max_points = -1;
  long chunk = 64;
  sc::cli::CommonOptions common;
};

void setup(CLI::App& app, Options& o) {
  app.add_option("checkpoint", o.checkpoint, "Checkpoint file (HDF5): the centre of the slice (theta_A for interpolate)");
  app.add_option("--to", o.to, "Second checkpoint (theta_B) for --directions interpolate");
  auto* problem = app.add_option("--problem", o.problem, "Test function spec instead of a checkpoint, e.g. himmelblau");
  auto* at = app.add_option("--at", o.at, "Centre for --problem: comma-separated coordinates");
  app.add_option("--to-at", o.to_at, "Second point for --problem with --directions interpolate");
  problem->needs(at);
  at->needs(problem);
  problem->excludes(app.get_option("checkpoint"));
  app.add_option("--directions", o.directions,
                 "random (filter-normalised), top / bottom (Hessian eigenvectors of the largest / smallest "
                 "eigenvalues), extreme (bottom and top, 2-D), interpolate (theta_A to theta_B, plus a random "
                 "direction in 2-D)")
      ->check(CLI::IsMember(sc::explore::kSliceDirectionNames.names()))
      ->capture_default_str();
  app.add_option("--dims", o.dims, "1 or 2")->check(CLI::IsMember({1, 2}))->capture_default_str();
  app.add_option("--grid", o.grid, "Grid points n1 (1-D) or n1,n2 (2-D); default 21 per axis");
  app.add_option("--range", o.range,
                 "lo,hi (1-D) or lo1,hi1,lo2,hi2 (2-D); default -1,1 per axis (0,1 for alpha with interpolate)");
  app.add_option("--normalization", o.normalization,
                 "Random directions: filter (Li et al. 2018), none, or auto (filter for networks, none for test "
                 "functions)")
      ->check(CLI::IsMember({"auto", "filter", "none"}))
      ->capture_default_str();
  app.add_flag("--keep-1d", o.keep_1d,
               "Filter normalisation: normalise biases / 1-D blocks as one filter instead of zeroing them");
  app.add_flag("--curvature", o.curvature, "Also lambda_min and lambda_max at every grid point");
  app.add_option("--method", o.method, "--curvature and eigenvector directions: dense, lanczos or auto")
      ->check(CLI::IsMember(sc::curvature::kMethodNames.names()))
      ->capture_default_str();
  app.add_option("--out", o.out, "Result file (HDF5), written in place and flushed every --chunk points");
  app.add_flag("--resume", o.resume,
               "Reopen --out and compute only the missing grid points (its settings must match this run's)");
  app.add_option("--max-points", o.max_points, "Compute at most this many new points in this run (-1: all)")
      ->check(CLI::Range(-1L, 1000000000L))
      ->capture_default_str();
  app.add_option("--chunk", o.chunk, "Points between flushes of the file")
      ->check(CLI::Range(1L, 1000000000L))
      ->capture_default_str();
  sc::cli::add_common_options(app, o.common);
}

std::vector<double> parse_list(const std::string& text, std::size_t count, const std::string& flag) {
  const sc::objective::Vector v = sc::problem::parse_point(text, static_cast<sc::objective::Index>(count), flag);
  return std::vector<double>(v.data(), v.data() + v.size());
}

nlohmann::json grid_json(const sc::objective::Vector& values, sc::objective::Index n1, int dims) {
  if (dims == 1) return std::vector<double>(values.data(), values.data() + values.size());
  nlohmann::json rows = nlohmann::json::array();
  const auto n2 = values.size() / n1;
  for (sc::objective::Index i = 0; i < n1; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (sc::objective::Index j = 0; j < n2; ++j) {
      const double v = values(i * n2 + j);
      row.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
    }
    rows.push_back(row);
  }
  return rows;
}

int run(const Options& o, int argc, char** argv) {
  if (o.checkpoint.empty() && o.problem.empty())
    throw std::invalid_argument("give a checkpoint file, or --problem SPEC --at x1,x2,...");
  if (o.resume && o.out.empty()) throw std::invalid_argument("--resume needs --out FILE");
  sc::cli::apply_threads(1);  // parallel over grid points; Eigen single-threaded inside each
  sc::explore::SliceOptions s;
  s.directions = sc::explore::kSliceDirectionNames.parse(o.directions);
  s.dims = o.dims;
  const bool interpolate = s.directions == sc::explore::SliceDirections::interpolate;
  if (interpolate && o.to.empty() && o.to_at.empty())
    throw std::invalid_argument("--directions interpolate needs --to CHECKPOINT (or --to-at x with --problem)");
  if (!interpolate && !(o.to.empty() && o.to_at.empty()))
    throw std::invalid_argument("--to / --to-at are only used with --directions interpolate");
  if (!o.to.empty() && !o.problem.empty()) throw std::invalid_argument("--to needs a checkpoint; with --problem use --to-at");
  if (!o.to_at.empty() && o.problem.empty()) throw std::invalid_argument("--to-at needs --problem; with a checkpoint use --to");
  if (!o.grid.empty()) {
    const auto g = parse_list(o.grid, static_cast<std::size_t>(o.dims), "--grid");
    for (double v : g)
      if (v < 1 || v != std::floor(v) || v > 1e8)
        throw std::invalid_argument("--grid: sizes must be integers in [1, 1e8], got '" + o.grid + "'");
    s.points1 = static_cast<long>(g[0]);
    if (o.dims == 2) s.points2 = static_cast<long>(g[1]);
  }
  if (!o.range.empty()) {
    const auto r = parse_list(o.range, 2 * static_cast<std::size_t>(o.dims), "--range");
    s.lo1 = r[0];
    s.hi1 = r[1];
    if (o.dims == 2) {
      s.lo2 = r[2];
      s.hi2 = r[3];
    }
  } else if (interpolate) {
    s.lo1 = 0.0;
    s.hi1 = 1.0;
  }
  s.zero_one_dimensional = !o.keep_1d;
  s.seed = o.common.seed;
  s.curvature = o.curvature;
  s.classify.method = sc::curvature::kMethodNames.parse(o.method);
  s.classify.lanczos.seed = o.common.seed;
  s.classify.density.seed = o.common.seed;
  s.classify.density.probes = 0;  // λ_min / λ_max only
  s.eigen.seed = o.common.seed;
  std::string why;
  if (!s.IsValid(&why)) throw std::invalid_argument(why);

  // The objective and the point(s).
  sc::explore::ObjectiveFactory factory;
  std::unique_ptr<sc::objective::Objective> f;
  sc::objective::Vector center, other;
  std::string source, input_path;
  nlohmann::json settings;
  if (!o.problem.empty()) {
    sc::problem::Problem p = sc::problem::make_spec_problem(o.problem, o.at);
    center = p.point;
    if (interpolate) other = sc::problem::parse_point(o.to_at, p.objective->dim(), "--to-at");
    const nlohmann::json spec = p.objective->spec();
    factory = [spec] { return sc::problem::make_objective(spec, nullptr); };
    f = std::move(p.objective);
    source = p.source;
    settings["at"] = std::vector<double>(center.data(), center.data() + center.size());
    if (interpolate) settings["to_at"] = std::vector<double>(other.data(), other.data() + other.size());
  } else {
    sc::problem::Problem p = sc::problem::load_checkpoint_problem(o.checkpoint);
    center = p.point;
    if (interpolate) {
      sc::problem::Problem q = sc::problem::load_checkpoint_problem(o.to);
      if (q.objective->spec() != p.objective->spec())
        throw sc::io::FileError(o.to, "its objective differs from " + o.checkpoint + "'s: " + q.objective->spec().dump());
      other = q.point;
      settings["to_sha256"] = sc::io::sha256_file(o.to);
    }
    // Workers build their objectives from a copy in memory: no file is read once threads run.
    factory = sc::problem::checkpoint_objective_factory(o.checkpoint);
    f = std::move(p.objective);
    source = p.source;
    input_path = p.input_path;
    settings["input_sha256"] = sc::io::sha256_file(o.checkpoint);
  }
  const bool network = f->parameter_blocks().size() > 1 || f->parameter_blocks().front().name != "x";
  s.normalization = o.normalization == "auto" ? (network ? sc::explore::Normalization::filter
                                                         : sc::explore::Normalization::none)
                                              : sc::explore::kNormalizationNames.parse(o.normalization);
  settings["objective"] = f->spec();
  settings["directions"] = o.directions;
  settings["dims"] = o.dims;
  settings["grid"] = o.dims == 2 ? nlohmann::json({s.points1, s.points2}) : nlohmann::json({s.points1});
  settings["range"] = o.dims == 2 ? nlohmann::json({s.lo1, s.hi1, s.lo2, s.hi2}) : nlohmann::json({s.lo1, s.hi1});
  settings["normalization"] = std::string(sc::explore::to_string(s.normalization));
  settings["zero_one_dimensional"] = s.zero_one_dimensional;
  settings["seed"] = o.common.seed;
  settings["curvature"] = o.curvature;
  settings["method"] = o.method;

  sc::explore::SlicePlan plan;
  sc::explore::SliceValues values;
  sc::io::h5::Handle file;
  const bool resuming = o.resume && std::filesystem::exists(o.out);
  if (resuming) {
    plan.interpolate = interpolate;
    file = sc::explore::open_slice_file(o.out, settings, f->dim(), s, plan, values);
    sc::io::h5::write_attribute(file.get(), "resumed_command_line", sc::io::shell_join(argc, argv));
  } else {
    plan = sc::explore::make_slice_plan(*f, center, interpolate ? &other : nullptr, s);
    values.resize(plan.size(), s.curvature);
    if (!o.out.empty()) {
      const auto provenance = sc::cli::provenance("loss-slice", argc, argv, {{"seed", o.common.seed}});
      file = sc::explore::create_slice_file(o.out, provenance, input_path, settings, plan, s, values);
    }
  }
  const auto done_before = values.done_count();

  nlohmann::json summary = {{"objective", f->description()}, {"source", source}, {"n", f->dim()},
                            {"settings", settings}};
  auto update_summary = [&] {
    summary["points_total"] = plan.size();
    summary["points_done"] = values.done_count();
    summary["status"] = values.done_count() == plan.size() ? "complete" : "incomplete";
  };
  auto flush = [&] {
    if (!file.valid()) return;
    update_summary();
    try {
      sc::explore::write_slice_values(file.get(), values, summary);
    } catch (const sc::io::h5::Hdf5Error& e) {
      throw sc::io::FileError(o.out, std::string("cannot be written: ") + e.what());
    }
  };
  const auto computed = sc::explore::evaluate_slice(factory, plan, s, o.common.threads, o.max_points, o.chunk, values, flush);
  flush();
  update_summary();
  summary["points_computed_now"] = computed;
  summary["points_done_before"] = done_before;
  if (plan.eigenvalues.size() > 0)
    summary["direction_eigenvalues"] = std::vector<double>(plan.eigenvalues.data(), plan.eigenvalues.data() + plan.eigenvalues.size());
  summary["alpha"] = std::vector<double>(plan.alpha.data(), plan.alpha.data() + plan.alpha.size());
  if (o.dims == 2) summary["beta"] = std::vector<double>(plan.beta.data(), plan.beta.data() + plan.beta.size());
  summary["loss"] = grid_json(values.loss, plan.alpha.size(), o.dims);
  if (o.curvature) {
    summary["lambda_min"] = grid_json(values.lambda_min, plan.alpha.size(), o.dims);
    summary["lambda_max"] = grid_json(values.lambda_max, plan.alpha.size(), o.dims);
  }
  file.reset();

  if (o.common.json) {
    sc::cli::print_json(summary);
  } else {
    std::cout << "loss-slice: " << f->description() << " (n = " << f->dim() << ") from " << source << "\n"
              << "  directions            " << o.directions << " (" << o.dims << "-D, normalization "
              << sc::explore::to_string(s.normalization) << ")\n"
              << "  grid                  " << plan.alpha.size();
    if (o.dims == 2) std::cout << " x " << plan.beta.size();
    std::cout << " = " << plan.size() << " points; " << computed << " computed now, " << values.done_count()
              << " done in all (" << summary["status"].get<std::string>() << ")\n";
    double lo = INFINITY, hi = -INFINITY;
    for (auto k = 0; k < values.loss.size(); ++k)
      if (values.done[k]) {
        lo = std::min(lo, values.loss(k));
        hi = std::max(hi, values.loss(k));
      }
    std::cout << "  loss range            [" << sc::text::format_number(lo) << ", " << sc::text::format_number(hi) << "]\n";
    if (plan.eigenvalues.size() > 0) {
      std::cout << "  direction eigenvalues";
      for (auto k = 0; k < plan.eigenvalues.size(); ++k) std::cout << " " << sc::text::format_number(plan.eigenvalues(k));
      std::cout << "\n";
    }
    if (!o.out.empty()) std::cout << "  result file           " << o.out << "\n";
  }
  return sc::cli::kSuccess;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Slice the loss around a point along random filter-normalised directions, Hessian eigenvectors, or "
               "between two checkpoints, on a 1-D or 2-D grid; resumable HDF5 output.",
               "loss-slice");
  Options options;
  setup(app, options);
  return sc::cli::run_tool(app, argc, argv, [&] { return run(options, argc, argv); });
}
